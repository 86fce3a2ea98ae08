"""The OpenAPI 3.1 document of the /v3 API, served at ``/v3/openapi.json``.

The document is built once from a table of endpoints below: each says how it
logs in, what body it reads, what it returns and which error codes its own
checks can raise. The codes every endpoint of a kind shares (login, body
decoding, internal errors) and the responses (one per HTTP status, the status
taken from lurkcoin.core.errors) are derived, so adding a code to the table
is enough to document it everywhere it can appear. tests/test_openapi.py
checks that the document and the router list the same operations and fuzzes
the running server against it.
"""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from lurkcoin import __version__
from lurkcoin.api.openapi_schemas import (
    LABEL,
    NULL,
    OPENAPI_DOCUMENT,
    PARAMETERS,
    SCHEMAS,
    TARGET_BALANCE_MAX,
    Schema,
    body_schema,
    components,
    failure,
    money_input,
    ref,
    success,
)
from lurkcoin.core.errors import ERRORS
from lurkcoin.core.names import MAX_USERNAME_LENGTH
from lurkcoin.core.urls import MAX_WEBHOOK_URL_LENGTH

PATH = "/v3/openapi.json"
JSON = "application/json"

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


@dataclass(frozen=True)
class Endpoint:
    """One path and the methods that share its meaning (a GET endpoint also answers POST)."""

    path: str
    methods: tuple[str, ...]
    summary: str
    description: str
    tag: str
    result: Schema  # the "result" of the success envelope (or the whole reply, if not enveloped)
    # None: no login; (): the server's token only; scopes: a read-only key with them also works.
    scopes: tuple[str, ...] | None = ()
    body: Schema | None = None
    body_required: bool = True  # False: an unusable body is ignored, never an error
    body_example: dict[str, Any] | None = None
    codes: tuple[str, ...] = ()  # the endpoint's own error codes
    parameters: tuple[str, ...] = ()  # names in components/parameters
    enveloped: bool = True

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[1].replace(".", "_")


_TXNS = {"type": "array", "items": ref(SCHEMAS + "Transaction")}
_TXN_IDS = body_schema(
    {
        "transactions": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Transaction ids. Unknown, foreign and already processed ids are "
            "ignored (so are items that are not strings).",
        }
    },
    ["transactions"],
)
_NAME = {"type": ["string", "null"]}
_USER = _NAME | {"maxLength": MAX_USERNAME_LENGTH}
_SET_TARGET = (
    "Set the target balance",
    (
        "Exchange rates follow the ratio of the target balance to the balance; 0 means "
        "the local currency is worth one lurkcoin."
    ),
)
_SET_WEBHOOK = (
    "Set or clear the webhook URL",
    (
        "Only http(s) URLs with a host and no credentials; the query and fragment are "
        "dropped and `/lurkcoin` is appended to the path unless it ends with it. "
        "Returns the URL as stored (or null). A signing secret is kept while a URL "
        "is set."
    ),
)
_WEBHOOK_BODY = body_schema(
    {
        "webhook_url": {
            "type": ["string", "null"],
            "maxLength": MAX_WEBHOOK_URL_LENGTH,
            "description": "The URL; null or the empty string clears it.",
        }
    },
    ["webhook_url"],
)

TAGS = {
    "account": "A server's balance and history.",
    "payments": "Paying and quoting.",
    "pending": "The queue of received transactions a server has not processed yet.",
    "settings": "Target balance and webhook URL.",
    "credentials": "Token rotation, read-only API keys and the webhook signing secret.",
    "meta": "About the server and this document.",
}

ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "/v3/summary",
        ("GET", "POST"),
        "Account summary",
        "Name, balance, target balance and the 10 newest transactions.",
        "account",
        ref(SCHEMAS + "Summary"),
        scopes=("balance", "history"),
    ),
    Endpoint(
        "/v3/pay",
        ("POST",),
        "Pay a user on a server",
        "The body is checked before the login. Returns the transaction; when `target` is "
        "not empty it also enters the receiving server's pending queue.",
        "payments",
        ref(SCHEMAS + "Transaction"),
        body=body_schema(
            {
                "source": _USER
                | {
                    "description": "The paying user (default: empty); spaces "
                    "around it are dropped (ERR_SOURCEUSERNAMETOOLONG if "
                    "still too long)."
                },
                "target": _USER
                | {
                    "description": "The user paid (default: empty, which "
                    "keeps the payment out of the pending queue); spaces "
                    "around it are dropped (ERR_USERNAMETOOLONG if still "
                    "too long)."
                },
                "target_server": {
                    "type": "string",
                    "description": "Name of the server paid (matched by uid).",
                },
                "amount": money_input(
                    "The amount, in lurkcoins or (with `local_currency`) in "
                    "the paying server's currency; more than 0 and at most "
                    "the max spend (10,000 by default)."
                ),
                "local_currency": {
                    "type": ["boolean", "null"],
                    "description": "Convert "
                    "`amount` from the paying server's currency (default false).",
                },
            },
            ["target_server", "amount"],
        ),
        body_example={
            "source": "alice",
            "target": "bob",
            "target_server": "ServerB",
            "amount": 12.5,
            "local_currency": False,
        },
        codes=(
            "ERR_INVALIDIDEMPOTENCYKEY",
            "ERR_IDEMPOTENCYKEYREUSED",
            "ERR_INVALIDAMOUNT",
            "ERR_TRANSACTIONLIMIT",
            "ERR_SERVERNOTFOUND",
            "ERR_SOURCEUSERNAMETOOLONG",
            "ERR_USERNAMETOOLONG",
            "ERR_CANNOTPAYNOTHING",
            "ERR_CANNOTAFFORD",
        ),
        parameters=("IdempotencyKey",),
    ),
    Endpoint(
        "/v3/balance",
        ("GET", "POST"),
        "Balance",
        "The balance as a number.",
        "account",
        ref(SCHEMAS + "Money"),
        scopes=("balance",),
    ),
    Endpoint(
        "/v3/history",
        ("GET", "POST"),
        "Transaction history",
        "Newest first; 10 unless `limit` says otherwise, and `before` pages back through "
        "everything. With POST the parameters may come in the body instead of the query "
        "(not both); a body that cannot be used is ignored.",
        "account",
        _TXNS,
        scopes=("history",),
        body=body_schema(
            {
                "limit": {
                    "anyOf": [
                        {"type": "integer", "minimum": 1, "maximum": 500},
                        {"type": "string", "pattern": "^[0-9]{1,9}$"},
                        NULL,
                    ]
                },
                "before": {"type": ["string", "null"], "minLength": 1},
            },
            [],
        ),
        body_required=False,
        codes=("ERR_INVALIDREQUEST", "ERR_TRANSACTIONNOTFOUND"),
        parameters=("HistoryLimit", "HistoryBefore"),
    ),
    Endpoint(
        "/v3/exchange_rates",
        ("POST",),
        "Convert an amount between currencies",
        "From `source`'s local currency to `target`'s (an empty or absent name means "
        "lurkcoins). Needs no login.",
        "payments",
        ref(SCHEMAS + "Money"),
        scopes=None,
        body=body_schema(
            {
                "source": _NAME | {"description": "A server name, or empty."},
                "target": _NAME | {"description": "A server name, or empty."},
                "amount": money_input("The amount, not negative."),
            },
            ["amount"],
        ),
        body_example={"source": "ServerA", "target": "ServerB", "amount": 10},
        codes=(
            "ERR_INVALIDAMOUNT",
            "ERR_TRANSACTIONLIMIT",
            "ERR_SOURCESERVERNOTFOUND",
            "ERR_TARGETSERVERNOTFOUND",
            "ERR_CANNOTAFFORD",
        ),
    ),
    Endpoint(
        "/v3/pending_transactions",
        ("GET", "POST"),
        "Pending transactions",
        "Transactions received and not yet acknowledged or rejected (order not promised).",
        "pending",
        _TXNS,
        scopes=("pending",),
    ),
    Endpoint(
        "/v3/acknowledge_transactions",
        ("POST",),
        "Acknowledge pending transactions",
        "Marks them processed.",
        "pending",
        NULL,
        body=_TXN_IDS,
    ),
    Endpoint(
        "/v3/reject_transactions",
        ("POST",),
        "Reject pending transactions",
        "Marks them rejected; each revertable one is refunded exactly, in the same "
        "database transaction (a refund the server cannot cover is recorded as failed).",
        "pending",
        NULL,
        body=_TXN_IDS,
    ),
    Endpoint(
        "/v3/target_balance",
        ("GET", "POST"),
        "Target balance",
        "The target balance as a number.",
        "settings",
        ref(SCHEMAS + "Money"),
        scopes=("balance",),
    ),
    *(
        Endpoint(
            path,
            (method,),
            *_SET_TARGET,
            "settings",
            NULL,
            body=body_schema(
                {
                    "target_balance": money_input(
                        f"The new target balance, 0 to {TARGET_BALANCE_MAX:,}.",
                        minimum=0,
                        maximum=TARGET_BALANCE_MAX,
                    )
                },
                ["target_balance"],
            ),
            body_example={"target_balance": 1000},
            codes=("ERR_INVALIDAMOUNT", "ERR_SERVERNOTFOUND"),
        )
        for path, method in (("/v3/target_balance", "PUT"), ("/v3/set_target_balance", "POST"))
    ),
    Endpoint(
        "/v3/webhook_url",
        ("GET", "POST"),
        "Webhook URL",
        "The webhook URL, or null.",
        "settings",
        {"type": ["string", "null"]},
        scopes=("balance",),
    ),
    *(
        Endpoint(
            path,
            (method,),
            *_SET_WEBHOOK,
            "settings",
            {"type": ["string", "null"]},
            body=_WEBHOOK_BODY,
            body_example={"webhook_url": "https://game.example/hooks"},
            codes=("ERR_INVALIDWEBHOOKURL", "ERR_SERVERNOTFOUND"),
        )
        for path, method in (("/v3/webhook_url", "PUT"), ("/v3/set_webhook_url", "POST"))
    ),
    Endpoint(
        "/v3/version",
        ("GET", "POST"),
        "Server version",
        "Needs no login.",
        "meta",
        ref(SCHEMAS + "Version"),
        scopes=None,
    ),
    Endpoint(
        "/v3/regenerate_token",
        ("POST",),
        "Regenerate the API token",
        "Returns a new token; the old one keeps working until the new one is first used.",
        "credentials",
        {"type": "string"},
        codes=("ERR_SERVERNOTFOUND",),
    ),
    Endpoint(
        "/v3/rotate_webhook_secret",
        ("POST",),
        "Rotate the webhook signing secret",
        "Returns a new `whsec_...` secret (deliveries are signed with it from now on, "
        "Standard Webhooks style). ERR_INVALIDREQUEST when no webhook URL is set.",
        "credentials",
        {"type": "string", "pattern": "^whsec_"},
        codes=("ERR_INVALIDREQUEST", "ERR_SERVERNOTFOUND"),
    ),
    Endpoint(
        "/v3/api_keys",
        ("POST",),
        "Create a read-only API key",
        "The key is in the result, shown only this once (stored hashed). At most 50 "
        "active keys per server.",
        "credentials",
        ref(SCHEMAS + "NewApiKey"),
        body=body_schema(
            {
                "scopes": {"type": "array", "items": ref(SCHEMAS + "Scope"), "minItems": 1},
                "label": LABEL,
            },
            ["scopes"],
        ),
        body_example={"scopes": ["balance", "history"], "label": "dashboard"},
        codes=("ERR_SERVERNOTFOUND",),
    ),
    Endpoint(
        "/v3/list_api_keys",
        ("GET", "POST"),
        "List the active read-only API keys",
        "Oldest first, without the keys themselves.",
        "credentials",
        {"type": "array", "items": ref(SCHEMAS + "ApiKey")},
    ),
    Endpoint(
        "/v3/revoke_api_key",
        ("POST",),
        "Revoke a read-only API key",
        "The key stops working at once; an id that is not one of this server's active "
        "keys is ERR_INVALIDREQUEST.",
        "credentials",
        NULL,
        body=body_schema({"id": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}}, ["id"]),
    ),
    Endpoint(
        PATH,
        ("GET", "POST"),
        "This document",
        "The OpenAPI 3.1 document of the API. Needs no login.",
        "meta",
        OPENAPI_DOCUMENT,
        scopes=None,
        enveloped=False,
    ),
]


def _codes(endpoint: Endpoint, method: str) -> list[str]:
    """Every error code the operation can answer, in the order of the error table."""
    codes = set(_ALWAYS) | set(endpoint.codes)
    if endpoint.scopes is not None:
        codes |= set(_LOGIN)
    if endpoint.body is not None and endpoint.body_required and method != "GET":
        codes |= set(_BODY)
    return [code for code in ERRORS if code in codes]


def _responses(endpoint: Endpoint, codes: list[str]) -> dict[str, Any]:
    reply = success(endpoint.result) if endpoint.enveloped else endpoint.result
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
        operation["requestBody"] = {
            "required": endpoint.body_required,
            "description": (_BODY_FORMAT if endpoint.body_required else _OPTIONAL_BODY_FORMAT)
            + _FIELD_RULES,
            "content": {JSON: media},
        }
    return operation


def build_document() -> dict[str, Any]:
    """The whole document as a fresh dict (JSON types only), safe for the caller to change."""
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
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


@functools.cache
def _document_bytes() -> bytes:
    # Built and encoded on first use, then served from memory.
    return json.dumps(build_document(), ensure_ascii=False).encode("utf-8")


async def openapi_json(request: web.Request) -> web.StreamResponse:
    return web.Response(body=_document_bytes(), content_type=JSON, charset="utf-8")


def add_openapi_routes(router: web.UrlDispatcher) -> None:
    """Register ``GET`` and ``POST /v3/openapi.json`` (no login)."""
    for method in ("GET", "POST"):
        router.add_route(method, PATH, openapi_json)
