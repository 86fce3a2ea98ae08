"""The lurkcoinV2 numbers: amount and count parameters, the exchange multiplier, the shown rate.

The rate get_transactions shows is the reference's binary floating-point
result with a 64-bit significand, and clients see its exact digits, so it is
emulated here with exact fractions rounded to 64 bits after every step (spec
lurkcoin-v2.md, "The displayed exchange rate"). Everything else is exact
decimal arithmetic on integer cents.
"""

from __future__ import annotations

import decimal
import functools
import re
from decimal import Decimal
from fractions import Fraction

from lurkcoin.core.money import MAX_TARGET_BALANCE, AmountError, parse_amount

_CURRENCY_SIGN = "\u00a4"
_SIGNIFICAND_BITS = 64
# Multiplier 1 is a target balance of ¤500,000.00.
TARGET_PER_MULTIPLIER = 50_000_000  # cents
# Digits of the as_object rate and of get_exchange_multiplier.
TEN_DIGITS = 10
# Shortest output switches to exponent form from here (Go's %g with shortest).
_SHORTEST_EPREC = 6
# Enough decimal digits to tell any two 64-bit significands apart (Go's big.Float too).
_MAX_SHORTEST_DIGITS = 22

_COUNT_RE = re.compile(r"[+-]?[0-9]+")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# A decimal with '_' only between digits: no hex, inf, nan or currency sign.
_DIGITS = r"[0-9]+(?:_[0-9]+)*"
_MULTIPLIER_RE = re.compile(
    rf"[+-]?(?:{_DIGITS}(?:\.(?:{_DIGITS})?)?|\.{_DIGITS})(?:[eE][+-]?{_DIGITS})?"
)
_MAX_MULTIPLIER_EXPONENT_DIGITS = 6


class InvalidNumber(ValueError):
    """A V2 number parameter that is not a number (the caller answers ``Invalid number!``)."""


# -- parameters ---------------------------------------------------------------------


def parse_v2_amount(text: str) -> int:
    """Cents of a V2 amount: every ``_`` removed, then one leading ``¤``, then the V3 rule.

    Raises InvalidNumber for anything that is not a decimal number (hex,
    ``inf``, ``nan``, ``¤¤5``, spaces) and AmountError("too_large") for a
    number too large to be money.
    """
    text = text.replace("_", "")
    if text.startswith(_CURRENCY_SIGN):
        text = text[1:]
    if text.startswith(_CURRENCY_SIGN):
        raise InvalidNumber(text)  # parse_amount would take a second sign
    try:
        return parse_amount(text)
    except AmountError as err:
        if err.kind == "too_large":
            raise
        raise InvalidNumber(text) from None


def parse_count(text: str | None) -> int:
    """How many pending entries remove_transactions drops: a base-10 int64, else 1; at least 1."""
    if text is None or _COUNT_RE.fullmatch(text) is None or len(text) > 25:
        return 1
    value = int(text)
    if not _INT64_MIN <= value <= _INT64_MAX or value < 1:
        return 1
    return value


def multiplier_to_target(text: str) -> int:
    """Target balance in cents for a multiplier (multiplier 1 = ¤500,000.00), computed exactly.

    Raises InvalidNumber unless the text is a positive decimal number whose
    target is at least ¤0.01 and at most ¤500,000,000.00.
    """
    match = _MULTIPLIER_RE.fullmatch(text)
    if match is None:
        raise InvalidNumber(text)
    mantissa, _, exponent = text.replace("_", "").lower().partition("e")
    if len(exponent.lstrip("+-").lstrip("0")) > _MAX_MULTIPLIER_EXPONENT_DIGITS:
        raise InvalidNumber(text)  # 1e-9999999 or 1e9999999: far outside the range
    value = Decimal(mantissa + ("e" + exponent if exponent else ""))
    if value <= 0:
        raise InvalidNumber(text)
    digits = len(value.as_tuple().digits)
    with decimal.localcontext(decimal.Context(prec=digits + 10, Emin=-999999999, Emax=999999999)):
        target = value * 500_000  # exact: the precision covers every digit
    try:
        cents = parse_amount(target)
    except AmountError:
        raise InvalidNumber(text) from None
    if not 1 <= cents <= MAX_TARGET_BALANCE:
        raise InvalidNumber(text)
    return cents


# -- Go's %g ------------------------------------------------------------------------


def _format_g(digits: str, point: int, eprec: int) -> str:
    """Go's %g layout of the value 0.<digits> × 10**point (digits without trailing zeros)."""
    exp = point - 1
    if exp < -4 or exp >= eprec:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return "0." + "0" * -point + digits
    if point >= len(digits):
        return digits + "0" * (point - len(digits))
    return digits[:point] + "." + digits[point:]


def _decimal_exponent(value: Fraction) -> int:
    """k with 10**k <= value < 10**(k+1), for value > 0."""
    # With a digits above the fraction bar and b below, the value lies in
    # [10**(a-b-1), 10**(a-b+1)): k is a - b or one less.
    k = len(str(value.numerator)) - len(str(value.denominator))
    return k - 1 if Fraction(10) ** k > value else k


def format_significant(value: Fraction, digits: int = TEN_DIGITS) -> str:
    """``value`` (> 0) rounded half-even to ``digits`` significant digits, in Go's %g form."""
    k = _decimal_exponent(value)
    scaled = value * Fraction(10) ** (digits - 1 - k)
    number = round(scaled)  # Fraction rounds half to even
    if number == 10**digits:  # 9.999… rounded up to 10.0…
        number, k = 10 ** (digits - 1), k + 1
    return _format_g(str(number).rstrip("0"), k + 1, digits)


# -- 64-bit binary floating point ------------------------------------------------------


def round_binary(value: Fraction) -> Fraction:
    """``value`` rounded to a 64-bit significand, to nearest with ties to even."""
    if value == 0:
        return value
    sign = -1 if value < 0 else 1
    n, d = abs(value.numerator), value.denominator
    # With a bits above the fraction bar and b below, n/d lies in
    # [2**(a-b-1), 2**(a-b+1)), so q has 64 or 65 bits: at most one more shift.
    shift = _SIGNIFICAND_BITS - (n.bit_length() - d.bit_length())
    q, r, den = _shifted_quotient(n, d, shift)
    if q >= 1 << _SIGNIFICAND_BITS:
        shift -= 1
        q, r, den = _shifted_quotient(n, d, shift)
    if 2 * r > den or (2 * r == den and q & 1):
        q += 1
    scale = Fraction(1 << shift) if shift >= 0 else Fraction(1, 1 << -shift)
    return sign * Fraction(q) / scale


def _shifted_quotient(n: int, d: int, shift: int) -> tuple[int, int, int]:
    """Quotient and remainder of n * 2**shift / d, and the divisor they are over."""
    num, den = (n << shift, d) if shift >= 0 else (n, d << -shift)
    q, r = divmod(num, den)
    return q, r, den


def _reads_back(value: Fraction, k: int, digits: int) -> int | None:
    """The ``digits``-digit decimal nearest ``value`` that rounds back to it, as an integer."""
    scale = Fraction(10) ** (digits - 1 - k)
    scaled = value * scale
    low = scaled.numerator // scaled.denominator
    found = [c for c in (low, low + 1) if round_binary(Fraction(c) / scale) == value]
    return min(found, key=lambda c: abs(Fraction(c) / scale - value)) if found else None


def shortest(value: Fraction) -> str:
    """The fewest significant digits that read back to the same 64-bit ``value`` (> 0).

    If n digits read back, so do n + 1 (the n-digit string is among them), so
    the fewest is found by bisection; 21 digits always suffice for 64 bits.
    """
    k = _decimal_exponent(value)
    low, high = 1, _MAX_SHORTEST_DIGITS
    while low < high:
        middle = (low + high) // 2
        if _reads_back(value, k, middle) is None:
            low = middle + 1
        else:
            high = middle
    best = _reads_back(value, k, low)
    assert best is not None, "a 64-bit value always reads back from 21 digits"
    if best == 10**low:  # rounded up to the next power of ten
        return _format_g("1", k + 2, _SHORTEST_EPREC)
    return _format_g(str(best).rstrip("0"), k + 1, _SHORTEST_EPREC)


def displayed_rate(balance: int, target_balance: int) -> Fraction | None:
    """What 1.00 lurkcoin buys, as the reference computes it; None for a fixed 1:1 rate."""
    if target_balance == 0:
        return None
    t = round_binary(Fraction(target_balance, 100))
    b = round_binary(Fraction(balance if balance > 0 else 1, 100))
    base = round_binary(t / b)
    q = round_binary(t / round_binary(b + 1))
    return round_binary((base + q) / 2)


# Clients poll with the same balance again and again; each answer costs ~0.2 ms to compute.
@functools.lru_cache(maxsize=1024)
def rate_shortest(balance: int, target_balance: int) -> str:
    rate = displayed_rate(balance, target_balance)
    return "1" if rate is None else shortest(rate)


@functools.lru_cache(maxsize=1024)
def rate_ten_digits(balance: int, target_balance: int) -> str:
    rate = displayed_rate(balance, target_balance)
    return "1" if rate is None else format_significant(rate)


def multiplier_text(target_balance: int) -> str:
    """get_exchange_multiplier: T / ¤500,000 to 10 digits (exact decimal); 1 for a fixed rate."""
    if target_balance <= 0:
        return "1"
    return format_significant(Fraction(target_balance, TARGET_PER_MULTIPLIER))
