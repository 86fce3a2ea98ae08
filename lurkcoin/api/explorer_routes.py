"""The explorer's own route table (/api/*.json), added beside lurkcoin.api.routes.

:func:`install` registers it when ``[explorer] enabled`` is true (otherwise
every /api/ path is an unknown path, 404), each handler wrapped by
explorer_http.public, with an OPTIONS route per path for CORS preflight.
"""

from __future__ import annotations

from aiohttp import web

from lurkcoin.api import explorer, explorer_stats
from lurkcoin.api.explorer_http import (
    EXPLORER_KEY,
    ExplorerState,
    RateLimiter,
    preflight,
    public,
)
from lurkcoin.api.explorer_schemas import (
    HISTORY_RESULT,
    RATES_RESULT,
    SERVER_LIST_PARAMETERS,
    SERVER_RESULT,
    SERVERS_RESULT,
    STATS_RESULT,
    TRANSACTION_LIST_PARAMETERS,
    TRANSACTION_RESULT,
    TRANSACTIONS_RESULT,
)
from lurkcoin.api.routing import Endpoint, add_endpoints
from lurkcoin.config import Config
from lurkcoin.explorer_page import add_explorer_page

_GET = ("GET",)
_COMMON = ("ERR_INVALIDPARAMETER", "ERR_RATELIMITED")
# Transaction data may need a key with the explorer scope.
_KEYED = ("ERR_INVALIDLOGIN", "ERR_FORBIDDEN", "ERR_TOOMANYREQUESTS")
_PRIVACY = (
    " Player names are public only when the operator sets `[explorer] public_transactions "
    "= true`; otherwise this needs `Authorization: key=<key>` with a key holding the "
    "`explorer` scope (401 without one, 403 with a key lacking it or a server's token) "
    "or the session cookie of a user signed in to the admin console."
)
_HEADERS = (
    " Every reply has CORS (`Access-Control-Allow-Origin: *`), `X-RateLimit-Limit`, "
    "`-Remaining` and `-Reset` headers, an `ETag` (send `If-None-Match` for a 304) and "
    "`Cache-Control`."
)

EXPLORER_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "/api/stats.json",
        _GET,
        public(explorer_stats.stats),
        "Network statistics",
        "Servers (total, active), circulation, issuance, transactions and volume, pending "
        "work, the 10 richest, distributions, network health with a 0-100 score, and the "
        "last 7 days. From aggregates kept as payments commit." + _HEADERS,
        "explorer",
        STATS_RESULT,
        scopes=None,
        codes=_COMMON,
        operation_name="explorer_stats",
    ),
    Endpoint(
        "/api/history.json",
        _GET,
        public(explorer_stats.history),
        "Daily snapshots",
        "Transactions, volume, active and new servers, circulation and pending transactions "
        "at the end of each UTC day, over at most 366 days." + _HEADERS,
        "explorer",
        HISTORY_RESULT,
        scopes=None,
        codes=_COMMON,
        parameters=("HistorySince", "HistoryUntil"),
        operation_name="explorer_history",
    ),
    Endpoint(
        "/api/servers.json",
        _GET,
        public(explorer.servers),
        "Every server: balance, rate, rank, activity",
        "Rank, balance, target balance, rate, pending and transaction counts, last activity; "
        "filters, sorting (`sort=balance&order=desc` or `sort=balance:desc`) and pages of up "
        "to 500 with a `pagination` object." + _HEADERS,
        "explorer",
        SERVERS_RESULT,
        scopes=None,
        codes=_COMMON,
        parameters=SERVER_LIST_PARAMETERS,
        operation_name="explorer_servers",
    ),
    Endpoint(
        "/api/servers/{name}.json",
        _GET,
        public(explorer.server),
        "One server, with its recent transactions",
        "The server's row and, when transactions may be shown, its 10 newest."
        + _PRIVACY
        + _HEADERS,
        "explorer",
        SERVER_RESULT,
        scopes=None,
        codes=(*_COMMON, *_KEYED, "ERR_NOTFOUND"),
        parameters=("ServerName",),
        operation_name="explorer_server",
    ),
    Endpoint(
        "/api/transactions.json",
        _GET,
        public(explorer.transactions),
        "Transactions, filtered and sorted",
        "Newest first unless sorted otherwise. Page with `cursor` (fast at any depth; bound to "
        "its query), `page` or `offset` (up to 10,000 rows deep)." + _PRIVACY + _HEADERS,
        "explorer",
        TRANSACTIONS_RESULT,
        scopes=None,
        codes=(*_COMMON, *_KEYED),
        parameters=TRANSACTION_LIST_PARAMETERS,
        operation_name="explorer_transactions",
    ),
    Endpoint(
        "/api/transactions/{id}.json",
        _GET,
        public(explorer.transaction),
        "One transaction",
        "A transaction that can no longer change is cacheable for a year." + _PRIVACY + _HEADERS,
        "explorer",
        TRANSACTION_RESULT,
        scopes=None,
        codes=(*_COMMON, *_KEYED, "ERR_NOTFOUND"),
        parameters=("TransactionId",),
        operation_name="explorer_transaction",
    ),
    Endpoint(
        "/api/exchange_rates.json",
        _GET,
        public(explorer.exchange_rates),
        "Every server's exchange rate",
        "One lurkcoin in each server's currency, and back." + _HEADERS,
        "explorer",
        RATES_RESULT,
        scopes=None,
        codes=_COMMON,
        operation_name="explorer_exchange_rates",
    ),
)

PREFLIGHT_ENDPOINTS = tuple(
    Endpoint(
        e.path,
        ("OPTIONS",),
        preflight,
        "CORS preflight",
        documented=False,
        scopes=None,
        operation_name=e.name + "_preflight",
    )
    for e in EXPLORER_ENDPOINTS
)


def install(app: web.Application, config: Config) -> None:
    """Serve the explorer API on ``app`` if the operator enabled it."""
    section = config.explorer
    if not section.enabled:
        return
    app[EXPLORER_KEY] = ExplorerState(section, RateLimiter(section.rate_limit, section.rate_window))
    add_endpoints(app, EXPLORER_ENDPOINTS + PREFLIGHT_ENDPOINTS)
    add_explorer_page(app, config)
