"""Our small JSON writer: money as exact numbers, keys in the order given.

The standard library would print 1.0 as ``1.0`` only for floats, and money is
never a float here: amounts travel as :class:`Money` (integer cents) and are
written by :func:`lurkcoin.core.money.render_json`, so ``12.30`` is ``12.3``
and ``12.00`` is ``12.0``, never ``12``. Strings are escaped as the reference
server's Go encoder does (``<``, ``>``, ``&`` and U+2028/U+2029 as ``\\uXXXX``),
so a reply is byte-for-byte what lurkcoin-core would send.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from json.encoder import encode_basestring  # json.dumps(text, ensure_ascii=False), in C
from typing import Any

from lurkcoin.core.money import render_json

__all__ = ["Money", "dumps", "dumps_bytes"]


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in integer cents, written as a JSON number with a decimal point."""

    cents: int


# json.dumps already escapes quotes, backslashes and control characters; these
# are the extra escapes Go applies. Lone surrogates (possible after decoding
# "\ud800") cannot be encoded as UTF-8 and become U+FFFD, as Go does.
_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_NEEDS_ESCAPE = re.compile("[<>&\u2028\u2029\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    return _GO_ESCAPES.get(match.group(), "\\ufffd")


def _string(text: str) -> str:
    quoted = encode_basestring(text)
    if _NEEDS_ESCAPE.search(quoted) is None:  # the common case: nothing more to escape
        return quoted
    return _NEEDS_ESCAPE.sub(_escape, quoted)


def _write(value: Any, out: list[str]) -> None:
    # bool before int: True is an int in Python.
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, Money):
        out.append(render_json(value.cents))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, dict):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(",")
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be strings, got {key!r}")
            out.append(_string(key))
            out.append(":")
            _write(item, out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        # Floats included: an amount must be Money, never a binary float.
        raise TypeError(f"cannot write {type(value).__name__} as JSON: {value!r}")


def dumps(value: Any) -> str:
    """Compact JSON text of ``value`` (dict, list, str, int, bool, None, Money)."""
    out: list[str] = []
    _write(value, out)
    return "".join(out)


def dumps_bytes(value: Any) -> bytes:
    """:func:`dumps` encoded as UTF-8, ready to send."""
    return dumps(value).encode("utf-8")
