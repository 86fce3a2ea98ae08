"""lurkcoinV2 requests and replies: where parameters come from, and the text/JSON answers.

Parameters come from the form (query string, and a urlencoded POST body
first) or, when that yields none, from a JSON object body (spec
lurkcoin-v2.md, "Where parameters come from"). Each is one string; a missing
one reads as "". Errors are plain text ``ERROR: <message>``, and
``force_200=200`` sends every error but 401 with HTTP status 200.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

from aiohttp import web
from aiohttp.typedefs import Handler

from lurkcoin.api.access import set_error_code
from lurkcoin.api.auth import EACH_BYTE
from lurkcoin.api.body import MIN_BODY_BYTES, clean_string, content_type_allowed, read_body
from lurkcoin.api.jsonout import dumps_bytes
from lurkcoin.core.errors import LurkcoinError

log = logging.getLogger(__name__)

FORM_TYPE = "application/x-www-form-urlencoded"
_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_FORCE_200 = "200"
TEXT_TYPE = "text/plain"


class MalformedForm(ValueError):
    """A query or form body Go's url.ParseQuery refuses: the whole form is discarded."""


@dataclass
class Params:
    """A V2 request's parameters: the first value of each (the last one in a JSON body)."""

    values: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str:
        return self.values.get(name, "")

    def has(self, name: str) -> bool:
        return name in self.values

    @property
    def force_200(self) -> bool:
        return self.values.get("force_200") == _FORCE_200


# -- the form ------------------------------------------------------------------------


def _unescape(data: bytes) -> str:
    """Go's QueryUnescape: ``+`` is a space; a bad ``%`` escape is an error."""
    if _BAD_ESCAPE.search(data):
        raise MalformedForm(data)
    # Invalid UTF-8 becomes U+FFFD per byte, as Go reads a byte string.
    return unquote_to_bytes(data.replace(b"+", b" ")).decode("utf-8", errors=EACH_BYTE)


def parse_form(data: bytes) -> list[tuple[str, str]]:
    """Key/value pairs of a query string or urlencoded body, in order (Go's url.ParseQuery)."""
    pairs = []
    for piece in data.split(b"&"):
        if b";" in piece:
            raise MalformedForm("semicolon separator")
        if not piece:
            continue
        key, _, value = piece.partition(b"=")
        pairs.append((_unescape(key), _unescape(value)))
    return pairs


def _first_values(*sources: list[tuple[str, str]]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pairs in sources:
        for key, value in pairs:
            values.setdefault(key, value)
    return values


def _raw_query(request: web.Request) -> bytes:
    return request.raw_path.partition("?")[2].encode("utf-8", errors="surrogateescape")


def _media_type(request: web.Request) -> str:
    return request.headers.get("Content-Type", "").split(";", 1)[0].strip()


def _form(request: web.Request, body: bytes) -> dict[str, str]:
    """The merged form (body values first); empty if the query or body is malformed."""
    try:
        query = parse_form(_raw_query(request))
        posted: list[tuple[str, str]] = []
        if request.method == "POST" and _media_type(request).lower() == FORM_TYPE:
            posted = parse_form(body)
    except MalformedForm:
        return {}
    return _first_values(posted, query)


# -- the JSON body ---------------------------------------------------------------------


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_no_constant)
_WHITESPACE = re.compile(r"[ \t\n\r]*")


def _skip(text: str, index: int) -> int:
    match = _WHITESPACE.match(text, index)
    assert match is not None  # matches the empty string anywhere
    return match.end()


def parse_json_object(raw: bytes) -> dict[str, str]:
    """A JSON object body as strings: strings unescaped, other values as their JSON text.

    Raises ValueError for anything but one JSON object (the caller then has
    no parameters). A repeated key keeps its last value, as the reference.
    """
    text = raw.decode("utf-8", errors="replace")
    values: dict[str, str] = {}
    index = _skip(text, 0)
    if text[index : index + 1] != "{":
        raise ValueError("not an object")
    index = _skip(text, index + 1)
    if text[index : index + 1] == "}":
        index += 1
    else:
        while True:
            if text[index : index + 1] != '"':
                raise ValueError("expected a key")
            key, index = _DECODER.raw_decode(text, index)
            index = _skip(text, index)
            if text[index : index + 1] != ":":
                raise ValueError("expected ':'")
            start = _skip(text, index + 1)
            value, index = _DECODER.raw_decode(text, start)
            values[clean_string(key)] = (
                clean_string(value) if isinstance(value, str) else text[start:index]
            )
            index = _skip(text, index)
            separator = text[index : index + 1]
            index = _skip(text, index + 1)
            if separator == "}":
                break
            if separator != ",":
                raise ValueError("expected ',' or '}'")
    if _skip(text, index) != len(text):
        raise ValueError("text after the object")
    return values


def _json_params(request: web.Request, body: bytes) -> dict[str, str]:
    if len(body) < MIN_BODY_BYTES or not content_type_allowed(request.headers.get("Content-Type")):
        return {}
    try:
        return parse_json_object(body)
    except (ValueError, RecursionError):
        return {}


class BodyTooLarge(Exception):
    """The request body is over 4096 bytes (checked before anything else)."""


async def read_params(request: web.Request) -> Params:
    """Every parameter of a V2 request; BodyTooLarge for a body over the limit."""
    try:
        body = await read_body(request)
    except LurkcoinError as err:
        if err.code == "ERR_PAYLOADTOOLARGE":
            raise BodyTooLarge() from None
        body = b""  # an unreadable body (bad encoding, stalled) carries no parameters
    form = _form(request, body)
    return Params(form if form else _json_params(request, body))


def query_params(request: web.Request) -> Params:
    """The query string alone (a 413 reply reads only this)."""
    try:
        return Params(_first_values(parse_form(_raw_query(request))))
    except MalformedForm:
        return Params()


# -- replies -------------------------------------------------------------------------------


def text_reply(text: str, status: int = 200) -> web.Response:
    return web.Response(status=status, text=text, content_type=TEXT_TYPE, charset="utf-8")


def json_reply(value: object) -> web.Response:
    """A JSON value, written as /v3 writes it (sorted keys are the caller's order)."""
    return json_text_reply(dumps_bytes(value))


def json_text_reply(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="application/json", charset="utf-8")


def error_reply(request: web.Request, err: LurkcoinError, force_200: bool) -> web.Response:
    """``ERROR: <message>`` with the code's status; force_200 never hides a 401.

    The code is recorded for the metrics (a forced error is still an error),
    and a 429 or 503 keeps its Retry-After.
    """
    set_error_code(request, err.code)
    status = err.status
    if force_200 and status != 401:
        status = 200
    response = text_reply(f"ERROR: {err.message}", status)
    response.headers.update(err.headers)
    return response


V2Handler = Callable[[web.Request, Params], Awaitable[web.StreamResponse]]


def endpoint(handler: V2Handler) -> Handler:
    """An aiohttp handler: read the parameters, run ``handler``, answer errors as V2 text."""

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            params = await read_params(request)
        except BodyTooLarge:
            return error_reply(
                request, LurkcoinError("ERR_PAYLOADTOOLARGE"), query_params(request).force_200
            )
        try:
            response = await handler(request, params)
        except LurkcoinError as err:
            response = error_reply(request, err, params.force_200)
        except web.HTTPException:
            raise
        except Exception:
            # A bug, never the client's fault: no traceback on the wire, and
            # only the path (never the query, which may hold a token) in the log.
            log.exception("unhandled error in %s %s", request.method, request.path)
            response = error_reply(request, LurkcoinError("ERR_INTERNALERROR"), force_200=False)
        if params.get("token"):
            response.headers["Cache-Control"] = "no-store"  # a login's answer is not cached
        return response

    handle.__name__ = handler.__name__
    handle.__doc__ = handler.__doc__
    return handle
