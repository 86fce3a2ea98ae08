"""Query parameters of the explorer API: each one validated, every error precise.

An endpoint declares its parameters as ``{name: parser}``; :func:`read_query`
refuses unknown and repeated names and runs each parser. A parser returns the
value or raises ValueError whose text says what is allowed; the reply is then
400 ERR_INVALIDPARAMETER with ``details`` = "<name>: <what is wrong>", like
``limit: expected a whole number from 1 to 500, got '0'``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from lurkcoin.core.errors import LurkcoinError

Parser = Callable[[str], Any]

AMOUNT_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,2})?$"
_AMOUNT = re.compile(AMOUNT_PATTERN)
_INTEGER = re.compile(r"[0-9]{1,18}")
_SHOWN = 60  # characters of a bad value repeated in the error
MAX_TEXT = 128
LATEST_TIME = 253402300799  # 9999-12-31T23:59:59Z


def invalid(name: str, problem: str) -> LurkcoinError:
    return LurkcoinError("ERR_INVALIDPARAMETER", details=f"{name}: {problem}")


def shown(text: str) -> str:
    """The client's value quoted for an error message (shortened, printable)."""
    clipped = text if len(text) <= _SHOWN else text[:_SHOWN] + "..."
    return repr(clipped)


def integer(low: int, high: int) -> Parser:
    def parse(text: str) -> int:
        if not _INTEGER.fullmatch(text) or not low <= int(text) <= high:
            raise ValueError(f"expected a whole number from {low} to {high}, got {shown(text)}")
        return int(text)

    return parse


def boolean(text: str) -> bool:
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise ValueError(f"expected true or false, got {shown(text)}")


def choice(options: Sequence[str]) -> Parser:
    def parse(text: str) -> str:
        if text not in options:
            expected = " | ".join(f"'{o}'" for o in options)
            raise ValueError(f"invalid value; expected {expected}, got {shown(text)}")
        return text

    return parse


def amount(text: str) -> int:
    """Lurkcoins with at most two decimals, not negative; returned in cents."""
    if not _AMOUNT.fullmatch(text):
        raise ValueError(
            f"expected an amount of lurkcoins such as 12 or 12.34 (at most two decimals, "
            f"not negative), got {shown(text)}"
        )
    whole, _, cents = text.partition(".")
    return int(whole) * 100 + int(cents.ljust(2, "0"))


def moment(text: str) -> int:
    """Unix seconds, or an ISO 8601 date or date and time (UTC unless it says otherwise)."""
    if _INTEGER.fullmatch(text) and int(text) <= LATEST_TIME:
        return int(text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            "expected Unix seconds (0 to 253402300799) or an ISO 8601 date or time such as "
            f"2026-11-30 or 2026-11-30T12:00:00Z, got {shown(text)}"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return max(0, int(parsed.timestamp()))


def text(text: str) -> str:
    """A name as stored: 1 to 128 characters."""
    if not text or len(text) > MAX_TEXT:
        raise ValueError(f"expected 1 to {MAX_TEXT} characters, got {len(text)}")
    return text


def read_query(request: web.Request, parsers: Mapping[str, Parser]) -> dict[str, Any]:
    """The request's query parameters, each parsed; 400 on anything unknown or wrong."""
    query = request.query
    values: dict[str, Any] = {}
    for name in query:
        if name not in parsers:
            raise invalid(
                name or "(empty name)",
                f"unknown parameter; expected one of: {', '.join(parsers)}",
            )
        if len(query.getall(name)) > 1:
            raise invalid(name, "given more than once")
        try:
            values[name] = parsers[name](query[name])
        except ValueError as exc:
            raise invalid(name, str(exc)) from None
    return values


def ordering(
    values: Mapping[str, Any],
    fields: Sequence[str],
    default: str,
    default_order: Callable[[str], str],
) -> tuple[str, bool]:
    """``sort=field&order=desc`` or ``sort=field:desc``: the field and whether descending.

    ``default_order(field)``: the direction when the request gives none.
    """
    raw = values.get("sort", default)
    field, colon, direction = raw.partition(":")
    if field not in fields:
        expected = " | ".join(f"'{f}'" for f in fields)
        raise invalid("sort", f"invalid field; expected {expected}, got {shown(field)}")
    if colon and direction not in ("asc", "desc"):
        raise invalid(
            "sort", f"invalid direction; expected ':asc' | ':desc', got {shown(direction)}"
        )
    order = values.get("order")
    if colon and order is not None and order != direction:
        raise invalid("order", f"contradicts sort={raw}; give the direction once")
    chosen = direction if colon else (order or default_order(field))
    return field, chosen == "desc"
