"""The console's read-only pages: dashboard, servers, one server, transactions, audit log.

Counts, sums and daily series come from the Ledger's rollup and index
ranges; no page scans the transactions table.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from lurkcoin.api.app_keys import LEDGER_KEY
from lurkcoin.console.charts import Chart, bar_chart, day_label
from lurkcoin.console.guard import render, requires
from lurkcoin.core.errors import LurkcoinError
from lurkcoin.core.money import format_balance
from lurkcoin.ledger import Ledger
from lurkcoin.ledger.console import TransactionSearch
from lurkcoin.models import DailyTotals, DeliveryState, Server

PAGE_SIZE = 50
HISTORY_PAGE = 25
STATUSES = ("pending", "acknowledged", "rejected", "settled")
# What a successful action's redirect says (the page never echoes free text).
DONE = {
    "created": "Server created.",
    "adjusted": "Balance adjusted.",
    "target": "Target balance set.",
    "fee": "Exchange fee set.",
    "webhook": "Webhook URL saved.",
    "webhook-test": "A test notification is queued; its delivery shows below shortly.",
    "key-revoked": "API key revoked.",
    "pending": "Pending transactions settled.",
}


def ledger_of(request: web.Request) -> Ledger:
    return request.config_dict[LEDGER_KEY]


def int_param(request: web.Request, name: str, default: int | None = None) -> int | None:
    text = request.query.get(name, "")
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        return default
    return int(text)


def date_param(request: web.Request, name: str) -> int | None:
    """A YYYY-MM-DD query parameter as the Unix time of that day's start (UTC)."""
    try:
        day = datetime.strptime(request.query.get(name, ""), "%Y-%m-%d")
    except ValueError:
        return None
    return int(day.replace(tzinfo=UTC).timestamp())


def server_or_404(request: web.Request) -> Server:
    server = ledger_of(request).server(request.match_info["uid"])
    if server is None or server.kind != "server":
        raise web.HTTPNotFound(text="No such server.")
    return server


def rate(ledger: Ledger, server: Server) -> str:
    """What one unit of the server's currency is worth in lurkcoins now."""
    try:
        return format_balance(ledger.quote(server.name, "", 100))
    except LurkcoinError:
        return "-"


def _charts(days: list[DailyTotals], span: str) -> tuple[Chart, Chart]:
    numbers = [d.day for d in days]
    return (
        bar_chart(f"Payments per day, last {span}", numbers, [d.sent_count for d in days]),
        bar_chart(
            f"Volume per day, last {span}",
            numbers,
            [d.sent_volume for d in days],
            format_balance,
        ),
    )


@requires("viewer")
async def dashboard(request: web.Request) -> web.StreamResponse:
    ledger = ledger_of(request)
    servers = [s for s in ledger.servers() if s.kind == "server"]
    month = await ledger.daily_totals(0, 30)
    year = await ledger.daily_totals(0, 365)
    context = {
        "servers": len(servers),
        "circulating": sum(s.balance for s in servers),
        "issued": ledger.issued(),
        "fees_collected": ledger.fees_collected(),
        "numbers": await ledger.dashboard(),
        "requests_waiting": await ledger.account_requests_waiting(),
        "charts": [*_charts(month, "30 days"), *_charts(year, "365 days")],
        "month": list(reversed(month)),
        "year_total": sum(d.sent_count for d in year),
        "year_volume": sum(d.sent_volume for d in year),
    }
    return render("dashboard.html", request, context)


def _webhook_states(states: list[DeliveryState]) -> dict[str, DeliveryState]:
    return {s.server_name: s for s in states}


def webhook_summary(server: Server, state: DeliveryState | None) -> str:
    if not server.webhook_url:
        return "none"
    if state is None or state.last_attempt_at is None:
        return "waiting" if state is not None and state.pending else "never used"
    if state.consecutive_failures:
        return f"failing ({state.consecutive_failures})"
    return "ok"


SORTS = {
    "name": lambda row: row["server"].name.lower(),
    "balance": lambda row: row["server"].balance,
    "pending": lambda row: row["pending"],
    "activity": lambda row: row["last_day"] if row["last_day"] is not None else -1,
}


@requires("viewer")
async def servers_page(request: web.Request) -> web.StreamResponse:
    ledger = ledger_of(request)
    query = request.query.get("q", "").strip()
    sort = request.query.get("sort", "name")
    sort = sort if sort in SORTS else "name"
    descending = request.query.get("dir") == "desc"
    page = int_param(request, "page", 1) or 1
    pending = await ledger.pending_counts()
    last_days = await ledger.last_active_days()
    states = _webhook_states(await ledger.outbox.delivery_states())
    rows: list[dict[str, Any]] = []
    for s in ledger.servers():
        if s.kind != "server" or (query and query.lower() not in s.name.lower()):
            continue
        day = last_days.get(s.id)
        rows.append(
            {
                "server": s,
                "pending": pending.get(s.id, 0),
                "last_day": day,
                "last_active": day_label(day) if day is not None else "never",
                "rate": rate(ledger, s),
                "webhook": webhook_summary(s, states.get(s.name)),
            }
        )
    rows.sort(key=SORTS[sort], reverse=descending)
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    page = min(page, pages)
    context = {
        "rows": rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE],
        "q": query,
        "sort": sort,
        "dir": "desc" if descending else "asc",
        "page": page,
        "pages": pages,
        "total": len(rows),
    }
    return render("servers.html", request, context)


def _search(request: web.Request, server_id: int | None = None) -> TransactionSearch:
    status = request.query.get("status", "")
    return TransactionSearch(
        server_id=server_id,
        txn_id=request.query.get("id", "").strip() or None,
        user=request.query.get("user", "").strip() or None,
        status=status if status in STATUSES else None,
        since=date_param(request, "since"),
        until=(u + 86400) if (u := date_param(request, "until")) is not None else None,
    )


async def server_context(request: web.Request, server: Server) -> dict[str, Any]:
    """Everything the server page shows (also re-rendered when an action is refused)."""
    ledger = ledger_of(request)
    search = _search(request, server.id)
    found = await ledger.search_transactions(
        search, limit=HISTORY_PAGE, before=int_param(request, "before")
    )
    states = _webhook_states(await ledger.outbox.delivery_states())
    state = states.get(server.name)
    month = await ledger.daily_totals(server.id, 30)
    pending = await ledger.pending_page(server, PAGE_SIZE)
    return {
        "server": server,
        "rate": rate(ledger, server),
        "history": [t for _, t in found],
        "next_before": found[-1][0] if len(found) == HISTORY_PAGE else None,
        "search": search,
        "query": request.query,
        "statuses": STATUSES,
        "pending": pending,
        "pending_total": (await ledger.pending_counts()).get(server.id, 0),
        "keys": ledger.api_keys(server),
        "webhook": state,
        "webhook_summary": webhook_summary(server, state),
        "chart": _charts(month, "30 days")[0],
        "totals": await ledger.all_time_totals(server.id),
        "audit": await ledger.audit_entries(limit=10, subject=server.name),
        "done": DONE.get(request.query.get("done", "")),
        "error": None,
    }


@requires("viewer")
async def server_page(request: web.Request) -> web.StreamResponse:
    server = server_or_404(request)
    context = await server_context(request, server)
    return render("server.html", request, context)


@requires("viewer")
async def transactions_page(request: web.Request) -> web.StreamResponse:
    ledger = ledger_of(request)
    server_name = request.query.get("server", "").strip()
    server = ledger.server(server_name) if server_name else None
    search = _search(request, server.id if server is not None else None)
    unknown_server = bool(server_name) and server is None
    found = (
        []
        if unknown_server
        else await ledger.search_transactions(
            search, limit=PAGE_SIZE, before=int_param(request, "before")
        )
    )
    context = {
        "rows": [t for _, t in found],
        "next_before": found[-1][0] if len(found) == PAGE_SIZE else None,
        "query": request.query,
        "statuses": STATUSES,
        "unknown_server": unknown_server,
        "csv_query": request.query_string,
    }
    return render("transactions.html", request, context)


@requires("owner")
async def audit_page(request: web.Request) -> web.StreamResponse:
    ledger = ledger_of(request)
    entries = await ledger.audit_entries(limit=PAGE_SIZE, before_id=int_param(request, "before"))
    context = {
        "entries": entries,
        "next_before": entries[-1].id if len(entries) == PAGE_SIZE else None,
    }
    return render("audit.html", request, context)


@requires("operator")
async def create_page(request: web.Request) -> web.StreamResponse:
    return render("create.html", request, {"error": None, "form": {}})


def when(at: float | None) -> str:
    if at is None:
        return "-"
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def age(at: float | None) -> str:
    if at is None:
        return "-"
    seconds = max(0, int(time.time() - at))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"
