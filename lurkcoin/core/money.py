"""Money: exact parsing of request amounts and writing of integer cents.

Amounts are integer cents everywhere; Decimal is only used while parsing.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Literal

MAX_SPEND = 1_000_000  # cents: ¤10,000.00, the most one transaction may move
MAX_TARGET_BALANCE = 50_000_000_000  # cents: ¤500,000,000.00

AmountErrorKind = Literal["not_a_number", "not_decimal", "too_large"]

# Values of 10**_MAX_MAGNITUDE or more are refused: nobody owns that much, and
# bounding the size keeps every later step cheap (and below Python's
# 4300-digit int/str conversion limit).
_MAX_MAGNITUDE = 4000
_TOO_LARGE = 10**_MAX_MAGNITUDE
# A value closer than this to zero is zero cents; it also bounds the work done
# for inputs such as 1e-999999.
_MIN_MAGNITUDE = -10
# "Within 1e-9 of a whole number of cents", expressed in cents.
_TOLERANCE_CENTS = Decimal("1e-7")
# Exponents with more digits than this are absurd whatever the mantissa is.
_MAX_EXPONENT_DIGITS = 12

_DIGITS = r"[0-9]+(?:_[0-9]+)*"  # Go-style: '_' only between two digits
_DECIMAL_RE = re.compile(
    rf"(?P<sign>[+-]?)"
    rf"(?:(?P<int>{_DIGITS})(?:\.(?P<frac>{_DIGITS})?)?|\.(?P<frac_only>{_DIGITS}))"
    rf"(?:[eE](?P<exp_sign>[+-]?)(?P<exp>{_DIGITS}))?"
)
# Numbers in a notation Go's ParseFloat knows but money must not use. Every
# repetition needs its '_' so that no input can make the regex backtrack
# exponentially.
_HEX = r"[0-9a-fA-F]+(?:_[0-9a-fA-F]+)*"
_OTHER_NOTATION_RE = re.compile(
    rf"[+-]?(?:"
    rf"0[xX]_?(?:{_HEX}(?:\.(?:{_HEX})?)?|\.{_HEX})(?:[pP][+-]?{_DIGITS})?"
    rf"|0[oO]_?[0-7]+(?:_[0-7]+)*"
    rf"|0[bB]_?[01]+(?:_[01]+)*"
    rf"|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?"
    rf")"
)
_CURRENCY_SIGN = "\u00a4"
# The strings parse_amount reads as decimal numbers, as one plain regular
# expression (for the OpenAPI document): the same pattern without its groups' names.
AMOUNT_PATTERN = f"^{_CURRENCY_SIGN}?{re.sub(r'[(][?]P<[a-z_]+>', '(?:', _DECIMAL_RE.pattern)}$"


class AmountError(ValueError):
    """An amount that cannot be money; ``kind`` tells callers which error to send."""

    def __init__(self, kind: AmountErrorKind) -> None:
        super().__init__(kind)
        self.kind: AmountErrorKind = kind


def parse_amount(value: object) -> int:
    """Exact cents of a decoded JSON value (int, Decimal or numeric string).

    Negative amounts are returned as they are; callers decide what they mean.
    """
    # bool is a subclass of int, but `true` is not an amount.
    if isinstance(value, bool):
        raise AmountError("not_a_number")
    if isinstance(value, int):
        if abs(value) >= _TOO_LARGE:
            raise AmountError("too_large")
        return value * 100
    if isinstance(value, Decimal):
        return _decimal_to_cents(value)
    if isinstance(value, str):
        return _string_to_cents(value)
    raise AmountError("not_a_number")


def _decimal_to_cents(value: Decimal) -> int:
    if value.is_nan():
        raise AmountError("not_a_number")
    if value.is_infinite():
        raise AmountError("not_decimal")
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite, checked above
    return _cents(bool(sign), "".join(map(str, digits)), exponent)


def _string_to_cents(text: str) -> int:
    if text.startswith(_CURRENCY_SIGN):
        text = text[1:]
    match = _DECIMAL_RE.fullmatch(text)
    if match is None:
        if _OTHER_NOTATION_RE.fullmatch(text):
            raise AmountError("not_decimal")
        raise AmountError("not_a_number")
    int_part = (match["int"] or "").replace("_", "")
    frac_part = (match["frac"] or match["frac_only"] or "").replace("_", "")
    digits = int_part + frac_part
    negative = match["sign"] == "-"
    exp_text = (match["exp"] or "0").replace("_", "").lstrip("0") or "0"
    if len(exp_text) > _MAX_EXPONENT_DIGITS:
        if digits.strip("0") == "":
            return 0
        if match["exp_sign"] == "-":
            return 0  # far below a cent
        raise AmountError("too_large")
    exponent = int(exp_text) * (-1 if match["exp_sign"] == "-" else 1)
    return _cents(negative, digits, exponent - len(frac_part))


def _cents(negative: bool, digits: str, scale: int) -> int:
    """Cents of ±int(digits) * 10**scale, with the 1e-9 snapping rule.

    Works on the digit string so that no step depends on the exponent's size.
    """
    digits = digits.lstrip("0")
    if not digits:
        return 0
    magnitude = len(digits) + scale - 1  # floor(log10(|value|))
    if magnitude >= _MAX_MAGNITUDE:
        raise AmountError("too_large")
    if magnitude < _MIN_MAGNITUDE:
        return 0
    shift = scale + 2  # the value in cents is int(digits) * 10**shift
    if shift >= 0:
        cents = int(Decimal(digits + "0" * shift))
    else:
        cut = len(digits) + shift
        whole = digits[:cut] if cut > 0 else "0"
        fraction = Decimal("0." + "0" * max(-cut, 0) + digits[max(cut, 0) :])
        cents = int(Decimal(whole))
        # A fraction just below a whole cent is a binary-float artefact such
        # as 0.29999999999999999; one just above is dropped by truncation.
        if fraction >= 1 - _TOLERANCE_CENTS:
            cents += 1
    return -cents if negative else cents


def _digits(number: int) -> str:
    """Decimal digits of a non-negative int of any size.

    str(int) refuses more than 4300 digits by default; Decimal has no limit
    and prints a whole number without an exponent.
    """
    return str(Decimal(number))


def render_json(cents: int) -> str:
    """JSON number text of an amount: 1234 -> 12.34, 1230 -> 12.3, 0 -> 0.0."""
    whole, frac = divmod(abs(cents), 100)
    text = f"{_digits(whole)}.{frac:02d}"
    # The reference drops exactly one trailing zero, so 12.00 becomes 12.0
    # and a Python client still decodes a float.
    if text.endswith("0"):
        text = text[:-1]
    return "-" + text if cents < 0 else text


def format_balance(cents: int) -> str:
    """Human-readable balance: ¤1,234,567.89, ¤0.00, -¤12.00."""
    whole, frac = divmod(abs(cents), 100)
    digits = _digits(whole)
    head = len(digits) % 3 or 3
    groups = [digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)]
    text = f"{_CURRENCY_SIGN}{','.join(groups)}.{frac:02d}"
    return "-" + text if cents < 0 else text
