"""The route table: every endpoint the server answers, declared once.

``create_app`` registers these routes and ``/v3/openapi.json`` documents them
(lurkcoin.api.routing and lurkcoin.api.openapi read this table; nothing else
lists paths). To add an endpoint:

1. write its handler (``async def handler(request) -> web.StreamResponse``) in
   the module of its API (v3.py, v3_credentials.py, or a new one such as v2.py);
2. add one ``Endpoint(path, methods, handler, summary, ...)`` below, in its
   section: ``READ`` for a read (GET, and POST as the reference allows),
   ``scopes`` for its login (None: none; (): the token; ("balance",): a
   read-only key with that scope too), ``body``/``codes``/``parameters`` and a
   ``result`` schema (lurkcoin.api.openapi_schemas) for the document, and
   ``reply`` for what it answers ("envelope", "json", "text" or "html");
3. give it a tag listed in lurkcoin.api.openapi.TAGS, or ``documented=False``
   to keep it out of the document (HTML pages, operations endpoints).

tests/test_openapi.py then checks that the router and the document agree and
fuzzes the new endpoint. A feature may also keep its own tuple of endpoints
in its module and pass it to ``add_endpoints`` beside this one.
"""

from __future__ import annotations

from lurkcoin.api import batches, health, metrics, openapi, v3, v3_credentials
from lurkcoin.api.openapi_schemas import (
    LABEL,
    NULL,
    OPENAPI_DOCUMENT,
    SCHEMAS,
    TARGET_BALANCE_MAX,
    body_schema,
    money_input,
    ref,
)
from lurkcoin.api.routing import READ, Endpoint
from lurkcoin.core.names import MAX_USERNAME_LENGTH
from lurkcoin.core.urls import MAX_WEBHOOK_URL_LENGTH
from lurkcoin.ledger.batches import MAX_BATCH_PAYMENTS
from lurkcoin.ledger.engine import UNIX_TIME_MAX

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
_UNIX_TIME = {
    "anyOf": [
        {"type": "integer", "minimum": 0, "maximum": UNIX_TIME_MAX},
        {"type": "string", "pattern": "^[0-9]{1,12}$"},
        NULL,
    ]
}
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

_PAY_BODY = body_schema(
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
            "description": "Convert `amount` from the paying server's currency (default false).",
        },
    },
    ["target_server", "amount"],
)
_PAY_CODES = (
    "ERR_INVALIDIDEMPOTENCYKEY",
    "ERR_IDEMPOTENCYKEYREUSED",
    "ERR_INVALIDAMOUNT",
    "ERR_TRANSACTIONLIMIT",
    "ERR_SERVERNOTFOUND",
    "ERR_SOURCEUSERNAMETOOLONG",
    "ERR_USERNAMETOOLONG",
    "ERR_CANNOTPAYNOTHING",
    "ERR_CANNOTAFFORD",
)
_PAY_EXAMPLE = {
    "source": "alice",
    "target": "bob",
    "target_server": "ServerB",
    "amount": 12.5,
    "local_currency": False,
}


ENDPOINTS: tuple[Endpoint, ...] = (
    # -- /v3: the lurkcoinV3 API (JSON envelopes, HTTP Basic or a read-only key) ------
    Endpoint(
        "/v3/summary",
        READ,
        v3.summary,
        "Account summary",
        "Name, balance, target balance and the 10 newest transactions.",
        "account",
        ref(SCHEMAS + "Summary"),
        scopes=("balance", "history"),
    ),
    Endpoint(
        "/v3/pay",
        ("POST",),
        v3.pay,
        "Pay a user on a server",
        "The body is checked before the login. Returns the transaction; when `target` is "
        "not empty it also enters the receiving server's pending queue.",
        "payments",
        ref(SCHEMAS + "Transaction"),
        body=_PAY_BODY,
        body_example=_PAY_EXAMPLE,
        codes=_PAY_CODES,
        parameters=("IdempotencyKey",),
    ),
    Endpoint(
        "/v3/pay_batch",
        ("POST",),
        batches.pay_batch,
        "Pay several users at once, all or none",
        "An extra: 1 to 100 payments, each with the fields of /v3/pay, committed together "
        "or not at all. Each gets its own transaction (and pending entry), returned in "
        "order. If one fails, nothing is paid and the error is that of the first payment "
        "that fails, with its position in an extra `index` field (from 0). One "
        "`Idempotency-Key` covers the whole batch. The body may be up to 65536 bytes.",
        "payments",
        _TXNS,
        body=body_schema(
            {
                "payments": {
                    "type": "array",
                    "items": _PAY_BODY,
                    "minItems": 1,
                    "maxItems": MAX_BATCH_PAYMENTS,
                }
            },
            ["payments"],
        ),
        body_example={"payments": [_PAY_EXAMPLE, _PAY_EXAMPLE | {"amount": 3}]},
        codes=_PAY_CODES,
        parameters=("IdempotencyKey",),
    ),
    Endpoint(
        "/v3/balance",
        READ,
        v3.balance,
        "Balance",
        "The balance as a number; with `at` (an extra), the balance at that time.",
        "account",
        ref(SCHEMAS + "Money"),
        scopes=("balance",),
        codes=("ERR_INVALIDREQUEST",),
        parameters=("BalanceAt",),
    ),
    Endpoint(
        "/v3/history",
        READ,
        v3.history,
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
                "since": _UNIX_TIME,
                "until": _UNIX_TIME,
            },
            [],
        ),
        body_required=False,
        codes=("ERR_INVALIDREQUEST", "ERR_TRANSACTIONNOTFOUND"),
        parameters=("HistoryLimit", "HistoryBefore", "HistorySince", "HistoryUntil"),
    ),
    Endpoint(
        "/v3/exchange_rates",
        ("POST",),
        v3.exchange_rates,
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
        READ,
        v3.pending_transactions,
        "Pending transactions",
        "Transactions received and not yet acknowledged or rejected (order not promised).",
        "pending",
        _TXNS,
        scopes=("pending",),
    ),
    Endpoint(
        "/v3/acknowledge_transactions",
        ("POST",),
        v3.acknowledge_transactions,
        "Acknowledge pending transactions",
        "Marks them processed.",
        "pending",
        NULL,
        body=_TXN_IDS,
    ),
    Endpoint(
        "/v3/reject_transactions",
        ("POST",),
        v3.reject_transactions,
        "Reject pending transactions",
        "Marks them rejected; each revertable one is refunded exactly, in the same "
        "database transaction (a refund the server cannot cover is recorded as failed).",
        "pending",
        NULL,
        body=_TXN_IDS,
    ),
    Endpoint(
        "/v3/target_balance",
        READ,
        v3.get_target_balance,
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
            v3.set_target_balance,
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
        READ,
        v3.get_webhook_url,
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
            v3.set_webhook_url,
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
        READ,
        v3.version,
        "Server version",
        "Needs no login.",
        "meta",
        ref(SCHEMAS + "Version"),
        scopes=None,
    ),
    Endpoint(
        "/v3/regenerate_token",
        ("POST",),
        v3_credentials.regenerate_token,
        "Regenerate the API token",
        "Returns a new token; the old one keeps working until the new one is first used.",
        "credentials",
        {"type": "string"},
        codes=("ERR_SERVERNOTFOUND",),
    ),
    Endpoint(
        "/v3/rotate_webhook_secret",
        ("POST",),
        v3_credentials.rotate_webhook_secret,
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
        v3_credentials.create_api_key,
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
        READ,
        v3_credentials.list_api_keys,
        "List the active read-only API keys",
        "Oldest first, without the keys themselves.",
        "credentials",
        {"type": "array", "items": ref(SCHEMAS + "ApiKey")},
    ),
    Endpoint(
        "/v3/revoke_api_key",
        ("POST",),
        v3_credentials.revoke_api_key,
        "Revoke a read-only API key",
        "The key stops working at once; an id that is not one of this server's active "
        "keys is ERR_INVALIDREQUEST.",
        "credentials",
        NULL,
        body=body_schema({"id": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}}, ["id"]),
    ),
    Endpoint(
        openapi.PATH,
        READ,
        openapi.openapi_json,
        "This document",
        "The OpenAPI 3.1 document of the API. Needs no login.",
        "meta",
        OPENAPI_DOCUMENT,
        scopes=None,
        reply="json",
    ),
    # -- operations: not part of the API document -------------------------------------
    Endpoint(
        "/healthz",
        ("GET",),
        health.healthz,
        "Liveness: the process answers",
        reply="text",
        scopes=None,
        documented=False,
    ),
    Endpoint(
        "/readyz",
        ("GET",),
        health.readyz,
        "Readiness: a round trip through the writer and a read (503 with the reason)",
        reply="text",
        scopes=None,
        documented=False,
    ),
    Endpoint(
        "/metrics",
        ("GET",),
        metrics.metrics,
        "Prometheus metrics (loopback clients only)",
        reply="text",
        scopes=None,
        documented=False,
    ),
)
