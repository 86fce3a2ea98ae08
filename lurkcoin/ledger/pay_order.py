"""The order in which /v3/pay checks a payment, written once (spec lurkcoin-v3.md, "Endpoints").

The first failing check answers. ``PAY_ORDER`` lists every position, where it
runs and what it answers; tests/test_pay_order.py sends, for each position, a
request that fails it and every later one, and expects that position's error.

Positions 1 and 2 run in the API before the Ledger is called (the body is
read before the login, as the reference does); 3 to 8 are ``PRE_WRITE_CHECKS``
below, run by Ledger.pay on memory only; 9 and 10 run in the writer's
transaction (lurkcoin.ledger.payments.pay), where the state they read cannot
change under them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from lurkcoin.core.errors import LurkcoinError
from lurkcoin.core.names import username_too_long
from lurkcoin.models import Server

IDEMPOTENCY_KEY_MAX = 255


class _TooLarge:
    def __repr__(self) -> str:
        return "TOO_LARGE"


# An amount that is a number but too large to represent: it fails position 5,
# the spend limit, rather than the body's decoding (the reference's behaviour).
TOO_LARGE: Final = _TooLarge()
RequestedAmount = int | None | _TooLarge  # cents; None: not given


@dataclass(frozen=True)
class Step:
    position: int
    check: str
    errors: tuple[str, ...]
    where: str


PAY_ORDER: tuple[Step, ...] = (
    Step(
        1,
        "the body is one JSON object of the right size, fields of the right types, "
        "an amount in decimal notation",
        ("ERR_INVALIDREQUEST", "ERR_PAYLOADTOOLARGE"),
        "api/v3.py pay (api/body.py)",
    ),
    Step(
        2, "the login", ("ERR_INVALIDLOGIN", "ERR_FORBIDDEN", "ERR_TOOMANYREQUESTS"), "api/auth.py"
    ),
    Step(
        3,
        "an Idempotency-Key header is well formed",
        ("ERR_INVALIDIDEMPOTENCYKEY",),
        "PRE_WRITE_CHECKS",
    ),
    Step(4, "an amount is given", ("ERR_INVALIDAMOUNT",), "PRE_WRITE_CHECKS"),
    Step(5, "the amount can be represented", ("ERR_TRANSACTIONLIMIT",), "PRE_WRITE_CHECKS"),
    Step(6, "the target server exists", ("ERR_SERVERNOTFOUND",), "PRE_WRITE_CHECKS"),
    Step(
        7,
        "the source user name is short enough",
        ("ERR_SOURCEUSERNAMETOOLONG",),
        "PRE_WRITE_CHECKS",
    ),
    Step(8, "the target user name is short enough", ("ERR_USERNAMETOOLONG",), "PRE_WRITE_CHECKS"),
    Step(
        9,
        "an idempotency key already used names the same request",
        ("ERR_IDEMPOTENCYKEYREUSED",),
        "ledger/payments.py pay (in the writer)",
    ),
    Step(
        10,
        "the money rules 1-5 (spec, 'Money rules of a payment')",
        ("ERR_CANNOTPAYNOTHING", "ERR_INVALIDAMOUNT", "ERR_TRANSACTIONLIMIT", "ERR_CANNOTAFFORD"),
        "ledger/payments.py price_payment (in the writer)",
    ),
)


@dataclass(frozen=True)
class PaymentDraft:
    """A payment as the API read it (user names cleaned), before positions 3-8 are checked."""

    source_user: str
    target_user: str
    target_server: str
    amount: RequestedAmount
    local_currency: bool
    idempotency_key: str | None = None


def valid_idempotency_key(key: str) -> bool:
    """Up to 255 printable ASCII characters (space included)."""
    return 0 < len(key) <= IDEMPOTENCY_KEY_MAX and all(0x20 <= ord(c) < 0x7F for c in key)


ServerLookup = Callable[[str], Server | None]
Check = Callable[[PaymentDraft, ServerLookup], None]


def _idempotency_key(draft: PaymentDraft, servers: ServerLookup) -> None:
    if draft.idempotency_key is not None and not valid_idempotency_key(draft.idempotency_key):
        raise LurkcoinError("ERR_INVALIDIDEMPOTENCYKEY")


def _amount_given(draft: PaymentDraft, servers: ServerLookup) -> None:
    if draft.amount is None:
        raise LurkcoinError("ERR_INVALIDAMOUNT")


def _amount_representable(draft: PaymentDraft, servers: ServerLookup) -> None:
    if draft.amount is TOO_LARGE:
        raise LurkcoinError("ERR_TRANSACTIONLIMIT")


def _target_server(draft: PaymentDraft, servers: ServerLookup) -> None:
    if servers(draft.target_server) is None:
        raise LurkcoinError("ERR_SERVERNOTFOUND")


def _source_user(draft: PaymentDraft, servers: ServerLookup) -> None:
    if username_too_long(draft.source_user):
        raise LurkcoinError("ERR_SOURCEUSERNAMETOOLONG")


def _target_user(draft: PaymentDraft, servers: ServerLookup) -> None:
    if username_too_long(draft.target_user):
        raise LurkcoinError("ERR_USERNAMETOOLONG")


# Positions 3 to 8 of PAY_ORDER, in order.
PRE_WRITE_CHECKS: tuple[Check, ...] = (
    _idempotency_key,
    _amount_given,
    _amount_representable,
    _target_server,
    _source_user,
    _target_user,
)


def run_pre_write_checks(draft: PaymentDraft, servers: ServerLookup) -> int:
    """Positions 3-8 in order; returns the amount in cents once they all pass."""
    for check in PRE_WRITE_CHECKS:
        check(draft, servers)
    assert isinstance(draft.amount, int)  # positions 4 and 5 passed
    return draft.amount
