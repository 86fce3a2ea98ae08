"""Tests of amount parsing and writing (lurkcoin.core.money) against the spec and transcript."""

from __future__ import annotations

import json
import re
import time
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

import pytest
from golden_files import V3_TRANSCRIPT
from hypothesis import given, settings
from hypothesis import strategies as st

from lurkcoin.core.money import (
    AMOUNT_PATTERN,
    MAX_SPEND,
    MAX_TARGET_BALANCE,
    AmountError,
    format_balance,
    parse_amount,
    render_json,
)

GOLDEN = V3_TRANSCRIPT
LIMIT_CENTS = 10**4002  # parse_amount refuses values of 1e4000 (currency units) or more


def load_cases() -> list[dict[str, Any]]:
    assert GOLDEN.exists(), f"golden transcript missing: {GOLDEN}"
    return json.loads(GOLDEN.read_text(encoding="utf-8"))["cases"]


def decode_body(body: str) -> dict[str, Any]:
    """Decode like our server: exact numbers, keys matched case-insensitively,
    duplicated keys refused."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in items:
            if key.lower() in result:
                raise ValueError("duplicate key")
            result[key.lower()] = value
        return result

    return json.loads(body, parse_float=Decimal, parse_int=int, object_pairs_hook=pairs)


def expected_of(case: dict[str, Any]) -> dict[str, Any]:
    return (case.get("ours") or case["response"])["body_json"]


def raw_result(case: dict[str, Any]) -> str | None:
    """The result's number exactly as the reference wrote it (None for 'ours' cases)."""
    if "ours" in case:
        return None
    match = re.fullmatch(r'\{"result":(.*),"success":true\}', case["response"]["body_raw"])
    assert match is not None
    return match[1]


def echo_amount(body: str) -> str:
    """/v3/exchange_rates with neither source nor target: the error code or the JSON number."""
    try:
        fields = decode_body(body)
    except ValueError:
        return "ERR_INVALIDREQUEST"
    if "amount" not in fields:
        return "ERR_INVALIDAMOUNT"
    try:
        cents = parse_amount(fields["amount"])
    except AmountError as err:
        return "ERR_INVALIDREQUEST" if err.kind == "not_decimal" else "ERR_INVALIDAMOUNT"
    return "ERR_INVALIDAMOUNT" if cents < 0 else render_json(cents)


# --- render_json / format_balance -------------------------------------------


@pytest.mark.parametrize(
    ("cents", "text"),
    [
        (1234, "12.34"),
        (1230, "12.3"),
        (1200, "12.0"),
        (5, "0.05"),
        (0, "0.0"),
        (100, "1.0"),
        (150, "1.5"),
        (1010, "10.1"),
        (-310, "-3.1"),
        (-150, "-1.5"),
        (-5, "-0.05"),
        (10**22, "100000000000000000000.0"),
    ],
)
def test_render_json_examples(cents: int, text: str) -> None:
    assert render_json(cents) == text


def test_render_json_beyond_int_str_limit() -> None:
    # More than the 4300 digits str(int) allows by default.
    assert render_json(10**5000 + 7) == "1" + "0" * 4998 + ".07"


@settings(max_examples=500)
@given(st.integers(min_value=-LIMIT_CENTS + 1, max_value=LIMIT_CENTS - 1) | st.integers())
def test_render_then_parse_round_trips(cents: int) -> None:
    text = render_json(cents)
    assert re.fullmatch(r"-?[0-9]+\.[0-9]{1,2}", text)
    assert isinstance(json.loads(text), float)  # a Python client sees a float
    decoded = json.loads(text, parse_float=Decimal)
    assert parse_amount(decoded) == cents
    assert parse_amount(text) == cents


@pytest.mark.parametrize(
    ("cents", "text"),
    [
        (123456789, "\u00a41,234,567.89"),
        (0, "\u00a40.00"),
        (-1200, "-\u00a412.00"),
        (-50, "-\u00a40.50"),
        (100000, "\u00a41,000.00"),
        (99999, "\u00a4999.99"),
        (MAX_TARGET_BALANCE, "\u00a4500,000,000.00"),
        (MAX_SPEND, "\u00a410,000.00"),
    ],
)
def test_format_balance_examples(cents: int, text: str) -> None:
    assert format_balance(cents) == text


@given(st.integers())
def test_format_balance_matches_python_grouping(cents: int) -> None:
    sign = "-" if cents < 0 else ""
    assert format_balance(cents) == f"{sign}\u00a4{abs(cents) // 100:,}.{abs(cents) % 100:02d}"


# --- parse_amount examples ---------------------------------------------------


@pytest.mark.parametrize(
    ("value", "cents"),
    [
        (1, 100),
        (0, 0),
        (-5, -500),
        (Decimal("1.5"), 150),
        (Decimal("0.29999999999999999"), 30),
        (Decimal("2.10"), 210),
        (Decimal("1E+3"), 100000),
        (Decimal("1e-400"), 0),
        ("12.34", 1234),
        ("\u00a412.34", 1234),
        ("1_000.5", 100050),
        ("1_0", 1000),
        ("1_0.0_5", 1005),
        ("1e1_0", 10**12),
        ("+5", 500),
        (".5", 50),
        ("5.", 500),
        ("1e3", 100000),
        ("1E-2", 1),
        ("0.29999999999999999", 30),
        ("0.30000000000000001", 30),
        ("0.0099999999999", 1),
        # The snapping rule's boundary: exactly 1e-9 below a cent snaps up,
        # a little further is truncated.
        ("0.009999999", 1),
        (Decimal("0.009999999"), 1),
        ("-0.009999999", -1),
        ("1.239999999", 124),
        ("0.0099999989", 0),
        ("1.2399999989", 123),
        ("1.239", 123),
        ("-0.009", 0),
        ("-0.001", 0),
        ("1.005", 100),
        ("0.53", 53),
        ("2.10", 210),
        ("4.35", 435),
        ("\u00a4-3", -300),
        ("-1.5", -150),
        ("1e400", 10**402),
        ("123456789012345678901234567890.12", 12345678901234567890123456789012),
        ("1e-999999", 0),
        ("1e-99999999999999999999", 0),
        ("0e99999999999999999999", 0),
        ("0." + "0" * 5000 + "1", 0),
        ("9" * 3999, int("9" * 3999) * 100),
        ("9_" + "9" * 3998, int("9" * 3999) * 100),  # the "_" is not a digit of the size
        ("1e" + "0" * 40 + "2", 10_000),  # leading zeros make no exponent too long
        ("1e0_0_0_0_0_0_0_2", 10_000),  # nor do "_" between them
        ("0" * 4000 + "1", 100),  # nor leading zeros a number too large
        ("1" + "_0" * 3999, 10**4001),  # nor "_" between its digits
        ("1_23e-4", 1),  # an exponent that moves the point across a "_"
        ("1_0e-3", 1),
    ],
)
def test_parse_amount_examples(value: object, cents: int) -> None:
    assert parse_amount(value) == cents


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (None, "not_a_number"),
        (True, "not_a_number"),
        (False, "not_a_number"),
        ([1], "not_a_number"),
        ({"v": 1}, "not_a_number"),
        (1.5, "not_a_number"),  # binary floats are never money
        ("abc", "not_a_number"),
        ("NaN", "not_a_number"),
        ("nan", "not_a_number"),
        (Decimal("NaN"), "not_a_number"),
        (" 12", "not_a_number"),
        ("12 ", "not_a_number"),
        ("12\n", "not_a_number"),
        ("1,000", "not_a_number"),
        ("", "not_a_number"),
        ("\u00a4", "not_a_number"),
        ("\u00a4\u00a41", "not_a_number"),
        ("1__0", "not_a_number"),
        ("_1", "not_a_number"),
        ("1_", "not_a_number"),
        ("1_.5", "not_a_number"),
        ("1._5", "not_a_number"),
        (".", "not_a_number"),
        ("e5", "not_a_number"),
        ("1e", "not_a_number"),
        ("--1", "not_a_number"),
        ("\u0661\u0662", "not_a_number"),  # Arabic-Indic digits
        ("0x10", "not_decimal"),
        ("0X1F", "not_decimal"),
        ("-0x1p-2", "not_decimal"),
        ("0o17", "not_decimal"),
        ("0b101", "not_decimal"),
        ("inf", "not_decimal"),
        ("-Inf", "not_decimal"),
        ("+INFINITY", "not_decimal"),
        ("infinity", "not_decimal"),
        ("\u00a4inf", "not_decimal"),
        (Decimal("Infinity"), "not_decimal"),
        (Decimal("-Infinity"), "not_decimal"),
        ("1e999999999", "too_large"),
        ("1e4000", "too_large"),
        ("-1e4000", "too_large"),
        ("1e99999999999999999999", "too_large"),
        ("1" * 5000, "too_large"),
        (Decimal("1e999999999"), "too_large"),
        (10**4000, "too_large"),
    ],
)
def test_parse_amount_errors(value: object, kind: str) -> None:
    with pytest.raises(AmountError) as info:
        parse_amount(value)
    assert info.value.kind == kind


def test_amount_error_is_a_value_error() -> None:
    assert issubclass(AmountError, ValueError)


# --- parse_amount properties -------------------------------------------------


def reference_cents(value: Decimal) -> int:
    """The spec's rule computed naively: snap within 1e-9 of a cent, else truncate."""
    with localcontext() as ctx:
        ctx.prec = 200
        exact = value * 100
        nearest = exact.to_integral_value()
        if abs(exact - nearest) <= Decimal("1e-7"):
            return int(nearest)
        return int(exact)


@settings(max_examples=400)
@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**30), max_value=10**30))
def test_parse_amount_follows_the_rule(value: Decimal) -> None:
    expected = reference_cents(value)
    assert parse_amount(value) == expected
    assert parse_amount(str(value)) == expected
    assert parse_amount("\u00a4" + str(value)) == expected


@given(st.integers())
def test_parse_amount_of_int(value: int) -> None:
    assert parse_amount(value) == value * 100
    assert parse_amount(str(value)) == value * 100


@given(st.integers(min_value=0, max_value=10**12), st.data())
def test_underscores_between_digits_are_ignored(value: int, data: st.DataObject) -> None:
    digits = str(value)
    gaps = data.draw(st.sets(st.integers(min_value=1, max_value=max(len(digits) - 1, 1))))
    spaced = "".join(("_" if i in gaps else "") + digit for i, digit in enumerate(digits))
    assert parse_amount(spaced) == value * 100


@settings(max_examples=500)
@given(st.text(max_size=40) | st.from_regex(r"\A[+-]?[0-9_.eE+-]{0,12}\Z"))
def test_parse_amount_raises_only_amount_error(text: str) -> None:
    try:
        cents = parse_amount(text)
    except AmountError as err:
        assert err.kind in ("not_a_number", "not_decimal", "too_large")
    else:
        assert isinstance(cents, int)


@pytest.mark.parametrize(
    "text",
    [
        "0x" + "a" * 4000 + "!",
        "0x" + "a_" * 2000 + "!",
        "0o" + "7" * 4000 + "8",
        "0b" + "1_" * 2000,
        "1" * 4000 + "_",
        "1_" * 2000 + "!",
        "." + "1_" * 2000,
        "1." + "1_" * 2000 + "e-" + "1_" * 2000 + "!",
        "-" + "9" * 4000 + "." + "9" * 4000 + "e",
        "\u00a4" * 4000,
    ],
    ids=lambda text: text[:6] + "..." + text[-3:],
)
def test_adversarial_strings_are_refused_quickly(text: str) -> None:
    # Guards against regex backtracking blow-ups on request-sized input.
    start = time.perf_counter()
    with pytest.raises(AmountError):
        parse_amount(text)
    assert time.perf_counter() - start < 0.5


@settings(max_examples=300)
@given(
    st.text(alphabet="0123456789abcdefxob_.eEpP+-\u00a4!", min_size=20, max_size=200)
    | st.from_regex(r"\A\u00a4?[+-]?[0-9_]{0,20}(\.[0-9_]{0,20})?([eE][+-]?[0-9_]{1,5})?\Z")
)
def test_number_like_noise_is_handled(text: str) -> None:
    """Decimal is the oracle: what it reads is parsed by the rule, the rest is refused.

    '_' is allowed only between two digits (Go's rule); Decimal reads the rest.
    """
    body = text.removeprefix("\u00a4")
    expected: Decimal | None = None
    if not re.search(r"(?<![0-9])_|_(?![0-9])", body):
        try:
            expected = Decimal(body.replace("_", ""))
        except InvalidOperation:
            pass
    try:
        cents = parse_amount(text)
    except AmountError as err:
        assert expected is None or err.kind == "too_large", (text, err.kind)
    else:
        assert expected is not None, text
        assert cents == reference_cents(expected), text


@settings(max_examples=300)
@given(
    st.text(alphabet="0123456789abcdefxob_.eEpP+-\u00a4!", max_size=12)
    | st.from_regex(r"\A\u00a4?[+-]?[0-9_.eE+-]{0,12}\Z")
)
def test_amount_pattern_matches_exactly_the_decimal_strings(text: str) -> None:
    """The OpenAPI document's pattern is the parser's: a match is never refused as notation."""
    try:
        parse_amount(text)
        decimal = True
    except AmountError as err:
        decimal = err.kind == "too_large"
    assert bool(re.fullmatch(AMOUNT_PATTERN, text)) == decimal


# --- transcript --------------------------------------------------------------


def parse_cases() -> list[dict[str, Any]]:
    selected = []
    for case in load_cases():
        request = case["request"]
        if not case["name"].startswith("parse_") or request["path"] != "/v3/exchange_rates":
            continue
        fields = {key.lower(): value for key, value in json.loads(request["body"]).items()}
        if fields.get("source") or fields.get("target"):
            continue
        selected.append(case)
    return selected


PARSE_CASES = parse_cases()


def test_transcript_has_parse_cases() -> None:
    assert len(PARSE_CASES) >= 40


@pytest.mark.parametrize("case", PARSE_CASES, ids=lambda case: case["name"])
def test_transcript_parse_case(case: dict[str, Any]) -> None:
    answer = echo_amount(case["request"]["body"])
    expected = expected_of(case)
    if not expected["success"]:
        assert answer == expected["error"]
        return
    assert not answer.startswith("ERR_")
    raw = raw_result(case)
    if raw is not None:
        assert answer == raw  # byte-exact where the reference was right
    # Through a float, as the golden body_json was decoded (1e400 -> inf).
    assert json.loads(answer) == expected["result"]


def pay_cases() -> list[dict[str, Any]]:
    return [c for c in load_cases() if c["request"]["path"] == "/v3/pay" and c["request"]["body"]]


@pytest.mark.parametrize("case", pay_cases(), ids=lambda case: case["name"])
def test_transcript_pay_amounts(case: dict[str, Any]) -> None:
    """A present amount that is not a number is ERR_INVALIDREQUEST on /v3/pay;
    a successful payment in lurkcoins moves exactly the parsed amount."""
    try:
        fields = decode_body(case["request"]["body"])
    except ValueError:
        return  # not about amounts
    expected = expected_of(case)
    if "amount" not in fields:
        return
    try:
        cents = parse_amount(fields["amount"])
    except AmountError:
        assert expected == {
            "error": "ERR_INVALIDREQUEST",
            "message": "Invalid request.",
            "success": False,
        }
        return
    if expected["success"] and not fields.get("local_currency"):
        as_float = json.loads(render_json(cents))
        assert expected["result"]["amount"] == as_float
        assert expected["result"]["sent_amount"] == as_float
