"""The explorer page's handlers: the same reads as /api/, rendered as HTML.

Rate limited with the API's per-address limiter; transaction pages only when
``[explorer] public_transactions`` is true or for a signed-in console user (a
browser sends no key; the console's session cookie covers the whole site).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from lurkcoin.api import explorer as api
from lurkcoin.api.app_keys import LEDGER_KEY
from lurkcoin.api.explorer_http import EXPLORER_KEY
from lurkcoin.api.explorer_params import invalid
from lurkcoin.api.throttle import THROTTLE_KEY
from lurkcoin.console.charts import bar_chart
from lurkcoin.console.guard import SESSION_COOKIE, console_viewer
from lurkcoin.core.errors import LurkcoinError
from lurkcoin.core.money import format_balance
from lurkcoin.ledger.explorer_stats import DAY, daily_history, network_stats

CHART_DAYS = 30
PAGE_ROWS = 50
# Set on a request whose transactions a console session unlocked: its reply is
# then never kept by a shared cache.
UNLOCKED = web.RequestKey("explorer_unlocked", bool)


def when(at: int | None) -> str:
    return "-" if at is None else datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _render(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    public = request.config_dict[EXPLORER_KEY].settings.public_transactions
    context.setdefault("public", public or request.get(UNLOCKED, False))
    return aiohttp_jinja2.render_template(template, request, context, status=status)


async def transactions_shown(request: web.Request) -> bool:
    """Whether this request may see transactions: they are public, or a console user asks."""
    if request.config_dict[EXPLORER_KEY].settings.public_transactions:
        return True
    if SESSION_COOKIE in request.cookies and await console_viewer(request):
        request[UNLOCKED] = True
        return True
    return False


def _limited(request: web.Request) -> web.Response | None:
    """The 429 page when this address used up its explorer allowance."""
    state = request.config_dict[EXPLORER_KEY]
    allowance = state.limiter.take(request.config_dict[THROTTLE_KEY].address(request))
    if allowance.allowed:
        return None
    response = _render(
        request, "explorer_error.html", {"message": "Too many requests. Try again later."}, 429
    )
    response.headers["Retry-After"] = str(max(1, allowance.reset - int(state.limiter.clock())))
    return response


def _private(request: web.Request) -> web.Response:
    return _render(
        request,
        "explorer_error.html",
        {
            "message": "Transactions are private on this server. Their totals are on the "
            "front page; the JSON API shows them with a key the operator grants, and "
            "both show them to an operator signed in to the console."
        },
        403,
    )


async def index(request: web.Request) -> web.StreamResponse:
    limited = _limited(request)
    if limited is not None:
        return limited
    await transactions_shown(request)  # the menu links to them when shown
    ledger = request.config_dict[LEDGER_KEY]
    stats = await network_stats(ledger)
    today = stats.time // DAY
    days = await daily_history(ledger, today - CHART_DAYS + 1, today)
    chart = bar_chart(
        "Daily volume",
        [d.day for d in days],
        [d.volume for d in days],
        format_balance,
    )
    rows = await ledger.explorer.server_rows()
    return _render(
        request,
        "explorer_index.html",
        {"stats": stats, "chart": chart, "rows": rows, "richest": rows[:10], "days": days},
    )


async def server(request: web.Request) -> web.StreamResponse:
    limited = _limited(request)
    if limited is not None:
        return limited
    ledger = request.config_dict[LEDGER_KEY]
    found = ledger.explorer.server(request.match_info["name"])
    if found is None:
        return _render(request, "explorer_error.html", {"message": "No such server."}, 404)
    row = next(r for r in await ledger.explorer.server_rows() if r.server.id == found.id)
    daily = await ledger.daily_totals(found.id, CHART_DAYS)
    chart = bar_chart(
        f"{found.name}: lurkcoins received per day",
        [d.day for d in daily],
        [d.received_volume for d in daily],
        format_balance,
    )
    recent = None
    if await transactions_shown(request):
        recent = await ledger.explorer.recent(found, api.RECENT_TRANSACTIONS)
    return _render(request, "explorer_server.html", {"row": row, "chart": chart, "recent": recent})


async def transactions(request: web.Request) -> web.StreamResponse:
    """The filter form (GET, so it works without script) and one page of results."""
    limited = _limited(request)
    if limited is not None:
        return limited
    if not await transactions_shown(request):
        return _private(request)
    # Empty form fields mean "any": dropped before the API's validation.
    query = {k: v for k, v in request.query.items() if v != ""}
    form = dict(query)
    error = None
    rows: list[Any] = []
    pagination: dict[str, Any] = {}
    try:
        values: dict[str, Any] = {}
        for name, text in query.items():
            parser = api.TRANSACTION_PARAMS.get(name)
            if parser is None:
                raise invalid(name, "unknown parameter")
            try:
                values[name] = parser(text)
            except ValueError as exc:
                raise invalid(name, str(exc)) from None
        values.setdefault("limit", PAGE_ROWS)
        rows, pagination = await api.query_transactions(request, values)
    except LurkcoinError as err:
        error = err.details or err.message
    links = {}
    for direction in ("prev", "next"):
        cursor = pagination.get(f"{direction}_cursor")
        if cursor:
            kept = {k: v for k, v in query.items() if k not in ("cursor", "page", "offset")}
            links[direction] = request.rel_url.with_query({**kept, "cursor": cursor})
    return _render(
        request,
        "explorer_transactions.html",
        {
            "rows": rows,
            "form": form,
            "error": error,
            "links": links,
            "statuses": api.STATUSES,
        },
        400 if error else 200,
    )


async def transaction(request: web.Request) -> web.StreamResponse:
    limited = _limited(request)
    if limited is not None:
        return limited
    if not await transactions_shown(request):
        return _private(request)
    found = await request.config_dict[LEDGER_KEY].explorer.transaction(request.match_info["id"])
    if found is None:
        return _render(request, "explorer_error.html", {"message": "No such transaction."}, 404)
    return _render(request, "explorer_transaction.html", {"t": found})
