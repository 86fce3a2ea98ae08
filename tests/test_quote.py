"""payments.quote: /v3/exchange_rates and V2's exchange, from one currency to another."""

from __future__ import annotations

import pytest

from lurkcoin.core.errors import LurkcoinError
from lurkcoin.core.exchange import from_lurkcoin, to_lurkcoin
from lurkcoin.core.fees import fee_for
from lurkcoin.ledger.payments import Rules, quote
from lurkcoin.models import Server

RULES = Rules(formula="integral", max_spend=50_000_000)
SMALL_LIMIT = Rules(formula="integral", max_spend=1_000_000)


def _server(server_id: int, name: str, balance: int, target: int, fee_bps: int = 0) -> Server:
    return Server(
        server_id, name.lower(), name, "server", balance, target,
        None, None, None, 0, 0, None, fee_bps,
    )  # fmt: skip


SERVERS = {
    s.uid: s
    for s in (
        _server(1, "Rich", 4_000_000, 1_000_000),  # holds more than its target: cheap currency
        _server(2, "Poor", 250_000, 1_000_000),
        _server(3, "Taxed", 1_000_000, 1_000_000, fee_bps=250),
    )
}


def lookup(name: str) -> Server | None:
    return SERVERS.get(name.lower())


def test_to_the_same_currency_nothing_is_converted() -> None:
    assert quote(lookup, "", "", 1_234, RULES, with_fee=True) == 1_234
    assert quote(lookup, "Taxed", "TAXED", 1_234, RULES, with_fee=True) == 1_234  # no fee either
    with pytest.raises(LurkcoinError) as missing:
        quote(lookup, "Ghost", "ghost", 1_234, RULES, with_fee=True)
    assert missing.value.code == "ERR_SOURCESERVERNOTFOUND"


def test_each_named_side_is_converted() -> None:
    rich, poor = SERVERS["rich"], SERVERS["poor"]
    to_lc = to_lurkcoin(10_000, rich.balance, rich.target_balance, "integral")
    assert quote(lookup, "Rich", "", 10_000, RULES, with_fee=True) == to_lc
    from_lc = from_lurkcoin(10_000, poor.balance, poor.target_balance, "integral")
    assert quote(lookup, "", "Poor", 10_000, RULES, with_fee=True) == from_lc
    both = from_lurkcoin(to_lc, poor.balance, poor.target_balance, "integral")
    assert quote(lookup, "Rich", "Poor", 10_000, RULES, with_fee=True) == both
    assert to_lc != 10_000 and from_lc != 10_000  # the rates are not 1:1


def test_converting_into_a_currency_takes_its_fee_unless_asked_for_the_bare_rate() -> None:
    taxed = SERVERS["taxed"]
    bare = from_lurkcoin(10_000, taxed.balance, taxed.target_balance, "integral")
    fee = fee_for(10_000, taxed.fee_bps)
    after_fee = from_lurkcoin(10_000 - fee, taxed.balance, taxed.target_balance, "integral")
    assert fee == 250 and after_fee < bare
    assert quote(lookup, "", "Taxed", 10_000, RULES, with_fee=True) == after_fee
    assert quote(lookup, "", "Taxed", 10_000, RULES, with_fee=False) == bare


@pytest.mark.parametrize(
    ("source", "target", "amount", "code"),
    [
        ("", "Poor", -1, "ERR_INVALIDAMOUNT"),
        ("", "", -1, "ERR_INVALIDAMOUNT"),
        ("Ghost", "Poor", 100, "ERR_SOURCESERVERNOTFOUND"),
        ("Rich", "Ghost", 100, "ERR_TARGETSERVERNOTFOUND"),
        ("", "Poor", 1_000_001, "ERR_TRANSACTIONLIMIT"),  # above the max spend as given
        ("Rich", "", 300_000, "ERR_TRANSACTIONLIMIT"),  # above it once in lurkcoins
        ("", "Poor", 500_000, "ERR_TRANSACTIONLIMIT"),  # above it once converted
    ],
)
def test_refusals(source: str, target: str, amount: int, code: str) -> None:
    with pytest.raises(LurkcoinError) as refused:
        quote(lookup, source, target, amount, SMALL_LIMIT, with_fee=True)
    assert refused.value.code == code


def test_just_inside_the_limit() -> None:
    assert quote(lookup, "", "", 1_000_000, SMALL_LIMIT, with_fee=True) == 1_000_000
    assert quote(lookup, "", "Poor", 300_000, SMALL_LIMIT, with_fee=True) == 788_457
