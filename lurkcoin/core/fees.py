"""Exchange fees: the share of a payment between two servers that the fee account collects.

Pure integer arithmetic, no I/O. A server's fee is a whole number of basis
points (1 bp = 0.01%) from 0 to 10,000; the operator sets it and 0, the
default, takes nothing. The rules (README, "Exchange fees"):

- A payment from one server to another converts lurkcoins into the target's
  currency (its ``received_amount``), so it pays the **target's** fee; a
  server paying itself converts nothing and pays none.
- The fee is taken in lurkcoins from the amount the source pays:
  ``fee = floor(amount * bps / 10000)``, rounded down, so the fee account
  never gets more than its share and the rounding never creates a cent.
- The source pays ``amount``, the target gets ``amount - fee`` (converted to
  its currency as any payment is) and the fee account gets ``fee``: three
  entries that sum to zero.
- A refund gives back the whole amount: the rejecting server returns what it
  got and the fee account returns the fee.
"""

from __future__ import annotations

from lurkcoin.core.errors import LurkcoinError

MAX_FEE_BPS = 10_000
_BPS_PER_WHOLE = 10_000


def check_fee_bps(bps: int) -> None:
    if not 0 <= bps <= MAX_FEE_BPS:
        raise LurkcoinError(
            "ERR_INVALIDREQUEST", f"An exchange fee is 0 to {MAX_FEE_BPS} basis points."
        )


def fee_for(amount: int, bps: int) -> int:
    """The fee on ``amount`` lurkcoin cents at ``bps``: rounded down to the cent."""
    if amount <= 0 or bps <= 0:
        return 0
    return amount * bps // _BPS_PER_WHOLE


def payment_postings(
    source_id: int, target_id: int, fees_id: int, amount: int, fee: int
) -> list[tuple[int, int]]:
    """A payment's (account, delta) entries: source pays the amount, split between the others."""
    return [(source_id, -amount), (target_id, amount - fee), (fees_id, fee)]


def refund_postings(
    rejecter_id: int, original_id: int, fees_id: int, amount: int, fee: int
) -> list[tuple[int, int]]:
    """A refund's entries: the exact reverse of the payment it refunds, account by account."""
    return [(rejecter_id, -(amount - fee)), (fees_id, -fee), (original_id, amount)]


def describe_fee(bps: int) -> str:
    """``25 bp (0.25%)``, for operators."""
    whole, rest = divmod(bps, 100)
    percent = f"{whole}.{rest:02d}".rstrip("0").rstrip(".")
    return f"{bps} bp ({percent}%)"
