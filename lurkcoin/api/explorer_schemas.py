"""OpenAPI pieces of the explorer API: its objects and query parameters.

Each schema says what lurkcoin.api.explorer writes, each parameter what
lurkcoin.api.explorer_params accepts (limits are taken from there), so the
fuzz test holds the server to them.
"""

from __future__ import annotations

from typing import Any

from lurkcoin.api.explorer import (
    MAX_LIMIT,
    MAX_OFFSET,
    SERVER_SORTS,
    STATUSES,
    TRANSACTION_SORTS,
)
from lurkcoin.api.explorer_params import AMOUNT_PATTERN, LATEST_TIME, MAX_TEXT

Schema = dict[str, Any]
SCHEMAS = "#/components/schemas/"

_MONEY = {"$ref": SCHEMAS + "Money"}
_MAYBE_MONEY = {"anyOf": [_MONEY, {"type": "null"}]}
_TIME = {"type": "integer", "description": "Seconds since the Unix epoch."}
_MAYBE_TIME = {"type": ["integer", "null"], "description": "Seconds since the Unix epoch."}
_MAYBE_TEXT = {"type": ["string", "null"]}


def _object(properties: dict[str, Schema], description: str) -> Schema:
    return {
        "type": "object",
        "description": description,
        "required": list(properties),
        "properties": properties,
    }


_FEE_BPS = {
    "type": "integer",
    "minimum": 0,
    "maximum": 10000,
    "description": "Exchange fee on payments it receives from other servers, in basis points "
    "(1/100 of a percent), rounded down to the cent; the rates shown are before it.",
}
RATE = {
    "to_local": _MAYBE_MONEY
    | {"description": "One lurkcoin in the server's currency (null: no rate at this balance)."},
    "to_lurkcoin": _MAYBE_MONEY
    | {"description": "One unit of the server's currency in lurkcoins (null: no rate)."},
}

EXPLORER_SCHEMAS: dict[str, Schema] = {
    "ExplorerTransaction": {
        "allOf": [
            {"$ref": SCHEMAS + "Transaction"},
            _object(
                {
                    "status": {"type": "string", "enum": list(STATUSES)},
                    "refund_of": _MAYBE_TEXT | {"description": "The payment this refunds."},
                    "refund_id": _MAYBE_TEXT | {"description": "The refund of this payment."},
                    "refund_failed": _MAYBE_TEXT
                    | {"description": "Why its refund could not be paid."},
                },
                "Where the transaction stands.",
            ),
        ]
    },
    "ExplorerServer": _object(
        {
            "name": {"type": "string"},
            "uid": {"type": "string"},
            "rank": {"type": "integer", "minimum": 1, "description": "By balance, 1 = richest."},
            "balance": _MONEY,
            "target_balance": _MONEY,
            "fixed_rate": {
                "type": "boolean",
                "description": "Target balance 0: its currency is worth one lurkcoin.",
            },
            "exchange_rate": _object(RATE, "The current rate, both ways."),
            "fee_bps": _FEE_BPS,
            "pending_count": {"type": "integer", "minimum": 0},
            "transaction_count": {
                "type": "integer",
                "minimum": 0,
                "description": "Transactions it sent or received (a self-payment once): "
                "as many as its /v3/history shows.",
            },
            "last_activity": _MAYBE_TIME
            | {"description": "Its newest transaction's time (null: none yet)."},
        },
        "A game server as the explorer shows it.",
    ),
    "Pagination": _object(
        {
            "page": {"type": "integer", "minimum": 1},
            "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
            "total": {"type": "integer", "minimum": 0},
            "total_pages": {"type": "integer", "minimum": 0},
        },
        "Dingocoin-style page numbers.",
    ),
    "CursorPagination": _object(
        {
            "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
            "page": {"type": ["integer", "null"], "minimum": 1},
            "offset": {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_OFFSET},
            "next_cursor": _MAYBE_TEXT
            | {"description": "Send as `cursor`, with the same filters, for the next page."},
            "prev_cursor": _MAYBE_TEXT
            | {"description": "Send as `cursor`, with the same filters, for the page before."},
        },
        "Keyset paging: a page may hold fewer rows than `limit` while `next_cursor` is set "
        "(a sparse filter stops each scan early); null means the end.",
    ),
}

SERVERS_RESULT = _object(
    {
        "servers": {"type": "array", "items": {"$ref": SCHEMAS + "ExplorerServer"}},
        "pagination": {"$ref": SCHEMAS + "Pagination"},
    },
    "A page of servers.",
)
SERVER_RESULT = _object(
    {
        "server": {"$ref": SCHEMAS + "ExplorerServer"},
        "daily": {
            "type": "array",
            "maxItems": 30,
            "description": "The last 30 UTC days, oldest first, from the daily rollup.",
            "items": _object(
                {
                    "date": {"type": "string", "format": "date"},
                    "sent_count": {"type": "integer", "minimum": 0},
                    "sent_volume": _MONEY,
                    "received_count": {"type": "integer", "minimum": 0},
                    "received_volume": _MONEY,
                },
                "What the server sent and received that day.",
            ),
        },
        "recent_transactions": {
            "type": ["array", "null"],
            "items": {"$ref": SCHEMAS + "ExplorerTransaction"},
            "description": "The newest 10, newest first; null when transactions are private "
            "and no key was sent.",
        },
    },
    "One server.",
)
TRANSACTIONS_RESULT = _object(
    {
        "transactions": {"type": "array", "items": {"$ref": SCHEMAS + "ExplorerTransaction"}},
        "pagination": {"$ref": SCHEMAS + "CursorPagination"},
    },
    "A page of transactions.",
)
TRANSACTION_RESULT: Schema = {"$ref": SCHEMAS + "ExplorerTransaction"}
RATES_RESULT = _object(
    {
        "time": _TIME,
        "rates": {
            "type": "array",
            "items": _object(
                {
                    "name": {"type": "string"},
                    "uid": {"type": "string"},
                    "fixed_rate": {"type": "boolean"},
                    **RATE,
                    "fee_bps": _FEE_BPS,
                },
                "One server's rate.",
            ),
        },
    },
    "Every server's exchange rate, by uid.",
)


def _query(name: str, description: str, schema: Schema) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


_NAME = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT}
_AMOUNT = {"type": "string", "pattern": AMOUNT_PATTERN}
_WHOLE_COUNT = {"type": "integer", "minimum": 0, "maximum": 10**15}
_MOMENT = {
    "anyOf": [
        {"type": "integer", "minimum": 0, "maximum": LATEST_TIME},
        {"type": "string", "format": "date"},
        {"type": "string", "format": "date-time"},
    ]
}


def _sort(fields: tuple[str, ...]) -> Schema:
    return {
        "type": "string",
        "enum": [*fields, *(f"{f}:{d}" for f in fields for d in ("asc", "desc"))],
    }


EXPLORER_PARAMETERS: dict[str, Schema] = {
    "ServerName": {
        "name": "name",
        "in": "path",
        "required": True,
        "description": "A server's name, any spelling of it (matched by uid).",
        "schema": {"type": "string", "minLength": 1},
    },
    "TransactionId": {
        "name": "id",
        "in": "path",
        "required": True,
        "description": "A transaction id.",
        "schema": {"type": "string", "minLength": 1},
    },
    "ExplorerLimit": _query(
        "limit",
        f"Rows per page, 1-{MAX_LIMIT} (default 100).",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
    ),
    "ExplorerOrder": _query(
        "order",
        "asc or desc (or give it in sort as `field:desc`, DUCO style).",
        {"type": "string", "enum": ["asc", "desc"]},
    ),
    "ServerPage": _query("page", "Page number, from 1.", {"type": "integer", "minimum": 1}),
    "ServerSort": _query(
        "sort",
        "Sort field (default rank; rank and name ascend by default, the rest descend).",
        _sort(SERVER_SORTS),
    ),
    "MinBalance": _query("min_balance", "Balance at least this.", _AMOUNT),
    "MaxBalance": _query("max_balance", "Balance at most this.", _AMOUNT),
    "MinTransactions": _query("min_transactions", "transaction_count at least this.", _WHOLE_COUNT),
    "MaxTransactions": _query("max_transactions", "transaction_count at most this.", _WHOLE_COUNT),
    "FixedRate": _query(
        "fixed_rate", "true: target balance 0; false: a floating rate.", {"type": "boolean"}
    ),
    "Active": _query(
        "active", "true: a transaction within 30 days; false: none.", {"type": "boolean"}
    ),
    "TxServer": _query("server", "Sent or received by this server.", _NAME),
    "TxSourceServer": _query("source_server", "Sent by this server.", _NAME),
    "TxTargetServer": _query("target_server", "Received by this server.", _NAME),
    "TxUser": _query("user", "Sent or received by this user (on any server).", _NAME),
    "TxSource": _query("source", "Sent by this user.", _NAME),
    "TxTarget": _query("target", "Received by this user.", _NAME),
    "TxAmount": _query("amount", "Exactly this amount (lurkcoins).", _AMOUNT),
    "TxMinAmount": _query("min_amount", "At least this amount.", _AMOUNT),
    "TxMaxAmount": _query("max_amount", "At most this amount.", _AMOUNT),
    "TxStatus": _query("status", "Only this status.", {"type": "string", "enum": list(STATUSES)}),
    "TxSince": _query("since", "Sent at or after (Unix seconds or ISO 8601, UTC).", _MOMENT),
    "TxUntil": _query("until", "Sent at or before (Unix seconds or ISO 8601, UTC).", _MOMENT),
    "TxSort": _query("sort", "time (default, newest first) or amount.", _sort(TRANSACTION_SORTS)),
    "TxPage": _query(
        "page",
        f"Page number for the first pages (offset (page-1)*limit up to {MAX_OFFSET}).",
        {"type": "integer", "minimum": 1, "maximum": MAX_OFFSET + 1},
    ),
    "TxOffset": _query(
        "offset",
        f"Rows to skip, 0-{MAX_OFFSET} (BitMinter style); deeper, follow next_cursor.",
        {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
    ),
    "TxCursor": _query(
        "cursor",
        "next_cursor or prev_cursor of a page of the same query (not with page or offset).",
        {"type": "string", "minLength": 1},
    ),
}

SERVER_LIST_PARAMETERS = (
    "MinBalance",
    "MaxBalance",
    "MinTransactions",
    "MaxTransactions",
    "FixedRate",
    "Active",
    "ServerSort",
    "ExplorerOrder",
    "ServerPage",
    "ExplorerLimit",
)
TRANSACTION_LIST_PARAMETERS = (
    "TxServer",
    "TxSourceServer",
    "TxTargetServer",
    "TxUser",
    "TxSource",
    "TxTarget",
    "TxAmount",
    "TxMinAmount",
    "TxMaxAmount",
    "TxStatus",
    "TxSince",
    "TxUntil",
    "TxSort",
    "ExplorerOrder",
    "ExplorerLimit",
    "TxPage",
    "TxOffset",
    "TxCursor",
)


SNAPSHOT = _object(
    {
        "date": {"type": "string", "format": "date", "description": "The UTC day."},
        "time": _TIME | {"description": "Its first second."},
        "transactions": {"type": "integer", "minimum": 0},
        "volume": _MONEY,
        "active_servers": {"type": "integer", "minimum": 0},
        "new_servers": {"type": "integer", "minimum": 0},
        "circulation": _MONEY | {"description": "Lurkcoins held by servers at the day's end."},
        "pending": {
            "type": "integer",
            "minimum": 0,
            "description": "Transactions awaiting acknowledgement at the day's end.",
        },
    },
    "One day, from the daily rollup.",
)
_COUNT = {"type": "integer", "minimum": 0}
_RATIO = {"type": "number", "minimum": 0, "maximum": 1}
STATS_RESULT = _object(
    {
        "time": _TIME,
        "servers": _object(
            {"total": _COUNT, "active_24h": _COUNT, "active_7d": _COUNT, "active_30d": _COUNT},
            "Servers, and those with a transaction within each window.",
        ),
        "circulation": _MONEY,
        "issued": _MONEY,
        "fees_collected": _MONEY
        | {"description": "Exchange fees taken, less those refunded: the fee account's balance."},
        "transactions": _object({"total": _COUNT, "last_24h": _COUNT}, "Transaction counts."),
        "volume": _object({"last_24h": _MONEY, "last_30d": _MONEY}, "Lurkcoins moved."),
        "pending": _object(
            {"count": _COUNT, "oldest_age": {"type": ["integer", "null"], "minimum": 0}},
            "Transactions awaiting acknowledgement; the oldest one's age in seconds.",
        ),
        "richest": {
            "type": "array",
            "maxItems": 10,
            "items": _object(
                {
                    "rank": {"type": "integer", "minimum": 1},
                    "name": {"type": "string"},
                    "uid": {"type": "string"},
                    "balance": _MONEY,
                },
                "A rich server.",
            ),
        },
        "distributions": _object(
            {
                "balance_bands": {
                    "type": "array",
                    "items": _object(
                        {"min": _MONEY, "max": _MAYBE_MONEY, "servers": _COUNT},
                        "Servers with min <= balance < max.",
                    ),
                },
                "exchange_rates": _object(
                    {"fixed": _COUNT, "floating": _COUNT}, "Fixed (target 0) or floating."
                ),
                "activity": _object(
                    {k: _COUNT for k in ("24h", "7d", "30d", "older", "never")},
                    "Servers by the age of their newest transaction.",
                ),
            },
            "How servers are spread.",
        ),
        "network_health": _object(
            {
                "webhook_deliveries_24h": _COUNT,
                "webhook_success_24h": {"anyOf": [_RATIO, {"type": "null"}]},
                "median_acknowledgement_seconds": {"type": ["integer", "null"], "minimum": 0},
                "failed_refunds": _COUNT,
                "health_score": {"type": "number", "minimum": 0, "maximum": 100},
            },
            "See the README for the health score's formula.",
        ),
        "historical_data": {"type": "array", "maxItems": 7, "items": SNAPSHOT},
    },
    "The network at a glance.",
)
HISTORY_RESULT = _object(
    {"days": {"type": "array", "maxItems": 366, "items": SNAPSHOT}}, "Daily snapshots."
)
EXPLORER_PARAMETERS["HistorySince"] = _query(
    "since", "First day (Unix seconds or ISO 8601; default: 29 days before until).", _MOMENT
)
EXPLORER_PARAMETERS["HistoryUntil"] = _query(
    "until", "Last day (Unix seconds or ISO 8601; default: today). At most 366 days.", _MOMENT
)
