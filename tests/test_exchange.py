"""Tests of the exchange-rate formulas (lurkcoin.core.exchange) against the spec and transcript."""

from __future__ import annotations

import decimal
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from golden_files import V3_TRANSCRIPT
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lurkcoin.core.errors import ERRORS, LurkcoinError, error_body
from lurkcoin.core.exchange import Formula, from_lurkcoin, to_lurkcoin
from lurkcoin.core.money import (
    MAX_SPEND,
    MAX_TARGET_BALANCE,
    AmountError,
    parse_amount,
    render_json,
)
from lurkcoin.core.names import server_uid
from lurkcoin.ledger import payments
from lurkcoin.ledger.payments import Rules

GOLDEN = V3_TRANSCRIPT
FORMULAS: tuple[Formula, ...] = ("reference", "integral")


@dataclass(frozen=True)
class Server:
    balance: int
    target_balance: int
    fee_bps: int = 0  # the transcript's servers charge no exchange fee


def load_golden() -> dict[str, Any]:
    assert GOLDEN.exists(), f"golden transcript missing: {GOLDEN}"
    return json.loads(GOLDEN.read_text(encoding="utf-8"))


def quote(
    servers: dict[str, Server], source: str, target: str, amount: int, formula: Formula
) -> int:
    """What /v3/exchange_rates answers: the ledger's own quote over these balances."""

    def lookup(name: str) -> Any:  # the ledger's lookup by name, over these balances
        return servers.get(server_uid(name))

    return payments.quote(lookup, source, target, amount, Rules(formula, MAX_SPEND), with_fee=True)


def initial_servers(golden: dict[str, Any]) -> dict[str, Server]:
    return {
        server_uid(server["name"]): Server(server["balance_cents"], server["target_balance_cents"])
        for server in golden["header"]["initial_state"]["servers"]
    }


def expected_of(case: dict[str, Any]) -> dict[str, Any]:
    return (case.get("ours") or case["response"])["body_json"]


def quote_cases(golden: dict[str, Any]) -> list[dict[str, Any]]:
    """exchange_rates cases naming a server, up to the first successful payment
    (after it, balances are no longer the initial ones)."""
    selected = []
    for case in golden["cases"]:
        request = case["request"]
        body = (case.get("ours") or case["response"]).get("body_json") or {}
        if request["path"] == "/v3/pay" and body.get("success"):
            break
        if request["path"] != "/v3/exchange_rates" or request["method"] != "POST":
            continue
        if body.get("error") in ("ERR_INVALIDREQUEST", "ERR_PAYLOADTOOLARGE"):
            continue  # refused by body decoding, before any money logic
        fields = {k.lower(): v for k, v in json.loads(request["body"]).items()}
        if fields.get("source") or fields.get("target"):
            selected.append(case)
    return selected


GOLDEN_DATA = load_golden()
SERVERS = initial_servers(GOLDEN_DATA)
QUOTE_CASES = quote_cases(GOLDEN_DATA)


def test_transcript_has_enough_quote_cases() -> None:
    successes = [case for case in QUOTE_CASES if expected_of(case)["success"]]
    assert len(successes) >= 60
    assert len(QUOTE_CASES) >= 80


@pytest.mark.parametrize("case", QUOTE_CASES, ids=lambda case: case["name"])
def test_reference_formula_reproduces_transcript(case: dict[str, Any]) -> None:
    fields = json.loads(case["request"]["body"], parse_float=Decimal)
    fields = {k.lower(): v for k, v in fields.items()}
    expected = expected_of(case)
    try:
        if "amount" not in fields:
            raise LurkcoinError("ERR_INVALIDAMOUNT")
        try:
            amount = parse_amount(fields["amount"])
        except AmountError:
            raise LurkcoinError("ERR_INVALIDAMOUNT") from None
        source, target = fields.get("source", ""), fields.get("target", "")
        result = quote(SERVERS, source, target, amount, "reference")
    except LurkcoinError as err:
        assert not expected["success"], f"expected {expected['result']}, got {err.code}"
        assert err.code == expected["error"]
        return
    assert expected["success"], f"expected {expected['error']}, got {render_json(result)}"
    if "ours" in case:
        assert json.loads(render_json(result)) == expected["result"]
    else:
        raw = re.fullmatch(r'\{"result":(.*),"success":true\}', case["response"]["body_raw"])
        assert raw is not None
        assert render_json(result) == raw[1]


# --- spec examples -------------------------------------------------------------

FOXTROT = Server(balance=10_000_000, target_balance=100_000)  # ¤100,000 held, target ¤1,000


@pytest.mark.parametrize(
    ("local", "lurkcoins"),
    [(1, 99), (100, 9994), (1000, 99497), (10_000, 947_368), (99_900, 19_960), (99_999, 199)],
)
def test_reference_spending_is_not_monotonic(local: int, lurkcoins: int) -> None:
    assert to_lurkcoin(local, FOXTROT.balance, FOXTROT.target_balance, "reference") == lurkcoins


@pytest.mark.parametrize("local", [100_000, 150_000, 250_000, 1_000_000])
def test_reference_refuses_when_b2_is_not_positive(local: int) -> None:
    with pytest.raises(LurkcoinError) as info:
        to_lurkcoin(local, FOXTROT.balance, FOXTROT.target_balance, "reference")
    assert info.value.code == "ERR_CANNOTAFFORD"


@pytest.mark.parametrize(
    ("balance", "target", "local", "lurkcoins"),
    [
        # base = 1000/300; 91 / base = 27.3, so b2 = 300 - 27 = 273 (not 272.7);
        # rate = (1000/300 + 1000/273) / 2 = 3.4982; 91 / rate = 26.01 -> 26
        # (with b2 = 272.7 it would be 25.99 -> 25).
        (300, 1_000, 91, 26),
        # base = 500/700; 57 / base = 79.8, so b2 = 700 - 79 = 621;
        # 57 / rate = 75.03 -> 75 (with b2 = 620.2 it would be 74.98 -> 74).
        (700, 500, 57, 75),
    ],
)
def test_reference_spending_truncates_the_spend_before_the_new_balance(
    balance: int, target: int, local: int, lurkcoins: int
) -> None:
    """b2 = b - x / base with x / base truncated to the cent (spec), not exact."""
    assert to_lurkcoin(local, balance, target, "reference") == lurkcoins


def test_reference_still_prices_when_one_cent_would_be_left() -> None:
    """b2 = 1 cent is positive: priced, not refused (only b2 <= 0 is ERR_CANNOTAFFORD)."""
    # base = 100/100 = 1; b2 = 100 - 99 = 1; rate = (1 + 100/1) / 2 = 50.5; 99 / 50.5 -> 1.
    assert to_lurkcoin(99, 100, 100, "reference") == 1
    with pytest.raises(LurkcoinError):
        to_lurkcoin(100, 100, 100, "reference")  # b2 = 0


def test_integral_truncates_exactly_even_for_a_huge_balance() -> None:
    """50 significant digits: 28 would get the last digits of this result wrong."""
    balance, target, local = 904363408843348978910137503350, 24023837541, 936978
    with decimal.localcontext() as ctx:
        ctx.prec = 100
        b = Decimal(balance)
        exact = b - (b * (-Decimal(local) / target).exp()).to_integral_value(decimal.ROUND_CEILING)
    assert to_lurkcoin(local, balance, target, "integral") == int(exact)


def test_integral_spending_examples() -> None:
    # b * (1 - exp(-y / G)): 100 local -> 10^7 * (1 - e^-0.1) = 951,625.8 cents.
    assert to_lurkcoin(10_000, FOXTROT.balance, FOXTROT.target_balance, "integral") == 951_625
    assert to_lurkcoin(100_000, FOXTROT.balance, FOXTROT.target_balance, "integral") == 6_321_205
    # G * ln((b + x) / b): 100 lurkcoins into Charlie (¤10,000 held, target ¤500,000).
    assert from_lurkcoin(10_000, 1_000_000, 50_000_000, "integral") == 497_516


@pytest.mark.parametrize("formula", FORMULAS)
def test_fixed_rate_and_zero(formula: Formula) -> None:
    assert to_lurkcoin(12_345, 100, 0, formula) == 12_345
    assert from_lurkcoin(12_345, 0, 0, formula) == 12_345
    assert to_lurkcoin(0, 100, 50_000_000, formula) == 0
    assert from_lurkcoin(0, 0, 50_000_000, formula) == 0


@pytest.mark.parametrize("formula", FORMULAS)
def test_negative_amounts_are_refused(formula: Formula) -> None:
    for convert in (to_lurkcoin, from_lurkcoin):
        with pytest.raises(LurkcoinError) as info:
            convert(-1, 100, 0, formula)
        assert info.value.code == "ERR_INVALIDAMOUNT"


@pytest.mark.parametrize("formula", FORMULAS)
def test_empty_server_prices_as_one_cent(formula: Formula) -> None:
    # Delta: balance 0, target ¤500,000 -> one lurkcoin cent is worth a fortune.
    assert from_lurkcoin(1, 0, 50_000_000, formula) > MAX_SPEND
    assert from_lurkcoin(1, -5, 50_000_000, formula) == from_lurkcoin(1, 0, 50_000_000, formula)


# --- properties of the integral formula -------------------------------------------

balances = st.integers(min_value=0, max_value=10**13)
targets = st.integers(min_value=1, max_value=MAX_TARGET_BALANCE)
amounts = st.integers(min_value=0, max_value=10**10)


@settings(max_examples=300)
@given(amounts, amounts, balances, targets)
def test_integral_is_monotonic(a: int, b: int, balance: int, target: int) -> None:
    low, high = sorted((a, b))
    for convert in (to_lurkcoin, from_lurkcoin):
        assert convert(low, balance, target, "integral") <= convert(
            high, balance, target, "integral"
        )


@settings(max_examples=300)
@given(amounts, balances, targets)
def test_integral_never_exceeds_the_balance(local: int, balance: int, target: int) -> None:
    lurkcoins = to_lurkcoin(local, balance, target, "integral")
    assert 0 <= lurkcoins <= balance
    if balance > 0:
        assert lurkcoins < balance  # a finite amount never buys the whole balance


@settings(max_examples=300)
@given(amounts, balances, targets)
def test_integral_round_trip_receiving_then_spending_never_gains(
    lurkcoins: int, balance: int, target: int
) -> None:
    # B receives x lurkcoins, crediting y local; spending y right back (with x
    # now in B's balance) yields at most x lurkcoins.
    local = from_lurkcoin(lurkcoins, balance, target, "integral")
    back = to_lurkcoin(local, balance + lurkcoins, target, "integral")
    assert 0 <= back <= lurkcoins


@settings(max_examples=300)
@given(amounts, balances, targets)
def test_integral_round_trip_spending_then_receiving_never_gains(
    local: int, balance: int, target: int
) -> None:
    # S spends y local, paying x lurkcoins; receiving x back credits at most y.
    lurkcoins = to_lurkcoin(local, balance, target, "integral")
    back = from_lurkcoin(lurkcoins, balance - lurkcoins, target, "integral")
    assert 0 <= back <= local


@settings(max_examples=300)
@given(
    st.integers(min_value=1, max_value=10**7),
    st.integers(min_value=10**6, max_value=10**13),
    targets,
)
def test_integral_agrees_with_reference_for_small_amounts(
    amount: int, balance: int, target: int
) -> None:
    # "Small" means the amount moves the balance by at most 0.1 %: x lurkcoins
    # received against the balance, y local spent against the target balance.
    if amount * 1000 <= balance:
        received = from_lurkcoin(amount, balance, target, "reference")
        assume(received <= MAX_SPEND)
        assert abs(received - from_lurkcoin(amount, balance, target, "integral")) <= 1
    if amount * 1000 <= target:
        spent = to_lurkcoin(amount, balance, target, "reference")
        assume(spent <= MAX_SPEND)
        assert abs(spent - to_lurkcoin(amount, balance, target, "integral")) <= 1


@pytest.mark.parametrize("formula", FORMULAS)
def test_huge_inputs_do_not_crash(formula: Formula) -> None:
    huge = 10**4001
    assert from_lurkcoin(huge, 10**15, MAX_TARGET_BALANCE, formula) > 0
    if formula == "integral":
        assert to_lurkcoin(huge, 10**15, MAX_TARGET_BALANCE, formula) <= 10**15
    else:
        with pytest.raises(LurkcoinError):
            to_lurkcoin(huge, 10**15, MAX_TARGET_BALANCE, formula)


# --- the error table the formulas report through (lurkcoin.core.errors) ----------


def test_error_table_matches_transcript() -> None:
    for entry in GOLDEN_DATA["header"]["error_codes"]:
        assert ERRORS[entry["error"]] == (entry["http_status"], entry["message"])
    assert all(re.fullmatch(r"ERR_[A-Z]+", code) for code in ERRORS)
    # the reference's, ours for /v3, the explorer's, self-service onboarding's
    assert len(ERRORS) == 13 + 8 + 3 + 7


def test_lurkcoin_error_defaults_and_body() -> None:
    err = LurkcoinError("ERR_CANNOTPAYNOTHING")
    assert (err.code, err.status) == ("ERR_CANNOTPAYNOTHING", 400)
    assert err.message == "You cannot pay someone \u00a40.00!"
    assert list(error_body(err).items()) == [
        ("error", "ERR_CANNOTPAYNOTHING"),
        ("message", "You cannot pay someone \u00a40.00!"),
        ("success", False),
    ]
    assert LurkcoinError("ERR_IDEMPOTENCYKEYREUSED").status == 409
    assert LurkcoinError("ERR_TOOMANYREQUESTS").status == 429
    custom = LurkcoinError("ERR_INVALIDREQUEST", "Bad field.")
    assert (custom.message, custom.status) == ("Bad field.", 400)
    unknown = LurkcoinError("ERR_NOSUCHTHING")
    assert (unknown.status, unknown.message) == (500, "Internal error!")
