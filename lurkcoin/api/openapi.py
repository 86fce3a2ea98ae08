"""The OpenAPI 3.1 document of the API, served at ``/v3/openapi.json``.

The document is built from the route table (lurkcoin.api.routes): each
endpoint says how it logs in, what body it reads, what it returns and which
error codes its own checks can raise. The codes every endpoint of a kind
shares (login, body decoding, internal errors) and the responses (one per
HTTP status, the status taken from lurkcoin.core.errors) are derived here, so
adding a code to an endpoint is enough to document it everywhere it can
appear. tests/test_openapi.py checks that the document and the router list
the same operations and fuzzes the running server against it.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from lurkcoin import __version__
from lurkcoin.api.openapi_schemas import PARAMETERS, components, failure, ref, success
from lurkcoin.api.routing import ENDPOINTS_KEY, Endpoint
from lurkcoin.core.errors import ERRORS

PATH = "/v3/openapi.json"
JSON = "application/json"
TEXT = "text/plain"

# Codes any endpoint of a kind can answer, whatever its own checks are.
_ALWAYS = ("ERR_INTERNALERROR",)
_LOGIN = ("ERR_INVALIDLOGIN", "ERR_FORBIDDEN", "ERR_TOOMANYREQUESTS")
_BODY = ("ERR_INVALIDREQUEST", "ERR_PAYLOADTOOLARGE")

_BODY_FORMAT = (
    "One JSON object of at most 4096 bytes (413 ERR_PAYLOADTOOLARGE otherwise) and at least 3 "
    "(so `{}` is refused), sent with no Content-Type, `application/json` or "
    "`application/<anything>+json`; anything else is 400 ERR_INVALIDREQUEST."
)
_OPTIONAL_BODY_FORMAT = (
    "Optional: a body that is not a usable JSON object (wrong Content-Type, over 4096 bytes, "
    "not JSON) is ignored."
)
_FIELD_RULES = (
    " Field names match without regard to case (`Amount` is `amount`; giving both is "
    "ERR_INVALIDREQUEST, as is a repeated key), unknown fields are ignored, and null means "
    "absent for optional fields."
)


TAGS = {
    "account": "A server's balance and history.",
    "payments": "Paying and quoting.",
    "pending": "The queue of received transactions a server has not processed yet.",
    "settings": "Target balance and webhook URL.",
    "credentials": "Token rotation, read-only API keys and the webhook signing secret.",
    "meta": "About the server and this document.",
    "explorer": "The public explorer (/api/): servers, transactions, rates; GET only, "
    "rate limited per client address, cacheable.",
    "onboarding": "Self-service onboarding (/api/account_requests, when the operator enables "
    "it): ask for a server account, then claim its token once an operator approves.",
}


def _codes(endpoint: Endpoint, method: str) -> list[str]:
    """Every error code the operation can answer, in the order of the error table."""
    codes = set(_ALWAYS) | set(endpoint.codes)
    if endpoint.scopes is not None:
        codes |= set(_LOGIN)
    if endpoint.body is not None and endpoint.body_required and method != "GET":
        codes |= set(_BODY)
    return [code for code in ERRORS if code in codes]


def _responses(endpoint: Endpoint, codes: list[str]) -> dict[str, Any]:
    assert endpoint.result is not None  # checked when the endpoint was declared
    if endpoint.reply == "text":
        return {"200": {"description": "Success.", "content": {TEXT: {"schema": endpoint.result}}}}
    reply = success(endpoint.result) if endpoint.reply == "envelope" else endpoint.result
    responses: dict[str, Any] = {
        "200": {
            "description": "Success; with X-Force-OK also any error (the error envelope).",
            "content": {JSON: {"schema": {"oneOf": [reply, failure(codes)]}}},
        }
    }
    for status in sorted({ERRORS[code][0] for code in codes}):
        at_status = [code for code in codes if ERRORS[code][0] == status]
        response: dict[str, Any] = {
            "description": ", ".join(at_status) + " (HTTP 200 instead with X-Force-OK).",
            "content": {JSON: {"schema": failure(at_status)}},
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


def _security(endpoint: Endpoint) -> list[dict[str, list[str]]]:
    if endpoint.scopes is None:
        return []
    if not endpoint.scopes:
        return [{"basicAuth": []}]
    return [{"basicAuth": []}, {"readKey": []}]


def _operation(endpoint: Endpoint, method: str) -> dict[str, Any]:
    codes = _codes(endpoint, method)
    description = endpoint.description
    if endpoint.scopes:
        description += f" A read-only key needs the scopes: {', '.join(endpoint.scopes)}."
    elif endpoint.scopes is not None:
        description += " Needs the server's token: a read-only key gets 403 ERR_FORBIDDEN."
    operation: dict[str, Any] = {
        "operationId": f"{method.lower()}_{endpoint.name}",
        "summary": endpoint.summary,
        "description": description,
        "tags": [endpoint.tag],
        "security": _security(endpoint),
        # A POST of history reads the query string too, so both methods list its parameters.
        "parameters": [ref(PARAMETERS + name) for name in ("ForceOk", *endpoint.parameters)],
        "responses": _responses(endpoint, codes),
    }
    if endpoint.body is not None and method != "GET":
        media: dict[str, Any] = {"schema": endpoint.body}
        if endpoint.body_example is not None:
            media["example"] = endpoint.body_example
        rules = endpoint.body_rules or (
            (_BODY_FORMAT if endpoint.body_required else _OPTIONAL_BODY_FORMAT) + _FIELD_RULES
        )
        operation["requestBody"] = {
            "required": endpoint.body_required,
            "description": rules,
            "content": {JSON: media},
        }
    return operation


def build_document(endpoints: Iterable[Endpoint]) -> dict[str, Any]:
    """The document of these endpoints' documented operations, as a fresh dict (JSON types only)."""
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in (e for e in endpoints if e.documented):
        for method in endpoint.methods:
            paths.setdefault(endpoint.path, {})[method.lower()] = _operation(endpoint, method)
    # Deep-copied: operations share schema objects with each other and with module constants.
    return copy.deepcopy(
        {
            "openapi": "3.1.0",
            "info": {
                "title": "lurkcoin",
                "version": __version__,
                "summary": "A lurkcoinV3 payment server for game servers.",
                "description": "Every reply is JSON (`application/json; charset=utf-8`): "
                '`{"success": true, "result": ...}` or `{"success": false, '
                '"error": "ERR_...", "message": "..."}`. Every endpoint '
                "documented as GET also answers POST. Amounts are numbers exact to "
                "the cent. Error statuses are listed per operation; the header "
                "X-Force-OK turns any of them into HTTP 200.",
                "license": {"name": "AGPL-3.0-or-later", "identifier": "AGPL-3.0-or-later"},
            },
            "tags": [{"name": name, "description": text} for name, text in TAGS.items()],
            "paths": paths,
            "components": components(),
        }
    )


@functools.lru_cache(maxsize=8)
def _document_bytes(endpoints: tuple[Endpoint, ...]) -> bytes:
    # Built and encoded on first use, then served from memory (endpoints hash by identity).
    return json.dumps(build_document(endpoints), ensure_ascii=False).encode("utf-8")


async def openapi_json(request: web.Request) -> web.StreamResponse:
    """The document of every endpoint the app registered."""
    body = _document_bytes(request.app[ENDPOINTS_KEY])
    return web.Response(body=body, content_type=JSON, charset="utf-8")
