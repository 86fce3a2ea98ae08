"""Opaque keyset cursors for /api/transactions.json, bound to the query that made them.

A cursor holds a direction, a position in the walk (sort value, seq) and a
hash of the query's filters and sort. The client sends it back with the same
filters; a cursor whose hash does not match the request's filters is refused
(400), so a cursor from one query can never page another. The filters
themselves always come from the request, so a hand-made cursor can move the
position but never widen what is returned.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from typing import Literal

from lurkcoin.api.explorer_params import invalid
from lurkcoin.ledger.explorer import Position

Direction = Literal["next", "prev"]
_VERSION = 1
_MAX_VALUE = 2**63


def fingerprint(query: Mapping[str, object]) -> str:
    """A hash of a query's parsed filters and sort (so ``sort=time:desc`` equals the default)."""
    text = json.dumps(query, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def encode(direction: Direction, where: Position, bound_to: str) -> str:
    raw = json.dumps([_VERSION, direction[0], where[0], where[1], bound_to], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str, bound_to: str) -> tuple[Direction, Position]:
    """The cursor's direction and position; 400 if it is malformed or from another query."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        version, direction, key, seq, made_for = json.loads(raw)
        valid = (
            version == _VERSION
            and direction in ("n", "p")
            and all(type(v) is int and abs(v) < _MAX_VALUE for v in (key, seq))
            and isinstance(made_for, str)
        )
    except (binascii.Error, ValueError, TypeError):
        valid = False
    if not valid:
        raise invalid("cursor", "not a cursor this API returned (use next_cursor or prev_cursor)")
    if made_for != bound_to:
        raise invalid(
            "cursor",
            "belongs to another query: send it with the same filters and sort it was made with",
        )
    return ("next" if direction == "n" else "prev"), (key, seq)
