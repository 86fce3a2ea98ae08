"""The server's scheduled backups (``[backup] directory``, ``interval``, ``keep``), beside the API.

A task takes a verified copy (lurkcoin.ledger.scheduled_backups) every
``interval``, the first one interval after the newest copy already in the
folder (at once when there is none), so restarts neither skip nor pile up
backups. The copy and its check run on worker threads over connections of
their own: payments go on meanwhile. A failure is logged with its reason,
counted for /metrics (``BACKUPS_KEY``) and retried at the next interval; it
never touches readiness, since the server itself is fine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from lurkcoin.api.app_keys import LEDGER_KEY
from lurkcoin.config import BackupSection
from lurkcoin.ledger import Ledger
from lurkcoin.ledger.scheduled_backups import (
    BackupFailed,
    BackupMade,
    newest_backup_time,
    remove_partials,
    take_backup,
)

log = logging.getLogger(__name__)


@dataclass
class BackupState:
    """What the scheduled backups did since the server started, for /metrics."""

    succeeded: int = 0
    failed: int = 0
    last_success_at: float | None = None
    last_failed: bool = False
    last_error: str | None = None
    last_seconds: float = 0.0
    last_bytes: int = 0

    def record_success(self, made: BackupMade, at: float) -> None:
        self.succeeded += 1
        self.last_success_at = at
        self.last_failed, self.last_error = False, None
        self.last_seconds, self.last_bytes = made.seconds, made.size

    def record_failure(self, why: str) -> None:
        self.failed += 1
        self.last_failed, self.last_error = True, why


BACKUPS_KEY = web.AppKey("backups", BackupState)


def first_due(directory: Path, interval: float, now: float) -> float:
    """When the first backup after a start is due: an interval after the newest copy."""
    newest = newest_backup_time(directory)
    return now if newest is None else min(now + interval, max(now, newest + interval))


async def _backup_once(ledger: Ledger, settings: BackupSection, state: BackupState) -> None:
    started = time.time()
    try:
        made = await take_backup(ledger, settings.directory, settings.keep, now=started)
    except BackupFailed as exc:
        state.record_failure(str(exc))
        log.error("scheduled backup failed: %s", exc)
        return
    except Exception as exc:  # a bug: logged in full, and the schedule goes on
        state.record_failure(f"unexpected error: {exc!r}")
        log.exception("scheduled backup failed")
        return
    state.record_success(made, started)
    log.info(
        "scheduled backup %s: %d bytes, %d servers, checked clean in %.1f s%s",
        made.path,
        made.size,
        made.servers,
        made.seconds,
        f"; removed {', '.join(p.name for p in made.removed)}" if made.removed else "",
    )


async def _run(ledger: Ledger, settings: BackupSection, state: BackupState) -> None:
    directory = Path(settings.directory)
    interval = settings.interval_seconds
    for stale in await asyncio.to_thread(remove_partials, directory):
        log.info("removed %s, a backup left unfinished", stale)
    due = first_due(directory, interval, time.time())
    while True:
        await asyncio.sleep(max(0.0, due - time.time()))
        started = time.time()
        await _backup_once(ledger, settings, state)
        # From start to start; a backup longer than the interval is followed at once.
        due = max(time.time(), started + interval)


async def backup_context(app: web.Application) -> AsyncIterator[None]:
    ledger = app[LEDGER_KEY]
    settings = ledger.config.backup
    task = None
    if settings.directory:
        state = app[BACKUPS_KEY] = BackupState()
        task = asyncio.create_task(_run(ledger, settings, state), name="lurkcoin-backups")
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
