"""The reusable pieces of the OpenAPI document: wire objects, envelopes, parameters, security.

lurkcoin.api.openapi assembles the operations from these. Each schema says
what the code writes (v3.py, v3_credentials.py) or accepts (body.py), so that a
client generated from the document, and the fuzz test, see the real server.
Limits come from the modules that enforce them rather than being retyped here.
"""

from __future__ import annotations

from typing import Any

from lurkcoin.core.errors import ERRORS
from lurkcoin.core.money import AMOUNT_PATTERN, MAX_TARGET_BALANCE
from lurkcoin.ledger.credentials import MAX_LABEL_LENGTH, SCOPES
from lurkcoin.ledger.engine import UNIX_TIME_MAX
from lurkcoin.ledger.pay_order import IDEMPOTENCY_KEY_MAX

Schema = dict[str, Any]

SCHEMAS = "#/components/schemas/"
PARAMETERS = "#/components/parameters/"


def ref(target: str) -> Schema:
    return {"$ref": target}


NULL: Schema = {"type": "null"}

# -- money ---------------------------------------------------------------------

MONEY: Schema = {
    "type": "number",
    "description": "An amount exact to the cent, always written with a decimal point "
    "(12.34, 12.3, 12.0; never 12).",
    "examples": [851.8],
}

TARGET_BALANCE_MAX = MAX_TARGET_BALANCE // 100  # in lurkcoins


def money_input(
    description: str, *, minimum: int | None = None, maximum: int | None = None
) -> Schema:
    """An amount in a request: a JSON number or a string holding one (bounds for numbers)."""
    number: Schema = {"type": "number"}
    if minimum is not None:
        number["minimum"] = minimum
    if maximum is not None:
        number["maximum"] = maximum
    return {
        "description": description + " A JSON number or a string holding a decimal number "
        "(an optional leading \u00a4, '_' between digits and exponents are "
        "allowed; hexadecimal, NaN and Infinity are not). Exact to the cent: "
        "further decimals are truncated toward zero, except that a value within "
        "1e-9 of a whole cent (0.29999999999999999) is that cent.",
        "anyOf": [number, {"type": "string", "pattern": AMOUNT_PATTERN}],
    }


# -- wire objects --------------------------------------------------------------


def _object(properties: dict[str, Schema], description: str) -> Schema:
    """An object with every listed property present; clients must ignore extra ones."""
    return {
        "type": "object",
        "description": description,
        "required": list(properties),
        "properties": properties,
    }


TRANSACTION = _object(
    {
        "id": {
            "type": "string",
            "description": "Opaque; new ids are T, the Unix time in "
            "upper-case hex, '-' and 8 upper-case hex digits.",
            "examples": ["T5E1816DE-9ACB0442"],
        },
        "source": {"type": "string", "description": "The sending user (may be empty)."},
        "source_server": {"type": "string", "description": "Name of the sending server."},
        "target": {"type": "string", "description": "The receiving user (may be empty)."},
        "target_server": {"type": "string", "description": "Name of the receiving server."},
        "amount": ref(SCHEMAS + "Money") | {"description": "The amount in lurkcoins."},
        "sent_amount": ref(SCHEMAS + "Money")
        | {"description": "The amount in the sending server's local currency."},
        "received_amount": ref(SCHEMAS + "Money")
        | {"description": "The amount in the receiving server's local currency."},
        "time": {
            "type": "integer",
            "description": "When it was sent, in seconds since the Unix epoch.",
        },
        "revertable": {
            "type": "boolean",
            "description": "Payments are refunded when the receiver "
            "rejects them; refunds (false) are not.",
        },
    },
    "A payment or a refund.",
)
# Present only when an exchange fee was taken, so not required.
TRANSACTION["properties"]["fee"] = ref(SCHEMAS + "Money") | {
    "description": "The part of `amount` paid to the fee account as the target's exchange "
    "fee (on a refund: given back from it). Absent when no fee was taken."
}

SUMMARY = _object(
    {
        "uid": {
            "type": "string",
            "description": "The server's lookup key: the name lower-cased, "
            "spaces removed, anything outside [a-z0-9_] replaced by '_'.",
        },
        "name": {
            "type": "string",
            "description": "The server's name as spelt when it was created.",
        },
        "bal": ref(SCHEMAS + "Money") | {"description": "The balance."},
        "balance": {
            "type": "string",
            "description": "The balance formatted for people.",
            "examples": ["\u00a41,234,567.89", "-\u00a412.00"],
        },
        "history": {
            "type": "array",
            "maxItems": 10,
            "items": ref(SCHEMAS + "Transaction"),
            "description": "The 10 newest transactions, newest first.",
        },
        "interest_rate": {"const": 0, "description": "Always 0."},
        "target_balance": ref(SCHEMAS + "Money")
        | {"description": "The target balance (0: the local currency is worth one lurkcoin)."},
    },
    "An account summary.",
)

VERSION = {
    "type": "object",
    "description": "The protocol version this server speaks, and what it is.",
    "required": ["version"],
    "properties": {
        "version": {
            "type": "string",
            "description": "The lurkcoinV3 protocol level.",
            "examples": ["3.0.10"],
        },
        "implementation": {"type": "string", "examples": ["lurkcoin"]},
        "implementation_version": {"type": "string"},
        "license": {"type": "string", "examples": ["AGPL-3.0-or-later"]},
    },
}

SCOPE: Schema = {
    "type": "string",
    "enum": sorted(SCOPES),
    "description": "balance: summary (with history), balance, target_balance, "
    "webhook_url; history: history; pending: pending_transactions; explorer: the public "
    "explorer's transactions (/api/) when the operator keeps them private (only the "
    "operator grants it, with `lurkcoin api-key create`).",
}

_KEY_FIELDS: dict[str, Schema] = {
    "id": {"type": "integer", "minimum": 1, "description": "Names the key in revoke_api_key."},
    "prefix": {
        "type": "string",
        "description": "The first characters of the key, to tell keys apart.",
    },
    "scopes": {"type": "array", "items": ref(SCHEMAS + "Scope"), "uniqueItems": True},
    "label": {"type": "string"},
    "created_at": {"type": "integer", "description": "Seconds since the Unix epoch."},
}
API_KEY = _object(_KEY_FIELDS, "A read-only API key, without the key itself.")
NEW_API_KEY = _object(
    {
        "id": _KEY_FIELDS["id"],
        "key": {
            "type": "string",
            "description": "The key (lk_...); shown only this once.",
            "pattern": "^lk_",
        },
        **{name: schema for name, schema in _KEY_FIELDS.items() if name != "id"},
    },
    "A new read-only API key, with the key itself.",
)

OPENAPI_DOCUMENT: Schema = {
    "type": "object",
    "required": ["openapi", "info", "paths"],
    "description": "This document (not wrapped in an envelope).",
}


# -- envelopes -----------------------------------------------------------------


def success(result: Schema) -> Schema:
    return {
        "type": "object",
        "required": ["success", "result"],
        "properties": {"success": {"const": True}, "result": result},
    }


def failure(codes: list[str]) -> Schema:
    """The error envelope restricted to ``codes`` (what one operation, at one status, answers)."""
    return {
        "type": "object",
        "required": ["success", "error", "message"],
        "properties": {
            "success": {"const": False},
            "error": {"type": "string", "enum": codes},
            "message": {
                "type": "string",
                "description": "Human-readable; usually the code's "
                "standard message (see ErrorCode), sometimes more precise.",
            },
            "details": {
                "type": "string",
                "description": "Only on /api/: what exactly is wrong (which parameter, "
                "what is allowed).",
            },
        },
    }


ERROR_CODE: Schema = {
    "type": "string",
    "enum": list(ERRORS),
    "description": "Every error code, with its HTTP status and standard message:\n\n"
    + "\n".join(f"- `{code}` ({status}): {message}" for code, (status, message) in ERRORS.items()),
}


# -- parameters and security -------------------------------------------------------

PARAMETERS_COMPONENTS: dict[str, Schema] = {
    "ForceOk": {
        "name": "X-Force-OK",
        "in": "header",
        "required": False,
        "description": "`true`, `yes`, `y` or `1` (any case): errors are answered with HTTP 200 "
        "(the body is the same error envelope; Retry-After is still sent). The "
        "Minetest mod always sends it.",
        "schema": {"type": "string", "examples": ["true"]},
    },
    "IdempotencyKey": {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "Makes the payment safe to retry: the same key with the same body returns "
        "the original transaction (even after a restart); with another body it is "
        "409 ERR_IDEMPOTENCYKEYREUSED. Keys are kept 24 hours, per server. Up to "
        f"{IDEMPOTENCY_KEY_MAX} printable ASCII characters, otherwise "
        "400 ERR_INVALIDIDEMPOTENCYKEY.",
        # HTTP drops spaces around a header value, so the key cannot start or end with one.
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": IDEMPOTENCY_KEY_MAX,
            "pattern": "^[!-~](?:[ -~]*[!-~])?$",
        },
    },
    "HistoryLimit": {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": "How many transactions to return (1-500). May instead be given in a "
        "POST body, not both.",
        "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 10},
    },
    "HistoryBefore": {
        "name": "before",
        "in": "query",
        "required": False,
        "description": "A transaction id from this server's history: return the ones older "
        "than it (400 ERR_TRANSACTIONNOTFOUND if there is no such transaction "
        "in the history). May instead be given in a POST body, not both.",
        "schema": {"type": "string", "minLength": 1},
    },
    "HistorySince": {
        "name": "since",
        "in": "query",
        "required": False,
        "description": "Extra: only transactions made at or after this Unix time (seconds). "
        "With `since` or `until` the history is newest first by time. May instead be "
        "given in a POST body, not both.",
        "schema": {"type": "integer", "minimum": 0, "maximum": UNIX_TIME_MAX},
    },
    "HistoryUntil": {
        "name": "until",
        "in": "query",
        "required": False,
        "description": "Extra: only transactions made at or before this Unix time (seconds). "
        "May instead be given in a POST body, not both.",
        "schema": {"type": "integer", "minimum": 0, "maximum": UNIX_TIME_MAX},
    },
    "BalanceAt": {
        "name": "at",
        "in": "query",
        "required": False,
        "description": "Extra: the balance at the end of this Unix time (seconds), computed "
        "from the ledger's entries: what the balance endpoint answered then (0 before the "
        "server existed).",
        "schema": {"type": "integer", "minimum": 0, "maximum": UNIX_TIME_MAX},
    },
}

SECURITY_SCHEMES: dict[str, Schema] = {
    "basicAuth": {
        "type": "http",
        "scheme": "basic",
        "description": "The server's name as the user (a ':' in it written as '_'; matched by "
        "uid) and its API token as the password. A read-only key also works as "
        "the password. Repeated failures get 429 ERR_TOOMANYREQUESTS.",
    },
    "readKey": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "A read-only API key, sent as `Authorization: key=<key>`. It opens only "
        "the reads its scopes allow; anything else is 403 ERR_FORBIDDEN.",
    },
}

COMPONENT_SCHEMAS: dict[str, Schema] = {
    "Money": MONEY,
    "Transaction": TRANSACTION,
    "Summary": SUMMARY,
    "Version": VERSION,
    "Scope": SCOPE,
    "ApiKey": API_KEY,
    "NewApiKey": NEW_API_KEY,
    "ErrorCode": ERROR_CODE,
}


def components() -> dict[str, Any]:
    # Imported here: the explorer's schemas are built from its handlers' limits,
    # and those modules import this one.
    from lurkcoin.api.explorer_schemas import EXPLORER_PARAMETERS, EXPLORER_SCHEMAS

    return {
        "schemas": COMPONENT_SCHEMAS | EXPLORER_SCHEMAS,
        "parameters": PARAMETERS_COMPONENTS | EXPLORER_PARAMETERS,
        "securitySchemes": SECURITY_SCHEMES,
    }


def body_schema(properties: dict[str, Schema], required: list[str]) -> Schema:
    """A request body: one JSON object; names match without regard to case, extras are ignored."""
    return {"type": "object", "properties": properties, "required": required}


LABEL: Schema = {
    "type": ["string", "null"],
    "maxLength": MAX_LABEL_LENGTH,
    "description": "What the key is for (null or absent: empty).",
}
