"""The webhook dispatcher: delivers the outbox the ledger writes with each payment.

It wakes when a committed batch queued a notification (Ledger.on_commit) and
when the earliest retry falls due, claims due rows through the single writer,
and runs each delivery as its own task, at most ``[webhooks] concurrency`` at
a time and never two for one server: a payment that arrives while its
server's POST is in flight bumps the row's generation, and the row is sent
again once that POST ends. A slow receiver holds one slot, never the writer.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from lurkcoin.config import WebhooksSection
from lurkcoin.models import BatchOutcome, Claim
from lurkcoin.webhooks.delivery import Attempt, open_session, post_notification
from lurkcoin.webhooks.signing import new_message_id

if TYPE_CHECKING:
    from lurkcoin.ledger.engine import Ledger

log = logging.getLogger(__name__)

FIRST_RETRY = 2.0
# A claimed row stays leased this long past the POST's timeout; only a dead
# process leaves a lease to run out.
LEASE_MARGIN = 5.0
# Look at the outbox at least this often, for rows another process wrote.
IDLE_POLL = 60.0
# Pause after the store refused a claim (shutting down, disk trouble).
STORE_ERROR_PAUSE = 1.0
# How long stop() waits for a claim being written before cancelling it.
STOP_GRACE = 2.0


def retry_delay(failures: int, cap: float, rng: random.Random | None = None) -> float:
    """Seconds before the next try: exponential with jitter, in [d/2, d].

    d = 2 s × 2^(failures - 1), at most ``cap``: the first retry comes within
    2 s, later ones never more than ``cap`` apart.
    """
    ceiling = min(cap, FIRST_RETRY * 2.0 ** min(max(failures, 1) - 1, 40))
    return ceiling / 2 + (rng or random).random() * ceiling / 2


class WebhookDispatcher:
    """Start with ``await start()`` after the ledger opens; ``await stop()`` before it closes."""

    def __init__(
        self,
        ledger: Ledger,
        config: WebhooksSection | None = None,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.ledger = ledger
        self.config = config if config is not None else ledger.config.webhooks
        self._rng = rng or random.Random()
        self._wake = asyncio.Event()
        self._in_flight: dict[int, tuple[Claim, asyncio.Task[None]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._session: aiohttp.ClientSession | None = None
        self.deliveries = 0  # POSTs attempted since start (the tests count them)
        # Finished attempts by outcome (delivered, failed, gave_up), for the metrics.
        self.outcomes: Counter[str] = Counter()

    @property
    def running(self) -> bool:
        return self._task is not None

    async def start(self) -> None:
        if self._task is not None:
            return
        cfg = self.config
        self._session = open_session(
            allow_private=cfg.allow_private_addresses,
            timeout=cfg.timeout,
            concurrency=cfg.concurrency,
        )
        self._stopping = False
        self.ledger.on_commit(self._on_commit)
        self._wake.set()  # rows left from before a restart are due now
        self._task = asyncio.create_task(self._run(), name="lurkcoin-webhooks")

    async def stop(self) -> None:
        """Cancel deliveries in flight and hand their rows back, due at once."""
        if self._task is None:
            return
        self.ledger.remove_on_commit(self._on_commit)
        task, self._task = self._task, None
        # Let a claim being written finish (a claim cancelled half-way would
        # leave its rows leased until the lease runs out), then end the loop.
        self._stopping = True
        self._wake.set()
        _, late = await asyncio.wait({task}, timeout=STOP_GRACE)
        for t in late:
            t.cancel()
        abandoned = [claim for claim, _ in self._in_flight.values()]
        tasks = [t for _, t in self._in_flight.values()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(task, *tasks, return_exceptions=True)
        if abandoned:
            now = time.time()
            try:
                await self.ledger.outbox.release(abandoned, now=now)
            except Exception:  # the store is already closed: the leases run out by themselves
                log.warning("could not release %d webhook claims", len(abandoned))
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _on_commit(self, outcome: BatchOutcome) -> None:
        # Runs on the writer's loop after each COMMIT: only set a flag here.
        if outcome.full or not outcome.notified_server_ids <= self._in_flight.keys():
            self._wake.set()

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            delay = await self._dispatch_due()
            if self._stopping:
                break
            if delay is None or delay > 0:
                # Not asyncio.wait_for: on 3.11 it can swallow a cancellation
                # that races with the event being set, and stop() would hang.
                try:
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
                except TimeoutError:
                    pass

    async def _dispatch_due(self) -> float | None:
        """Start deliveries for due rows; returns how long to sleep (None: until woken)."""
        free = self.config.concurrency - len(self._in_flight)
        if free <= 0:
            return None  # a finishing delivery wakes us
        now = time.time()
        lease_until = now + self.config.timeout + LEASE_MARGIN
        busy = list(self._in_flight)
        try:
            result = await self.ledger.outbox.claim_due(
                now=now,
                lease_until=lease_until,
                limit=free,
                exclude=busy,
                new_message_id=new_message_id,
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("claiming due webhooks failed")
            return STORE_ERROR_PAUSE
        for claim in result.claims:
            self._in_flight[claim.server_id] = (
                claim,
                asyncio.create_task(
                    self._deliver(claim), name=f"lurkcoin-webhook-{claim.server_id}"
                ),
            )
        if result.next_due is None:
            return IDLE_POLL
        return min(IDLE_POLL, max(0.0, result.next_due - time.time()))

    async def _deliver(self, claim: Claim) -> None:
        cfg = self.config
        try:
            assert self._session is not None
            self.deliveries += 1
            attempt = await post_notification(
                self._session,
                claim.url,
                secret=claim.secret,
                message_id=claim.message_id,
                allow_private=cfg.allow_private_addresses,
                timeout=cfg.timeout,
            )
            await self._record(claim, attempt, time.time())
        except asyncio.CancelledError:
            raise
        except Exception:  # the lease makes the row due again later
            log.exception("webhook delivery to %s failed unexpectedly", claim.server_name)
        finally:
            self._in_flight.pop(claim.server_id, None)
            self._wake.set()

    async def _record(self, claim: Claim, attempt: Attempt, now: float) -> None:
        if attempt.ok:
            self.outcomes["delivered"] += 1
            assert attempt.status is not None
            await self.ledger.outbox.record_success(claim, now=now, status=attempt.status)
            return
        failures = claim.attempts + 1
        give_up = now - claim.queued_at >= self.config.give_up_after
        retry_at = now + retry_delay(failures, self.config.retry_cap, self._rng)
        error = attempt.error or "failed"
        self.outcomes["gave_up" if give_up else "failed"] += 1
        if give_up:
            log.warning(
                "webhook of %s: giving up after %d attempts: %s", claim.server_name, failures, error
            )
        else:
            log.info(
                "webhook of %s failed (%s); retry %d in %.1f s",
                claim.server_name,
                error,
                failures,
                retry_at - now,
            )
        await self.ledger.outbox.record_failure(
            claim, now=now, status=attempt.status, error=error, retry_at=retry_at, give_up=give_up
        )


DISPATCHER_KEY = web.AppKey("webhook_dispatcher", WebhookDispatcher)


def webhook_context(
    ledger_key: web.AppKey[Ledger],
) -> Callable[[web.Application], AsyncIterator[None]]:
    """An aiohttp cleanup_ctx running the dispatcher for ``app[ledger_key]``.

    Register it after the context that opens the ledger, so the dispatcher
    stops before the ledger closes.
    """

    async def context(app: web.Application) -> AsyncIterator[None]:
        dispatcher = WebhookDispatcher(app[ledger_key])
        await dispatcher.start()
        app[DISPATCHER_KEY] = dispatcher
        try:
            yield
        finally:
            await dispatcher.stop()

    return context
