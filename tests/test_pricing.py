"""price_payment: the spec's money rules 1-5 at their edges (amounts, limits, rounding to nothing).

Servers with a target balance of 0 exchange 1:1, which puts the limits at exact
numbers; the others' rates come from the integral formula.
"""

from __future__ import annotations

import pytest

from lurkcoin.core.errors import LurkcoinError
from lurkcoin.core.exchange import from_lurkcoin, to_lurkcoin
from lurkcoin.ledger.payments import Priced, Rules, price_payment
from lurkcoin.models import Server

MAX = 1_000_000
RULES = Rules(formula="integral", max_spend=MAX)


def _server(server_id: int, balance: int, target: int) -> Server:
    return Server(
        server_id, f"s{server_id}", f"S{server_id}", "server", balance, target,
        None, None, None, 0, 0, None, 0,
    )  # fmt: skip


FLAT = _server(1, 5_000_000, 0)  # 1:1
FLAT_EMPTY = _server(2, 0, 0)  # 1:1
POOR = _server(3, 250_000, 1_000_000)  # its currency is worth more than a lurkcoin
RICH = _server(4, 4_000_000, 1_000_000)  # its currency is worth less


def test_at_one_to_one_what_is_sent_arrives() -> None:
    assert price_payment(FLAT, FLAT_EMPTY, 1_000, False, RULES) == Priced(1_000, 1_000, 0)


def test_only_a_local_currency_payment_is_converted() -> None:
    assert price_payment(RICH, FLAT_EMPTY, 1_000, False, RULES).amount == 1_000
    converted = to_lurkcoin(1_000, RICH.balance, RICH.target_balance, "integral")
    assert converted == 3_998
    assert price_payment(RICH, FLAT_EMPTY, 1_000, True, RULES).amount == converted


def test_exactly_the_max_spend_is_allowed_and_one_cent_more_is_not() -> None:
    assert price_payment(FLAT, FLAT_EMPTY, MAX, False, RULES) == Priced(MAX, MAX, 0)
    with pytest.raises(LurkcoinError) as refused:
        price_payment(FLAT, FLAT_EMPTY, MAX + 1, False, RULES)
    assert refused.value.code == "ERR_TRANSACTIONLIMIT"


def test_the_limit_applies_to_what_was_sent_even_when_it_converts_to_less() -> None:
    assert to_lurkcoin(MAX + 1, POOR.balance, POOR.target_balance, "integral") < MAX
    with pytest.raises(LurkcoinError) as refused:
        price_payment(POOR, FLAT_EMPTY, MAX + 1, True, RULES)
    assert refused.value.code == "ERR_TRANSACTIONLIMIT"


def test_the_limit_applies_to_what_arrives() -> None:
    arrives = from_lurkcoin(500_000, POOR.balance, POOR.target_balance, "integral")
    assert arrives > MAX
    with pytest.raises(LurkcoinError) as refused:
        price_payment(FLAT, POOR, 500_000, False, RULES)
    assert refused.value.code == "ERR_TRANSACTIONLIMIT"


@pytest.mark.parametrize(
    ("source", "target", "sent", "local", "code"),
    [
        (FLAT, FLAT_EMPTY, 0, False, "ERR_CANNOTPAYNOTHING"),
        (FLAT, FLAT_EMPTY, -5, False, "ERR_INVALIDAMOUNT"),
        (FLAT, FLAT_EMPTY, 0, True, "ERR_CANNOTPAYNOTHING"),
        (POOR, FLAT_EMPTY, 1, True, "ERR_CANNOTPAYNOTHING"),  # a cent of it is no lurkcoin cent
        (FLAT, RICH, 1, False, "ERR_CANNOTPAYNOTHING"),  # a lurkcoin cent is none of its cents
        (_server(5, 999, 0), FLAT_EMPTY, 1_000, False, "ERR_CANNOTAFFORD"),
    ],
)
def test_refusals(source: Server, target: Server, sent: int, local: bool, code: str) -> None:
    with pytest.raises(LurkcoinError) as refused:
        price_payment(source, target, sent, local, RULES)
    assert refused.value.code == code


def test_a_server_can_spend_its_whole_balance() -> None:
    assert price_payment(_server(5, 1_000, 0), FLAT_EMPTY, 1_000, False, RULES).amount == 1_000
