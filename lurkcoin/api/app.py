"""The aiohttp app factory: the route table's endpoints, error handling, the Ledger's lifetime.

Other parts of the server (the webhook dispatcher, admin pages) plug in as
extra cleanup contexts: ``create_app(config, extra_contexts=[ctx])``, where
``ctx(app)`` is an async generator that starts its work, yields, and stops it.
They run after the Ledger is open (``app[LEDGER_KEY]``) and stop before it
closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable

from aiohttp import web
from aiohttp.typedefs import Handler

from lurkcoin.api import explorer_routes, fallbacks, logmask, onboarding_routes
from lurkcoin.api.access import log_access, request_id_middleware
from lurkcoin.api.app_keys import LEDGER_KEY
from lurkcoin.api.backup_task import backup_context
from lurkcoin.api.expiry_task import expiry_context
from lurkcoin.api.metrics import install_metrics, metrics_context
from lurkcoin.api.replies import failure
from lurkcoin.api.routes import ENDPOINTS
from lurkcoin.api.routing import add_endpoints
from lurkcoin.api.throttle import THROTTLE_KEY, LoginThrottle
from lurkcoin.api.v2_routes import V2_ENDPOINTS
from lurkcoin.config import Config
from lurkcoin.console import add_console
from lurkcoin.core.errors import LurkcoinError
from lurkcoin.ledger import Ledger

__all__ = ["LEDGER_KEY", "CleanupContext", "create_app"]

log = logging.getLogger(__name__)

CleanupContext = Callable[[web.Application], AsyncIterator[None]]

# How often to pick up servers the CLI created in another process.
REFRESH_INTERVAL = 1.0
# How often to forget idempotency keys older than the Ledger keeps them.
EXPIRY_INTERVAL = 3600.0


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Coded errors become the /v3 JSON error reply; router misses answer like the reference."""
    try:
        return await handler(request)
    except LurkcoinError as err:
        if not _is_v3(request):
            raise
        return failure(request, err)
    except web.HTTPException as exc:
        if getattr(request.match_info, "http_exception", None) is exc:
            return fallbacks.router_reply(request, exc)
        raise
    except Exception:
        if not _is_v3(request):
            raise
        # A bug, never a client's fault: log it, answer without a traceback.
        log.exception("unhandled error in %s %s", request.method, request.path)
        return failure(request, LurkcoinError("ERR_INTERNALERROR"))


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every reply: no MIME sniffing; nothing a login showed is kept by a cache."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    if "Authorization" in request.headers and "no-store" not in response.headers.get(
        "Cache-Control", ""
    ):
        response.headers["Cache-Control"] = "no-store"


def _is_v3(request: web.Request) -> bool:
    return request.path.startswith("/v3/")


def _ledger_context(config: Config, given: Ledger | None) -> CleanupContext:
    """Open the Ledger on startup and close it on cleanup (a given one stays the caller's)."""

    async def ledger_context(app: web.Application) -> AsyncIterator[None]:
        ledger = given if given is not None else await Ledger.open(config)
        app[LEDGER_KEY] = ledger
        try:
            yield
        finally:
            if given is None:
                await ledger.close()

    return ledger_context


async def _maintain(ledger: Ledger, refresh_interval: float, expiry_interval: float) -> None:
    loop = asyncio.get_running_loop()
    next_expiry = loop.time() + expiry_interval
    while True:
        await asyncio.sleep(refresh_interval)
        try:
            await ledger.refresh_if_changed()
            if loop.time() >= next_expiry:
                next_expiry = loop.time() + expiry_interval
                await ledger.expire_idempotency_keys()
        except Exception:  # keep maintaining: one failed probe is not fatal
            log.exception("ledger maintenance failed")


async def _maintenance_context(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(
        _maintain(app[LEDGER_KEY], REFRESH_INTERVAL, EXPIRY_INTERVAL), name="lurkcoin-maintenance"
    )
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def create_app(
    config: Config, *, ledger: Ledger | None = None, extra_contexts: Iterable[CleanupContext] = ()
) -> web.Application:
    """The web application serving the lurkcoinV3 API, and lurkcoinV2 unless ``min_version = 3``.

    ``ledger``: an already open Ledger to use (the caller closes it);
    otherwise one is opened from ``config`` at startup and closed at cleanup.
    ``extra_contexts``: further cleanup contexts, started after the Ledger
    (the webhook dispatcher goes here). A caller may also append to
    ``app.cleanup_ctx`` before the app starts; those run last.
    """
    logmask.install()  # aiohttp's own logs may quote a V2 URL with its token
    app = web.Application(middlewares=[request_id_middleware, error_middleware])
    app[THROTTLE_KEY] = LoginThrottle.from_config(config.security)
    app.on_response_prepare.append(security_headers)
    app.on_response_prepare.append(log_access)
    install_metrics(app)
    app.cleanup_ctx.append(_ledger_context(config, ledger))
    app.cleanup_ctx.append(_maintenance_context)
    app.cleanup_ctx.append(metrics_context)
    app.cleanup_ctx.append(expiry_context)
    app.cleanup_ctx.append(backup_context)
    app.cleanup_ctx.extend(extra_contexts)
    add_endpoints(app, ENDPOINTS)
    if config.api.min_version <= 2:
        add_endpoints(app, V2_ENDPOINTS)
    if config.admin.accounts:
        add_console(app, config)
    explorer_routes.install(app, config)
    onboarding_routes.install(app, config)
    return app
