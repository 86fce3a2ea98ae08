"""Exchange rates between lurkcoins and a server's local currency.

All amounts are integer cents. A server with a target balance G > 0 has a
floating rate that depends on its balance B (spec, "Exchange rates").
Negative amounts are refused with ERR_INVALIDAMOUNT: they are never
converted, and no formula is meaningful for them. A target balance of 0 or
less means a fixed 1:1 rate.
"""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Literal

from lurkcoin.core.errors import LurkcoinError

Formula = Literal["reference", "integral"]

# The spec asks for at least 28 significant digits; more costs nothing and
# keeps truncation to the cent exact for any realistic balance.
_PRECISION = 50


def _context() -> decimal.Context:
    # Wide exponent range: exp(-y/G) of a huge y must underflow to 0, not trap.
    return decimal.Context(
        prec=_PRECISION,
        rounding=decimal.ROUND_HALF_EVEN,
        Emin=decimal.MIN_EMIN,
        Emax=decimal.MAX_EMAX,
        traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
    )


def _is_fixed_rate(amount: int, target_balance: int) -> bool:
    if amount < 0:
        raise LurkcoinError("ERR_INVALIDAMOUNT")
    return amount == 0 or target_balance <= 0


def _effective_balance(balance: int) -> Decimal:
    # An empty (or overdrawn) server prices as if it held one cent, so that
    # the formulas never divide by zero.
    return Decimal(balance if balance > 0 else 1)


def to_lurkcoin(local: int, balance: int, target_balance: int, formula: Formula) -> int:
    """Lurkcoin cents a server gets for spending ``local`` cents of its currency.

    Raises ERR_CANNOTAFFORD when the reference formula breaks down (the
    server's balance would be exhausted or negative).
    """
    if _is_fixed_rate(local, target_balance):
        return local
    with decimal.localcontext(_context()):
        y = Decimal(local)
        g = Decimal(target_balance)
        b = _effective_balance(balance)
        if formula == "reference":
            return _reference_to_lurkcoin(y, b, g)
        return _integral_to_lurkcoin(y, b, g)


def _reference_to_lurkcoin(y: Decimal, b: Decimal, g: Decimal) -> int:
    base = g / b
    # b2 = b - y / base, where y / base (the spend at the current rate) is
    # truncated toward zero to the cent, as the reference computes it: the
    # recorded foxtrot_local_999_nonmonotonic_pay scenario needs exactly this.
    b2 = b - Decimal(int(y / base))
    if b2 <= 0:
        # The reference answers 0 or a negative "success" here.
        raise LurkcoinError("ERR_CANNOTAFFORD")
    rate = (base + g / b2) / 2
    return int(y / rate)


def _integral_to_lurkcoin(y: Decimal, b: Decimal, g: Decimal) -> int:
    # Integral of the marginal rate G / balance: b * (1 - exp(-y / G)),
    # truncated. For an integer b that is b - ceil(b * exp(-y / G)); this
    # form keeps the small remainder to full relative precision, so
    # spending a finite amount never rounds up to the whole balance.
    remainder = (b * (-y / g).exp()).to_integral_value(rounding=decimal.ROUND_CEILING)
    return int(b - remainder)


def from_lurkcoin(amount: int, balance: int, target_balance: int, formula: Formula) -> int:
    """Local cents a server credits for receiving ``amount`` lurkcoin cents."""
    if _is_fixed_rate(amount, target_balance):
        return amount
    with decimal.localcontext(_context()):
        x = Decimal(amount)
        g = Decimal(target_balance)
        b = _effective_balance(balance)
        if formula == "reference":
            base = g / b
            rate = (base + g / (b + x)) / 2
            return int(x * rate)
        # Integral of the marginal rate G / balance: G * ln((b + x) / b).
        return int(g * ((b + x) / b).ln())
