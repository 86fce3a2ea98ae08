"""The console's sub-application: templates, its route table and its guard.

Every route is declared once below with its handler, and each handler
declares the role it needs (``@requires``); the guard middleware enforces
roles and CSRF for all of them.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp.typedefs import Handler

from lurkcoin.api.admin_passwords import warm_up
from lurkcoin.api.app_keys import LEDGER_KEY
from lurkcoin.config import Config
from lurkcoin.console import actions, downloads, pages, requests
from lurkcoin.console.guard import ADMIN_KEY, CONFIG_KEY, guard, login, login_page, logout
from lurkcoin.console.guard import security_headers as console_headers
from lurkcoin.core.fees import describe_fee
from lurkcoin.core.money import format_balance, render_json

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent

# (method, path under /admin, handler): the console's one route table.
ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/login", login_page),
    ("POST", "/login", login),
    ("POST", "/logout", logout),
    ("GET", "/", pages.dashboard),
    ("GET", "/servers", pages.servers_page),
    ("GET", "/servers/{uid}", pages.server_page),
    ("GET", "/create", pages.create_page),
    ("POST", "/create", actions.create_server),
    ("GET", "/transactions", pages.transactions_page),
    ("GET", "/transactions.csv", downloads.transactions_csv),
    ("GET", "/audit", pages.audit_page),
    ("GET", "/requests", requests.requests_page),
    ("POST", "/requests/{id}/approve", requests.approve),
    ("POST", "/requests/{id}/refuse", requests.refuse),
    ("GET", "/backup", downloads.backup_page),
    ("GET", "/backup/lurkcoin-core.json", downloads.backup_json),
    ("GET", "/backup/lurkcoin.sqlite3", downloads.backup_sqlite),
    *(
        ("POST", f"/servers/{{uid}}/{name}", handler)
        for name, handler in actions.SERVER_ACTIONS.items()
    ),
]


def _when(at: float | None) -> str:
    return pages.when(at)


def _day(at: float | None) -> str:
    return "-" if at is None else datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")


def _environment(app: web.Application) -> None:
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("lurkcoin.console", "templates"),
        # Every template is HTML: escape everything, whatever the file name.
        autoescape=True,
    )
    env.filters.update(
        money=format_balance,
        amount=render_json,
        when=_when,
        day=_day,
        age=pages.age,
        fee=describe_fee,
    )


def _sessions_context(config: Config) -> Callable[[web.Application], AsyncIterator[None]]:
    async def sessions_context(app: web.Application) -> AsyncIterator[None]:
        """At startup: end sessions of removed accounts and timed-out ones."""
        admin = config.admin
        ended = await app[LEDGER_KEY].expire_admin_sessions(
            users=list(admin.accounts),
            idle=admin.session_idle_timeout,
            max_age=admin.session_max_age,
        )
        if ended:
            log.info("console: ended %d stale admin sessions", ended)
        warm_up(config)
        yield

    return sessions_context


async def _root(request: web.Request) -> web.StreamResponse:
    return web.Response(status=302, headers={"Location": "/admin/"})


async def _no_slash(request: web.Request) -> web.StreamResponse:
    return web.Response(status=301, headers={"Location": "/admin/"})


def add_console(app: web.Application, config: Config) -> None:
    """Mount the console at /admin (and redirect / to it unless told not to)."""
    console = web.Application(middlewares=[guard])
    console[CONFIG_KEY] = config
    app[ADMIN_KEY] = config.admin
    _environment(console)
    console.on_response_prepare.append(console_headers)
    for method, path, handler in ROUTES:
        console.router.add_route(method, path, handler)
    console.router.add_static("/static/", HERE / "static")
    app.router.add_get("/admin", _no_slash)
    app.add_subapp("/admin/", console)
    if config.admin.redirect_root:
        app.router.add_get("/", _root)
    app.cleanup_ctx.append(_sessions_context(config))
