"""The server's pending-expiry task (``[ledger] pending_expiry``), beside the API.

It wakes a few times per expiry period (at most once a minute) and hands the
work to the Ledger, whose writer operations are bounded, so payments never
wait long behind it. Several processes may each run it: the Ledger makes
every expiry at-most-once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from lurkcoin.api.app_keys import LEDGER_KEY
from lurkcoin.ledger import Ledger

log = logging.getLogger(__name__)


def check_interval(expiry_seconds: int) -> float:
    """A tenth of the expiry, between half a second and a minute."""
    return min(60.0, max(0.5, expiry_seconds / 10))


async def _run(ledger: Ledger, interval: float) -> None:
    while True:
        try:
            expired = await ledger.expire_pending()
            if expired:
                log.info("pending expiry rejected and refunded %d transactions", len(expired))
        except Exception:  # a failed round is retried at the next one
            log.exception("pending expiry failed")
        await asyncio.sleep(interval)


async def expiry_context(app: web.Application) -> AsyncIterator[None]:
    ledger = app[LEDGER_KEY]
    expiry = ledger.config.ledger.pending_expiry_seconds
    task = None
    if expiry > 0:
        task = asyncio.create_task(_run(ledger, check_interval(expiry)), name="lurkcoin-expiry")
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
