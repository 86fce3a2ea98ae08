"""The public explorer page at /explorer: server-rendered HTML, no script, no external asset.

A sub-application with its own templates (its base layout is not the
console's: no sign-in, no navigation of operator pages), which also reads the
console's chart partial so both draw charts the same way.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from lurkcoin.api.explorer_http import EXPLORER_KEY
from lurkcoin.config import Config
from lurkcoin.core.money import format_balance
from lurkcoin.explorer_page import pages

HERE = Path(__file__).resolve().parent

# A public page: no script at all, styles and images only from this server.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)

ROUTES = (
    ("/", pages.index),
    ("/servers/{name}", pages.server),
    ("/transactions", pages.transactions),
    ("/transactions/{id}", pages.transaction),
)


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    if request.get(pages.UNLOCKED, False):
        response.headers["Cache-Control"] = "private, no-store"
    response.headers.setdefault("Cache-Control", "public, max-age=60")
    # A console user's cookie may change the page (transactions shown).
    response.headers["Vary"] = "Cookie"


async def _no_slash(request: web.Request) -> web.StreamResponse:
    return web.Response(status=301, headers={"Location": "/explorer/"})


def add_explorer_page(app: web.Application, config: Config) -> None:
    """Mount /explorer/ (needs the explorer API's state, installed first)."""
    if not config.explorer.enabled:
        return
    page = web.Application()
    page[EXPLORER_KEY] = app[EXPLORER_KEY]
    env = aiohttp_jinja2.setup(
        page,
        loader=jinja2.ChoiceLoader(
            [
                jinja2.PackageLoader("lurkcoin.explorer_page", "templates"),
                jinja2.PackageLoader("lurkcoin.console", "templates"),  # _chart.html
            ]
        ),
        autoescape=True,
    )
    env.filters.update(money=format_balance, when=pages.when)
    page.on_response_prepare.append(_headers)
    for path, handler in ROUTES:
        page.router.add_get(path, handler)
    page.router.add_static("/static/", HERE / "static")
    app.router.add_get("/explorer", _no_slash)
    app.add_subapp("/explorer/", page)
