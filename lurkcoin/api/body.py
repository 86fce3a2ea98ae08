"""Reading /v3 request bodies: bounded reads, Content-Type rules and JSON fields.

A body is read whole however it arrives (one segment, several, chunked), but
never more than one byte past the limit, whatever Content-Length claims.
Field names match the way Go's JSON decoder matches them (ignoring case),
because the reference server's clients rely on it (``{"Amount": 3}``).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Final

from aiohttp import HttpVersion11, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web import RequestPayloadError

from lurkcoin.core.errors import LurkcoinError

MAX_BODY_BYTES = 4096
# The reference refuses anything shorter before decoding ("{}" included).
MIN_BODY_BYTES = 3
# Seconds a client may take to send a body of at most 4 KiB.
BODY_TIMEOUT = 30.0


class _Missing:
    """Marks a field the body does not have (distinct from JSON null)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def invalid_request() -> LurkcoinError:
    return LurkcoinError("ERR_INVALIDREQUEST")


async def read_body(request: web.Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The whole body, or ERR_PAYLOADTOOLARGE once it is known to exceed ``limit``."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise LurkcoinError("ERR_PAYLOADTOOLARGE")
    chunks: list[bytes] = []
    received = 0
    try:
        # A client that stops sending mid-body (or breaks the chunked framing,
        # which aiohttp leaves waiting) must not hold the request forever.
        async with asyncio.timeout(BODY_TIMEOUT):
            while True:
                # At most one byte past the limit: enough to know it is too big.
                chunk = await request.content.read(limit + 1 - received)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
                received += len(chunk)
                if received > limit:
                    raise LurkcoinError("ERR_PAYLOADTOOLARGE")
    except (TimeoutError, ConnectionError, HttpProcessingError, RequestPayloadError):
        # RequestPayloadError: a body that does not decode (bad gzip or deflate).
        # The client's fault, not a bug; often nobody is left to read the answer.
        raise invalid_request() from None


async def expect_handler(request: web.Request) -> None:
    """``Expect: 100-continue`` as aiohttp answers it, without echoing other values.

    aiohttp's own handler puts an unknown value into its 417 text and fails
    with a 500 when that value is not valid UTF-8.
    """
    if request.version != HttpVersion11:
        return
    if request.headers.get("Expect", "").strip().lower() == "100-continue":
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return
    raise web.HTTPExpectationFailed(text="Unknown Expect header.\n")


def content_type_allowed(value: str | None) -> bool:
    """No type, ``application/json`` or ``application/<anything>+json``.

    Compared case-sensitively, as the reference does (``Application/JSON``
    is refused); parameters such as ``; charset=utf-8`` are ignored.
    """
    if value is None:
        return True
    media_type = value.split(";", 1)[0].strip()
    if not media_type or media_type == "application/json":
        return True
    return (
        media_type.startswith("application/")
        and media_type.endswith("+json")
        and len(media_type) > len("application/+json")
    )


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate key")
    return obj


# Built once: json.loads(text, **options) would build a new decoder per call.
_DECODER = json.JSONDecoder(
    parse_float=Decimal,
    parse_int=int,
    parse_constant=_refuse_constant,
    object_pairs_hook=_no_duplicates,
)


def decode_object(raw: bytes) -> JsonFields:
    """Decode a body that must be one JSON object; anything else is ERR_INVALIDREQUEST.

    Numbers keep their exact decimal text (Decimal), NaN and Infinity are not
    JSON, and a key given twice in any object makes the request ambiguous.
    """
    if len(raw) < MIN_BODY_BYTES:
        raise invalid_request()
    # Go's decoder reads invalid UTF-8 as U+FFFD rather than failing.
    text = raw.decode("utf-8", errors="replace")
    try:
        value = _DECODER.decode(text)
    except (ValueError, RecursionError):
        raise invalid_request() from None
    if not isinstance(value, dict):
        raise invalid_request()
    return JsonFields(value)


async def read_json_object(request: web.Request) -> JsonFields:
    """Size, Content-Type and JSON checks of an endpoint that needs a body."""
    raw = await read_body(request)
    if not content_type_allowed(request.headers.get("Content-Type")):
        raise invalid_request()
    return decode_object(raw)


async def read_optional_json_object(request: web.Request) -> JsonFields | None:
    """The body's fields if it is a usable JSON object, else None (never an error).

    For endpoints whose reference version ignores the body: a client that
    sends one anyway must not start getting errors.
    """
    try:
        return await read_json_object(request)
    except LurkcoinError:
        return None


def _fold(name: str) -> str:
    """Case-fold a key one code point at a time, like Go's simple case folding."""
    if name.isascii():  # for ASCII, per-character casefold is exactly lower()
        return name.lower()
    folded = []
    for char in name:
        low = char.casefold()
        folded.append(low if len(low) == 1 else char)
    return "".join(folded)


def clean_string(text: str) -> str:
    """Replace lone surrogates (from escapes such as "\\ud800") with U+FFFD, as Go does."""
    return _LONE_SURROGATE.sub("\ufffd", text)


class JsonFields:
    """The top-level fields of a request body, looked up by name without regard to case."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data
        self._by_fold: dict[str, list[str]] = {}
        for key in data:
            self._by_fold.setdefault(_fold(key), []).append(key)

    def unknown(self, known: Iterable[str]) -> list[str]:
        """The body's field names that match none of ``known`` (as the body spells them)."""
        folded = {_fold(name) for name in known}
        return [key for key in self._data if _fold(key) not in folded]

    def get(self, name: str) -> Any:
        """The raw value of field ``name`` (MISSING when absent).

        Two keys that both mean ``name`` (``amount`` and ``Amount``) are as
        ambiguous as a repeated key and make the request invalid.
        """
        keys = self._by_fold.get(_fold(name))
        if not keys:
            return MISSING
        if len(keys) > 1:
            raise invalid_request()
        return self._data[keys[0]]

    def string(self, name: str, default: str = "") -> str:
        """A string field; absent or null gives ``default`` (Go leaves the field as is)."""
        value = self.get(name)
        if value is MISSING or value is None:
            return default
        if not isinstance(value, str):
            raise invalid_request()
        return clean_string(value)

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.get(name)
        if value is MISSING or value is None:
            return default
        if not isinstance(value, bool):
            raise invalid_request()
        return value

    def lenient_string_list(self, name: str) -> list[str]:
        """The strings of a list field; other values are skipped, as the reference does."""
        value = self.get(name)
        if not isinstance(value, list):
            return []
        return [clean_string(item) for item in value if isinstance(item, str)]
