"""The public explorer API (/api/*.json): servers, transactions and exchange rates.

Read-only, in the /v3 envelope. Aggregates are public; transaction-level
data (player names) only when ``[explorer] public_transactions`` is true, with
a read-only key holding the ``explorer`` scope, or with a signed-in console
user's session cookie. Rate limit, CORS,
caching and ETags are added by lurkcoin.api.explorer_http.public.
"""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from lurkcoin.api.app_keys import LEDGER_KEY
from lurkcoin.api.auth import authenticate, forbidden, parse_basic
from lurkcoin.api.explorer_cursor import decode, encode, fingerprint
from lurkcoin.api.explorer_http import (
    EXPLORER_KEY,
    FINAL_CACHE,
    PRIVATE_CACHE,
    PUBLIC_CACHE,
    REVALIDATE_CACHE,
)
from lurkcoin.api.explorer_params import (
    amount,
    boolean,
    choice,
    integer,
    invalid,
    moment,
    ordering,
    read_query,
    text,
)
from lurkcoin.api.jsonout import Money
from lurkcoin.api.replies import success
from lurkcoin.api.v3 import transaction_object
from lurkcoin.console.guard import SESSION_COOKIE, console_viewer
from lurkcoin.core.errors import LurkcoinError
from lurkcoin.ledger.credentials import KEY_PREFIX
from lurkcoin.ledger.explorer import Explorer, ServerRow, TransactionSearch
from lurkcoin.models import DailyTotals, Transaction

MAX_LIMIT = 500
DEFAULT_LIMIT = 100
# Deepest row `offset` (or `page`) reaches; deeper pages follow next_cursor,
# which costs the same at any depth.
MAX_OFFSET = 10_000
ACTIVE_SECONDS = 30 * 86400
RECENT_TRANSACTIONS = 10
SERVER_DAYS = 30  # the daily series of a server's page
STATUSES = ("pending", "acknowledged", "rejected", "settled")
SERVER_SORTS = (
    "rank",
    "name",
    "balance",
    "target_balance",
    "exchange_rate",
    "pending_count",
    "transaction_count",
    "last_activity",
)
TRANSACTION_SORTS = ("time", "amount")

_LIMIT = integer(1, MAX_LIMIT)
_ORDER = choice(("asc", "desc"))
_COUNT = integer(0, 10**15)
_PRIVATE = (
    "transactions are private on this server: send a read-only key with the explorer "
    "scope as the header Authorization: key=<key>"
)


def _explorer(request: web.Request) -> Explorer:
    return request.config_dict[LEDGER_KEY].explorer


async def transaction_access(request: web.Request, *, optional: bool = False) -> str:
    """How transaction data may be shown: "public", "key" (a key unlocked it), "admin" (a
    signed-in console user's cookie did) or, when ``optional``, "none".

    Raises 401 (no key, no console session), 403 (a key without the explorer
    scope, or a server's own token: only an operator-granted key opens
    everyone's transactions). A key that is sent is checked even beside a
    session cookie: a wrong key is an error, never a quiet fallback.
    """
    if request.config_dict[EXPLORER_KEY].settings.public_transactions:
        return "public"
    header = request.headers.get("Authorization")
    if header is None:
        if SESSION_COOKIE in request.cookies and await console_viewer(request):
            return "admin"
        if optional:
            return "none"
        raise LurkcoinError("ERR_INVALIDLOGIN", details=_PRIVATE)
    basic = parse_basic(header)
    if basic is not None and not basic.token.startswith(KEY_PREFIX):
        err = forbidden()
        err.details = "a server's token does not open the explorer; use a key with its scope"
        raise err
    await authenticate(request, "explorer")
    return "key"


def _unlocked_cache(access: str, public_policy: str) -> str:
    """What a key or a console session unlocked is never stored by a shared cache."""
    return PRIVATE_CACHE if access in ("key", "admin") else public_policy


def _cached(response: web.Response, policy: str, *, varies: bool = False) -> web.Response:
    response.headers["Cache-Control"] = policy
    if varies:
        response.headers["Vary"] = "Authorization, Cookie"
    return response


def explorer_transaction(t: Transaction) -> dict[str, Any]:
    """The /v3 transaction object plus its status and refund links."""
    return {
        **transaction_object(t),
        "status": t.status,
        "refund_of": t.refund_of,
        "refund_id": t.refund_id,
        "refund_failed": t.refund_failed,
    }


def server_object(row: ServerRow) -> dict[str, Any]:
    s = row.server
    return {
        "name": s.name,
        "uid": s.uid,
        "rank": row.rank,
        "balance": Money(s.balance),
        "target_balance": Money(s.target_balance),
        "fixed_rate": row.fixed_rate,
        "exchange_rate": _rate_object(row),
        "fee_bps": s.fee_bps,
        "pending_count": row.pending_count,
        "transaction_count": row.transaction_count,
        "last_activity": row.last_activity,
    }


def day_object(d: DailyTotals) -> dict[str, Any]:
    """One day of a server's rollup row (what it sent and received)."""
    return {
        "date": datetime.fromtimestamp(d.day * 86400, UTC).strftime("%Y-%m-%d"),
        "sent_count": d.sent_count,
        "sent_volume": Money(d.sent_volume),
        "received_count": d.received_count,
        "received_volume": Money(d.received_volume),
    }


def _rate_object(row: ServerRow) -> dict[str, Any]:
    return {
        "to_local": None if row.to_local is None else Money(row.to_local),
        "to_lurkcoin": None if row.to_lurkcoin is None else Money(row.to_lurkcoin),
    }


def _sort_value(row: ServerRow, field: str) -> tuple[int, Any]:
    if field == "name":
        return (0, row.server.uid)
    if field == "exchange_rate":
        return (0, row.to_local if row.to_local is not None else -1)
    if field in ("balance", "target_balance"):
        return (0, getattr(row.server, field))
    value = getattr(row, field)
    return (0, -1 if value is None else value)


_SERVER_PARAMS = {
    "min_balance": amount,
    "max_balance": amount,
    "min_transactions": _COUNT,
    "max_transactions": _COUNT,
    "fixed_rate": boolean,
    "active": boolean,
    "sort": text,
    "order": _ORDER,
    "page": integer(1, 10**9),
    "limit": _LIMIT,
}


async def servers(request: web.Request) -> web.StreamResponse:
    """Every server's row, filtered, sorted and paged."""
    values = read_query(request, _SERVER_PARAMS)
    field, descending = ordering(values, SERVER_SORTS, "rank", _server_default_order)
    rows = await _explorer(request).server_rows()
    now = int(time.time())
    low, high = values.get("min_balance"), values.get("max_balance")
    if low is not None and high is not None and low > high:
        raise invalid("min_balance", "must not exceed max_balance")
    fewest, most = values.get("min_transactions"), values.get("max_transactions")
    if fewest is not None and most is not None and fewest > most:
        raise invalid("min_transactions", "must not exceed max_transactions")
    rows = [
        r
        for r in rows
        if (low is None or r.server.balance >= low)
        and (high is None or r.server.balance <= high)
        and (fewest is None or r.transaction_count >= fewest)
        and (most is None or r.transaction_count <= most)
        and ("fixed_rate" not in values or r.fixed_rate == values["fixed_rate"])
        and ("active" not in values or _active(r, now) == values["active"])
    ]
    rows.sort(key=lambda r: (_sort_value(r, field), r.rank), reverse=descending)
    limit = values.get("limit", DEFAULT_LIMIT)
    page = values.get("page", 1)
    total = len(rows)
    shown = rows[(page - 1) * limit : page * limit]
    result = {
        "servers": [server_object(r) for r in shown],
        "pagination": {
            "page": page,
            "limit": limit,
            "total": total,
            "total_pages": -(-total // limit),
        },
    }
    return _cached(success(result), PUBLIC_CACHE)


def _server_default_order(field: str) -> str:
    """Rank and name read best ascending; amounts, counts and times newest or largest first."""
    return "asc" if field in ("rank", "name") else "desc"


def _active(row: ServerRow, now: int) -> bool:
    return row.last_activity is not None and row.last_activity >= now - ACTIVE_SECONDS


async def server(request: web.Request) -> web.StreamResponse:
    """One server's row and, when allowed, its recent transactions."""
    read_query(request, {})
    name = request.match_info["name"]
    explorer = _explorer(request)
    found = explorer.server(name)
    if found is None:
        raise LurkcoinError("ERR_NOTFOUND", details=f"name: no server named {name[:60]!r}")
    row = next(r for r in await explorer.server_rows() if r.server.id == found.id)
    # Without credentials a private explorer still shows the row (recent: null);
    # a wrong or insufficient key is an error, never a quiet public view.
    access = await transaction_access(request, optional=True)
    recent = None
    if access != "none":
        recent = [
            explorer_transaction(t) for t in await explorer.recent(found, RECENT_TRANSACTIONS)
        ]
    daily = await request.config_dict[LEDGER_KEY].daily_totals(found.id, SERVER_DAYS)
    reply = success(
        {
            "server": server_object(row),
            "daily": [day_object(d) for d in daily],
            "recent_transactions": recent,
        }
    )
    return _cached(reply, _unlocked_cache(access, PUBLIC_CACHE), varies=True)


TRANSACTION_PARAMS = {
    "server": text,
    "source_server": text,
    "target_server": text,
    "user": text,
    "source": text,
    "target": text,
    "amount": amount,
    "min_amount": amount,
    "max_amount": amount,
    "status": choice(STATUSES),
    "since": moment,
    "until": moment,
    "sort": text,
    "order": _ORDER,
    "limit": _LIMIT,
    "page": integer(1, MAX_OFFSET + 1),
    "offset": integer(0, MAX_OFFSET),
    "cursor": text,
}


def _search(values: dict[str, Any]) -> TransactionSearch:
    low, high = values.get("min_amount"), values.get("max_amount")
    if "amount" in values:
        if low is not None or high is not None:
            raise invalid("amount", "cannot be combined with min_amount or max_amount")
        low = high = values["amount"]
    if low is not None and high is not None and low > high:
        raise invalid("min_amount", "must not exceed max_amount")
    since, until = values.get("since"), values.get("until")
    if since is not None and until is not None and since > until:
        raise invalid("since", "must not be later than until")
    names = ("server", "source_server", "target_server", "user", "source", "target", "status")
    return TransactionSearch(
        **{name: values.get(name) for name in names},
        min_amount=low,
        max_amount=high,
        since=since,
        until=until,
    )


async def query_transactions(
    request: web.Request, values: dict[str, Any]
) -> tuple[list[Transaction], dict[str, Any]]:
    """One page of a validated transaction query, and its pagination object.

    Shared by the JSON API and the explorer page; the caller checked access.
    """
    search = _search(values)
    sort, descending = ordering(values, TRANSACTION_SORTS, "time", lambda _: "desc")
    limit = values.get("limit", DEFAULT_LIMIT)
    if "page" in values and "offset" in values:
        raise invalid("page", "cannot be combined with offset; give one")
    if "cursor" in values and ("page" in values or "offset" in values):
        raise invalid("cursor", "cannot be combined with page or offset")
    offset = values.get("offset", 0)
    if "page" in values:
        offset = (values["page"] - 1) * limit
        if offset > MAX_OFFSET:
            raise invalid(
                "page",
                f"at most {MAX_OFFSET // limit + 1} with limit={limit} (offset {MAX_OFFSET}); "
                "follow next_cursor to go deeper",
            )
    # Bound to the filters as resolved (server ids), so any spelling of a name matches.
    resolved = _explorer(request).resolve(search)
    filters = dataclasses.asdict(resolved if resolved is not None else search)
    bound_to = fingerprint({"filters": filters, "sort": sort, "descending": descending})
    after = before = None
    if "cursor" in values:
        direction, where = decode(values["cursor"], bound_to)
        after, before = (where, None) if direction == "next" else (None, where)
    page = await _explorer(request).transactions(
        search,
        sort=sort,  # type: ignore[arg-type]  # checked by ordering()
        descending=descending,
        limit=limit,
        offset=offset,
        after=after,
        before=before,
    )
    pagination = {
        "limit": limit,
        "page": values.get("page"),
        "offset": None if "cursor" in values else offset,
        "next_cursor": None if page.next is None else encode("next", page.next, bound_to),
        "prev_cursor": None if page.prev is None else encode("prev", page.prev, bound_to),
    }
    return page.rows, pagination


async def transactions(request: web.Request) -> web.StreamResponse:
    """Filtered, sorted transactions, paged by cursor, page or offset."""
    values = read_query(request, TRANSACTION_PARAMS)
    _search(values)  # every parameter is checked before the login is
    ordering(values, TRANSACTION_SORTS, "time", lambda _: "desc")
    access = await transaction_access(request)
    rows, pagination = await query_transactions(request, values)
    result = {"transactions": [explorer_transaction(t) for t in rows], "pagination": pagination}
    return _cached(success(result), _unlocked_cache(access, PUBLIC_CACHE), varies=True)


def _final(t: Transaction) -> bool:
    """Whether nothing about this transaction can change any more."""
    return t.status != "pending"


async def transaction(request: web.Request) -> web.StreamResponse:
    read_query(request, {})
    access = await transaction_access(request)
    txn_id = request.match_info["id"]
    found = await _explorer(request).transaction(txn_id)
    if found is None:
        raise LurkcoinError("ERR_NOTFOUND", details=f"id: no transaction {txn_id[:60]!r}")
    policy = FINAL_CACHE if _final(found) else REVALIDATE_CACHE
    reply = success(explorer_transaction(found))
    return _cached(reply, _unlocked_cache(access, policy), varies=True)


async def exchange_rates(request: web.Request) -> web.StreamResponse:
    """Every server's rate: one lurkcoin in its currency, and one of its units in lurkcoins."""
    read_query(request, {})
    rows = sorted(await _explorer(request).server_rows(), key=lambda r: r.server.uid)
    result = {
        "time": int(time.time()),
        "rates": [
            {
                "name": r.server.name,
                "uid": r.server.uid,
                "fixed_rate": r.fixed_rate,
                **_rate_object(r),
                "fee_bps": r.server.fee_bps,
            }
            for r in rows
        ],
    }
    return _cached(success(result), PUBLIC_CACHE)
