"""The lurkcoinV2 formats on their own: quoting, history lines, the shown rate and multiplier."""

from __future__ import annotations

import dataclasses
import random
from decimal import Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lurkcoin.core.legacy_numbers import (
    InvalidNumber,
    _decimal_exponent,
    displayed_rate,
    format_significant,
    multiplier_text,
    multiplier_to_target,
    parse_count,
    parse_v2_amount,
    rate_shortest,
    rate_ten_digits,
    round_binary,
    shortest,
)
from lurkcoin.core.legacy_text import (
    go_quote,
    history_lines,
    history_quote,
    legacy_id,
    pending_entry_target,
    simple_line,
    transaction_text,
    two_decimals,
)
from lurkcoin.core.money import AmountError
from lurkcoin.models import Transaction


def txn(source_server: str, target_server: str, amount: int, **names: str) -> Transaction:
    return Transaction(
        seq=1,
        id="T5F5E1000-0000000A",
        source=names.get("source", "s"),
        source_server=source_server,
        target=names.get("target", "t"),
        target_server=target_server,
        amount=amount,
        sent_amount=amount,
        received_amount=amount,
        time=0,
        revertable=True,
        status="pending",
    )


def test_legacy_ids_of_the_seeded_transactions() -> None:
    assert [legacy_id(f"T5F5E1000-0000000{c}") for c in "ABC"] == [640131, 640132, 640133]


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("zoë", '"zoë"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("a\\b", '"a\\\\b"'),
        ("tab\there", '"tab\\there"'),
        ("\x00\x7f", '"\\x00\\x7f"'),
        ("no\u00a0break", '"no\\u00a0break"'),
        ("\uffff", '"\\uffff"'),  # the last code point with the short escape
        ("\U000e0001", '"\\U000e0001"'),
        ("¤ and 漢字", '"¤ and 漢字"'),
    ],
)
def test_go_quoting(text: str, quoted: str) -> None:
    assert go_quote(text) == quoted


def test_history_quoting_uses_single_quotes_unless_the_text_has_quotes() -> None:
    assert history_quote("Alpha") == "'Alpha'"
    assert history_quote("it's") == '"it\'s"'
    assert history_quote('say "hi"') == '"say \\"hi\\""'
    assert history_quote("a\u00a0b") == "'a\\u00a0b'"


def test_history_lines_walk_the_balance_back() -> None:
    newest_first = [
        txn("Alpha", "Alpha", 100, target="me"),  # to oneself: two lines
        txn("Bravo", "Alpha", 250, target="al"),
        txn("", "Alpha", 5, source="interest", target=""),
        txn("Bravo", "Alpha", 7, source="bea", target=""),  # to nobody, still a transfer
        txn("Alpha", "Bravo", 1_000, target="bo"),
    ]
    assert history_lines("Alpha", 10_000, newest_first) == [
        "¤100.00: +¤1.00 - Transaction from 'Alpha' to 'me'.",
        "¤99.00: -¤1.00 - Transaction to 'me' on 'Alpha'.",
        "¤100.00: +¤2.50 - Transaction from 'Bravo' to 'al'.",
        "¤97.50: +¤0.05 - interest",
        "¤97.45: +¤0.07 - Transaction from 'Bravo' to ''.",
        "¤97.38: -¤10.00 - Transaction to 'bo' on 'Bravo'.",
        "¤0.00: Account created",
    ]
    # Matched by exact name, not uid; ten or more lines get no "Account created".
    assert history_lines("alpha", 0, newest_first) == ["¤0.00: Account created"]
    ten = [txn("Bravo", "Alpha", 1)] * 10
    assert len(history_lines("Alpha", 10, ten)) == 10


def test_the_shown_rate_matches_the_reference_values() -> None:
    assert rate_shortest(50_000_000, 50_000_000) == "0.999999000001999996"
    assert rate_shortest(1_000_000, 50_000_000) == "49.9975002499750025"
    assert rate_shortest(10_000_000, 100_000) == "0.009999950000499995"
    assert rate_shortest(100_000_000, 50_000_000) == "0.49999975000024999975"
    assert rate_shortest(0, 50_000_000) == "2.5247524752475247526e+07"
    assert rate_ten_digits(0, 50_000_000) == "25247524.75"
    assert rate_ten_digits(10_000_000, 100_000) == "0.00999995"
    assert rate_shortest(123, 0) == rate_ten_digits(123, 0) == "1"


def test_rounding_to_64_bits_and_shortest_forms() -> None:
    tenth = round_binary(Fraction(1, 10))
    assert tenth != Fraction(1, 10) and shortest(tenth) == "0.1"
    assert round_binary(Fraction(2**64 + 1)) == 2**64  # a tie goes to the even significand
    assert round_binary(Fraction(2**65 + 6)) == 2**65 + 8
    assert shortest(Fraction(10**6)) == "1e+06"
    assert shortest(Fraction(1, 2**20)) == "9.5367431640625e-07"


@pytest.mark.parametrize(
    ("target", "text"),
    [
        (0, "1"),
        (100_000_000, "2"),
        (25_000_000, "0.5"),
        (100_000, "0.002"),
        (12_345_678, "0.24691356"),
        (50_000_000_000, "1000"),
        (5_000, "0.0001"),
        (1_234, "2.468e-05"),
        (1, "2e-08"),
    ],
)
def test_multiplier_text(target: int, text: str) -> None:
    assert multiplier_text(target) == text


@pytest.mark.parametrize(
    ("multiplier", "cents"),
    [
        ("2", 100_000_000),
        ("0.5", 25_000_000),
        ("1e-3", 50_000),
        ("2e-8", 1),
        ("1_000", 50_000_000_000),
        ("1000.000000001", 50_000_000_000),
        (".5", 25_000_000),
        ("0.0010000000000000000001", 50_000),
    ],
)
def test_multiplier_to_target_is_exact(multiplier: str, cents: int) -> None:
    assert multiplier_to_target(multiplier) == cents


def test_a_long_multiplier_is_multiplied_exactly_before_the_cent_is_judged() -> None:
    # 1.99999989999… cents: 1e-7 and a hair below 2, so not snapped up. Rounded
    # to the default 28 digits first, it would read 1.9999999 and become 2.
    assert multiplier_to_target("3.99999979999999999999999999998e-8") == 1
    # "_" may separate the exponent's digits too.
    assert multiplier_to_target("2e-0_0_0_0_0_8") == 1


@pytest.mark.parametrize(
    "multiplier",
    [
        "0",
        "0e5",
        "-1",
        "2e-9",  # a tenth of a cent
        "1000.00000002",  # a cent above the largest target
        "1e999999",  # past the default decimal range: still just not a multiplier
        "1e-999999",
        "1e99999999999",  # exponents too long to read
        "1E99999999999",
        "1e-99999999999",
        "1e",
        "0x10",
        "inf",
        "¤1",
        "1 ",
    ],
)
def test_what_is_not_a_multiplier(multiplier: str) -> None:
    with pytest.raises(InvalidNumber):
        multiplier_to_target(multiplier)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Fraction(99_999_999_996, 10**10), "10"),  # rounds up into one more digit
        (Fraction(99_999_999_995, 10**10), "10"),  # a tie, to the even neighbour
        (Fraction(99_999_999_985, 10**10), "9.999999998"),  # a tie, down to even
        (Fraction(999_999_999_996), "1e+12"),
        (Fraction(99_999_999_996, 10**15), "0.0001"),
        (Fraction(123_456_789_012), "1.23456789e+11"),
        (Fraction(1, 3), "0.3333333333"),
    ],
)
def test_ten_significant_digits(value: Fraction, text: str) -> None:
    assert format_significant(value) == text


def _linear_shortest_digits(value: Fraction) -> int:
    """How many significant digits the shortest form has, found one length at a time."""
    for digits in range(1, 30):
        text = f"{{:.{digits - 1}e}}".format(Decimal(value.numerator) / Decimal(value.denominator))
        mantissa, exponent = text.split("e")
        scaled = Fraction(Decimal(mantissa)) * Fraction(10) ** int(exponent)
        step = Fraction(10) ** (int(exponent) - digits + 1)
        if any(round_binary(scaled + d * step) == value for d in (-1, 0, 1)):
            return digits
    raise AssertionError(value)


def test_shortest_has_the_fewest_digits_that_read_back() -> None:
    rng = random.Random(7)
    with localcontext() as context:
        context.prec = 60
        for _ in range(200):
            balance = rng.choice([0, rng.randrange(1, 10**12)])
            target = rng.randrange(1, 50_000_000_000)
            text = rate_shortest(balance, target)
            rate = displayed_rate(balance, target)
            assert rate is not None
            assert round_binary(Fraction(Decimal(text))) == rate, (balance, target, text)
            digits = len(text.split("e")[0].replace(".", "").lstrip("0"))
            assert digits == _linear_shortest_digits(rate), (balance, target, text)


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("5", 500),
        ("1_000", 100_000),  # every "_" goes, wherever it is
        ("_1_0_._5_", 1_050),
        ("\u00a45", 500),  # one leading currency sign
        ("\u00a41_0.25", 1_025),
        ("0.001", 0),  # then the V3 rule (which rounds down to the cent)
        ("-3", -300),  # the sign is the caller's to refuse
    ],
)
def test_v2_amounts(text: str, cents: int) -> None:
    assert parse_v2_amount(text) == cents


@pytest.mark.parametrize(
    "text", ["", "abc", "0x10", "inf", "nan", "\u00a4\u00a45", "1 0", "5\u00a4", "1e"]
)
def test_what_is_not_a_v2_amount(text: str) -> None:
    with pytest.raises(InvalidNumber):
        parse_v2_amount(text)


def test_a_v2_amount_too_large_to_be_money_says_so() -> None:
    for text in ("1e4000", "\u00a41" + "0" * 4000, "1_e9999999999999"):
        with pytest.raises(AmountError) as caught:
            parse_v2_amount(text)
        assert caught.value.kind == "too_large"
        assert not isinstance(caught.value, InvalidNumber)
    assert parse_v2_amount("1e3997") == 10**3999  # the largest power of ten that is money


@pytest.mark.parametrize(
    ("text", "count"),
    [
        (None, 1),
        ("", 1),
        ("3", 3),
        ("+3", 3),
        ("007", 7),
        ("0", 1),  # at least one
        ("-5", 1),
        ("2.5", 1),
        ("ten", 1),
        (" 3", 1),
        ("9223372036854775807", 9_223_372_036_854_775_807),  # the largest int64
        ("9223372036854775808", 1),  # past it
        ("0" * 24 + "9", 9),  # 25 characters
        ("0" * 25 + "9", 1),  # 26: refused before it is read
    ],
)
def test_remove_counts(text: str | None, count: int) -> None:
    assert parse_count(text) == count


def test_the_spec_example_of_a_simple_line() -> None:
    t = txn("Bravo", "Alpha", 1_000, source="bob", target="alice")
    assert simple_line("1", t) == (
        "1|640131|alice|10.00|[T5F5E1000-0000000A] \u00a410.00 (sent 10.00, received 10.00)"
        ' - Transaction from "bob" on "Bravo" to "alice" on "Alpha".'
    )


def test_the_transaction_text_names_each_amount_and_quotes_each_name() -> None:
    t = dataclasses.replace(
        txn("Al pha", "Bravo", 123_456, source='say "hi"', target="b\u00a4b|x"),
        sent_amount=-5,
        received_amount=98_765,
    )
    assert transaction_text(t) == (
        "[T5F5E1000-0000000A] \u00a41,234.56 (sent -0.05, received 987.65) - Transaction"
        ' from "say \\"hi\\"" on "Al pha" to "b\u00a4b|x" on "Bravo".'
    )
    # In the simple line "¤" becomes "_" in the user name, then "|" becomes "/" in both.
    assert simple_line("0.5", t) == (
        "0.5|640131|b_b/x|987.65|[T5F5E1000-0000000A] \u00a41,234.56 (sent -0.05, received"
        ' 987.65) - Transaction from "say \\"hi\\"" on "Al pha" to "b\u00a4b/x" on "Bravo".'
    )


@pytest.mark.parametrize(
    ("cents", "text"),
    [
        (0, "0.00"),
        (5, "0.05"),
        (-50, "-0.50"),
        (100, "1.00"),
        (123_456, "1234.56"),
        (-123_456, "-1234.56"),
    ],
)
def test_two_decimals(cents: int, text: str) -> None:
    assert two_decimals(cents) == text


def test_a_pending_entry_names_its_user_without_the_currency_sign() -> None:
    assert pending_entry_target("\u00a4rich\u00a4") == "_rich_"
    assert pending_entry_target("a|b") == "a|b"  # only the simple line replaces "|"


fractions = st.fractions(min_value=Fraction(1, 10**30), max_value=Fraction(10**30)).filter(
    lambda f: f > 0
)


def _ulp(value: Fraction) -> Fraction:
    """The spacing of 64-bit significands at ``value`` (> 0)."""
    exponent = value.numerator.bit_length() - value.denominator.bit_length()
    while Fraction(2) ** exponent > value:
        exponent -= 1
    while Fraction(2) ** (exponent + 1) <= value:
        exponent += 1
    return Fraction(2) ** (exponent - 63)


@given(fractions)
def test_round_binary_is_the_nearest_64_bit_value(value: Fraction) -> None:
    rounded = round_binary(value)
    ulp = _ulp(rounded) if rounded < value else _ulp(value)
    significand = rounded / _ulp(rounded)
    assert significand.denominator == 1 and significand.numerator < 2**64
    assert abs(rounded - value) <= ulp / 2
    assert round_binary(-value) == -rounded


@given(fractions)
def test_the_decimal_exponent_brackets_the_value(value: Fraction) -> None:
    k = _decimal_exponent(value)
    assert Fraction(10) ** k <= value < Fraction(10) ** (k + 1)


def test_round_binary_at_its_edges() -> None:
    # 65 bits before rounding, the first quotient: one shift more, not a 65-bit result.
    assert round_binary(Fraction(2**66 + 3, 4)) == 2**64
    assert round_binary(Fraction(2**64 - 1)) == 2**64 - 1  # 64 bits exactly: kept
    assert round_binary(Fraction(-1, 10)) == -round_binary(Fraction(1, 10)) < 0
    assert [_decimal_exponent(Fraction(10) ** k) for k in (-3, 0, 1, 2, 30)] == [-3, 0, 1, 2, 30]
    assert format_significant(Fraction(100)) == "100" and shortest(Fraction(1000)) == "1000"
    assert shortest(Fraction(12_000_000)) == "1.2e+07"  # two digits in the exponent form
    # A power of ten that rounds down to 64 bits: the nearest short decimal is the
    # power itself, one digit up ("1e+28", not "9.999…e+27").
    assert [shortest(round_binary(Fraction(10) ** j)) for j in (-9, -3, -2, 28, 43)] == [
        "1e-09",
        "0.001",
        "0.01",
        "1e+28",
        "1e+43",
    ]
