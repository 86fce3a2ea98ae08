"""The /v2 route table: the legacy endpoints, registered beside the main table.

``create_app`` adds these with ``add_endpoints`` unless ``[api] min_version =
3``; ``/v2/openapi.json`` documents them (lurkcoin.api.v2_openapi). Every
endpoint answers GET and POST alike; HEAD gets 405, as from the reference.
They stay out of the /v3 document (``documented=False``): V2's wire, with
credentials as parameters and text errors, is described in its own.
"""

from __future__ import annotations

from lurkcoin.api import v2
from lurkcoin.api.routing import READ, Endpoint, Schema
from lurkcoin.api.v2_openapi import v2_openapi_json
from lurkcoin.api.v2_request import endpoint

_MONEY: Schema = {"type": "number", "description": "An amount exact to the cent (12.3, 12.0)."}
_TEXT: Schema = {"type": "string"}
_LINES: Schema = {
    "type": "array",
    "items": {"type": "string"},
    "description": "History lines, newest first: `<balance>: +<amount> - Transaction from "
    "'<server>' to '<user>'.` or `... -<amount> - Transaction to '<user>' on '<server>'.`, "
    "then `¤0.00: Account created` when fewer than 10.",
}
_ENTRY: Schema = {
    "type": "array",
    "items": {"type": ["integer", "string", "number"]},
    "minItems": 4,
    "maxItems": 4,
    "description": "[legacy id (1 to 9,999,999), target user (¤ written _), amount received, "
    "description]",
}
_PENDING: Schema = {
    "oneOf": [
        {"type": "array", "items": _ENTRY},
        {
            "type": "object",
            "required": ["exchange_rate", "transactions"],
            "properties": {
                "exchange_rate": {"type": "number"},
                "transactions": {"type": "array", "items": _ENTRY},
            },
        },
        {"type": "string", "description": "`simple` with nothing pending: the rate alone."},
    ]
}
_SUMMARY: Schema = {
    "type": "object",
    "required": ["bal", "balance", "history", "interest_rate", "server", "uid"],
    "properties": {
        "bal": _MONEY,
        "balance": {"type": "string", "examples": ["¤1,000.00"]},
        "history": _LINES,
        "interest_rate": {"const": 0},
        "server": {"const": True},
        "uid": {"type": "string"},
    },
}
_PAY_CODES = (
    "ERR_INVALIDAMOUNT",
    "ERR_TRANSACTIONLIMIT",
    "ERR_SERVERNOTFOUND",
    "ERR_SOURCEUSERNAMETOOLONG",
    "ERR_USERNAMETOOLONG",
    "ERR_CANNOTPAYNOTHING",
    "ERR_CANNOTAFFORD",
    "ERR_INVALIDIDEMPOTENCYKEY",
    "ERR_IDEMPOTENCYKEYREUSED",
)
_QUOTE_CODES = (
    "ERR_SOURCESERVERNOTFOUND",
    "ERR_TARGETSERVERNOTFOUND",
    "ERR_TRANSACTIONLIMIT",
    "ERR_CANNOTAFFORD",
)

V2_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "/v2/summary",
        READ,
        endpoint(v2.summary),
        "Balance, uid and history lines",
        tag="account",
        result=_SUMMARY,
        reply="json",
        scopes=("balance", "history"),
        documented=False,
    ),
    Endpoint(
        "/v2/bal",
        READ,
        endpoint(v2.bal),
        "The balance",
        tag="account",
        result=_MONEY,
        reply="json",
        scopes=("balance",),
        documented=False,
    ),
    Endpoint(
        "/v2/history",
        READ,
        endpoint(v2.history),
        "History lines, as text or JSON",
        tag="account",
        result=_LINES,
        reply="json",
        scopes=("history",),
        parameters=("json",),
        documented=False,
    ),
    Endpoint(
        "/v2/exchange_rates",
        READ,
        endpoint(v2.exchange_rates),
        "Convert an amount between two servers' currencies",
        "No login. Named servers must exist.",
        tag="payments",
        result=_MONEY,
        reply="json",
        scopes=None,
        codes=_QUOTE_CODES,
        parameters=("from", "to", "amount"),
        documented=False,
    ),
    Endpoint(
        "/v2/get_exchange_rate",
        READ,
        endpoint(v2.get_exchange_rate),
        "Convert an amount from the currency of the server `name`",
        "exchange_rates with `name` as `from`; no login.",
        tag="payments",
        result=_MONEY,
        reply="json",
        scopes=None,
        codes=_QUOTE_CODES,
        parameters=("name", "to", "amount"),
        documented=False,
    ),
    Endpoint(
        "/v2/get_exchange_multiplier",
        READ,
        endpoint(v2.get_exchange_multiplier),
        "The target balance as a multiplier",
        "Target balance / ¤500,000.00 (1 for a fixed rate).",
        tag="account",
        result=_MONEY,
        reply="json",
        scopes=("balance",),
        documented=False,
    ),
    Endpoint(
        "/v2/set_exchange_multiplier",
        READ,
        endpoint(v2.set_exchange_multiplier),
        "Set the target balance from a multiplier",
        tag="account",
        result=_TEXT,
        reply="text",
        codes=("ERR_INVALIDAMOUNT",),
        parameters=("multiplier",),
        documented=False,
    ),
    Endpoint(
        "/v2/get_transactions",
        READ,
        endpoint(v2.get_transactions),
        "The pending transactions, oldest first",
        tag="pending",
        result=_PENDING,
        reply="json",
        scopes=("pending",),
        parameters=("simple", "as_object"),
        documented=False,
    ),
    Endpoint(
        "/v2/remove_transactions",
        READ,
        endpoint(v2.remove_transactions),
        "Mark the oldest pending transactions processed",
        "Nothing is refunded.",
        tag="pending",
        result=_TEXT,
        reply="text",
        parameters=("amount", "count"),
        documented=False,
    ),
    Endpoint(
        "/v2/pay",
        READ,
        endpoint(v2.pay),
        "Pay a user on a server",
        "The amount is checked before the login.",
        tag="payments",
        result=_TEXT,
        reply="text",
        codes=_PAY_CODES,
        parameters=("amount", "server", "source", "target", "local_currency"),
        documented=False,
    ),
    Endpoint(
        "/v2/openapi.json", READ, v2_openapi_json, "This document", scopes=None, documented=False
    ),
)
