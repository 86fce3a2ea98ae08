"""The OpenAPI 3.1 document of the legacy lurkcoinV2 API, served at ``/v2/openapi.json``.

Built from the V2 route table (lurkcoin.api.v2_routes) the way
``/v3/openapi.json`` is built from the main one: each endpoint's
parameters, login, reply and own error codes. V2 is documented apart
because its wire differs throughout: credentials are parameters, a request
may be a query string, a form or a JSON object, and errors are plain text.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from lurkcoin import __version__
from lurkcoin.api.routing import ENDPOINTS_KEY, Endpoint
from lurkcoin.core.errors import ERRORS
from lurkcoin.ledger.pay_order import IDEMPOTENCY_KEY_MAX

PATH = "/v2/openapi.json"
JSON = "application/json"
TEXT = "text/plain"
FORM = "application/x-www-form-urlencoded"
PREFIX = "/v2/"

Schema = dict[str, Any]

_ALWAYS = ("ERR_PAYLOADTOOLARGE", "ERR_INTERNALERROR")
_LOGIN = ("ERR_INVALIDLOGIN", "ERR_FORBIDDEN", "ERR_TOOMANYREQUESTS")
_ERROR_TEXT: Schema = {
    "type": "string",
    "pattern": "^ERROR: ",
    "description": "`ERROR: ` and the message of the error table.",
}
_FORCED = "Success. With `force_200=200` also any error but 401, as its `ERROR: ...` text."

# Every parameter a V2 endpoint reads, with what it means.
PARAMETERS: dict[str, str] = {
    "name": "The server's name (matched by uid); the login with `token`.",
    "token": "The server's token, or a read-only API key of that server (for reads its "
    "scopes allow).",
    "force_200": "`200`: errors other than 401 are sent with HTTP status 200.",
    "json": "Non-empty (even `0`): the lines as a JSON list instead of text.",
    "from": "The server whose currency the amount is in (empty: lurkcoins).",
    "to": "The server whose currency to convert into (empty: lurkcoins).",
    "amount": "An amount (`_` and one leading `\u00a4` are ignored; exact decimals). "
    "exchange_rates reads a missing, invalid or non-positive one as 1; "
    "remove_transactions reads it as a whole number of entries (default 1).",
    "count": "remove_transactions: read as `amount` when `amount` is absent (the 2020 "
    "Minetest mod sends it).",
    "multiplier": "A positive decimal; the target balance becomes multiplier \u00d7 "
    "\u00a4500,000.00 (at least \u00a40.01, at most \u00a4500,000,000.00).",
    "simple": "Non-empty: only the first pending transaction, as one `|`-separated line "
    "(or the rate alone, as a JSON string, when none is pending).",
    "as_object": "`true`, `yes`, `y` or `1`: an object with the exchange rate.",
    "server": "The server paid (matched by uid); empty: the instance's configured name.",
    "source": "The paying user (at most 48 characters after trimming spaces).",
    "target": "The user paid (at most 48 characters); empty keeps the payment out of the "
    "pending queue.",
    "local_currency": "`true`, `yes`, `y` or `1` (any case): `amount` is in the paying "
    "server's currency.",
}
_COMMON = ("force_200",)
_LOGIN_PARAMS = ("name", "token")


def _operation_parameters(endpoint: Endpoint) -> list[Schema]:
    login = _LOGIN_PARAMS if endpoint.scopes is not None else ()
    names = list(dict.fromkeys((*login, *endpoint.parameters, *_COMMON)))
    parameters = [
        {
            "name": name,
            "in": "query",
            "required": False,
            "description": PARAMETERS[name],
            "schema": {"type": "string"},
        }
        for name in names
    ]
    if endpoint.path == "/v2/pay":
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "Retrying with the same key returns the first payment's answer "
                "without paying again (shared with /v3/pay).",
                "schema": {"type": "string", "maxLength": IDEMPOTENCY_KEY_MAX},
            }
        )
    return parameters


def _request_body(endpoint: Endpoint, parameters: list[Schema]) -> Schema:
    names = [p["name"] for p in parameters if p["in"] == "query"]
    as_form = {"type": "object", "properties": {n: {"type": "string"} for n in names}}
    as_json = {
        "type": "object",
        "properties": {n: {"type": ["string", "number", "boolean"]} for n in names},
    }
    return {
        "required": False,
        "description": "The same parameters as a urlencoded form (merged with the query "
        "string; the body's values first) or, when the form yields none, a JSON object "
        "(other values than strings are read as their JSON text). At most 4096 bytes "
        "(413 otherwise, checked first).",
        "content": {FORM: {"schema": as_form}, JSON: {"schema": as_json}},
    }


def _codes(endpoint: Endpoint) -> list[str]:
    codes = set(_ALWAYS) | set(endpoint.codes)
    if endpoint.scopes is not None:
        codes |= set(_LOGIN)
    return [code for code in ERRORS if code in codes]


def _responses(endpoint: Endpoint) -> dict[str, Any]:
    assert endpoint.result is not None
    success: dict[str, Any] = {TEXT: {"schema": {"type": "string"}}}
    if endpoint.reply == "json":
        success[JSON] = {"schema": endpoint.result}
    responses: dict[str, Any] = {"200": {"description": _FORCED, "content": success}}
    codes = _codes(endpoint)
    for status in sorted({ERRORS[code][0] for code in codes}):
        at_status = [code for code in codes if ERRORS[code][0] == status]
        messages = "; ".join(f"`ERROR: {ERRORS[code][1]}`" for code in at_status)
        response: dict[str, Any] = {
            "description": messages,
            "content": {TEXT: {"schema": _ERROR_TEXT}},
        }
        if status == 429:
            response["headers"] = {
                "Retry-After": {
                    "description": "Seconds until a login may be tried again.",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1},
                }
            }
        responses[str(status)] = response
    return responses


def _operation(endpoint: Endpoint, method: str) -> dict[str, Any]:
    description = endpoint.description
    if endpoint.scopes:
        description += (
            f" A read-only key as `token` needs the scopes: {', '.join(endpoint.scopes)}."
        )
    elif endpoint.scopes is not None:
        description += " Needs the server's token: a read-only key gets 403."
    parameters = _operation_parameters(endpoint)
    operation: dict[str, Any] = {
        "operationId": f"v2_{method.lower()}_{endpoint.name}",
        "summary": endpoint.summary,
        "description": description.strip(),
        "tags": [endpoint.tag],
        "parameters": parameters,
        "responses": _responses(endpoint),
    }
    if method == "POST":
        operation["requestBody"] = _request_body(endpoint, parameters)
    return operation


def build_v2_document(endpoints: Iterable[Endpoint]) -> dict[str, Any]:
    """The document of the /v2 endpoints among ``endpoints`` (a fresh dict, JSON types only)."""
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        if endpoint.path.startswith(PREFIX) and endpoint.result is not None:
            for method in endpoint.methods:
                paths.setdefault(endpoint.path, {})[method.lower()] = _operation(endpoint, method)
    return copy.deepcopy(
        {
            "openapi": "3.1.0",
            "info": {
                "title": "lurkcoin: the legacy lurkcoinV2 API",
                "version": __version__,
                "summary": "lurkcoin-core 3.0.10's /v2 endpoints, on the same ledger as /v3.",
                "description": "Every endpoint answers GET and POST alike. Parameters come "
                "from the query string and a urlencoded body, or else from a JSON object "
                "body; a missing one is empty. Replies are JSON "
                "(`application/json; charset=utf-8`) or text "
                "(`text/plain; charset=utf-8`); errors are text, `ERROR: <message>`. "
                "Amounts are exact to the cent.",
                "license": {"name": "AGPL-3.0-or-later", "identifier": "AGPL-3.0-or-later"},
            },
            "tags": [
                {"name": "account", "description": "A server's balance, history and settings."},
                {"name": "payments", "description": "Paying and quoting."},
                {"name": "pending", "description": "Received transactions not processed yet."},
            ],
            "paths": paths,
        }
    )


@functools.lru_cache(maxsize=8)
def _document_bytes(endpoints: tuple[Endpoint, ...]) -> bytes:
    return json.dumps(build_v2_document(endpoints), ensure_ascii=False).encode("utf-8")


async def v2_openapi_json(request: web.Request) -> web.StreamResponse:
    """The document of every /v2 endpoint the app registered."""
    body = _document_bytes(request.app[ENDPOINTS_KEY])
    return web.Response(body=body, content_type=JSON, charset="utf-8")
