"""Cache coherence between processes: LISTEN for the changes other processes commit.

Every PostgreSQL COMMIT that changes servers or API keys carries a NOTIFY
(store/postgres.py, ``_announce``) naming the servers; each process reloads
those rows, so a new token, a revoked key or a balance changed elsewhere is
in every cache within milliseconds. If the listening connection drops, the
process cannot know what it missed: once reconnected, it reloads everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any

import psycopg

if TYPE_CHECKING:
    from lurkcoin.store.postgres import PgStore

log = logging.getLogger(__name__)

RECONNECT_DELAY = 1.0


class ChangeListener:
    def __init__(self, store: "PgStore") -> None:
        self._store = store
        self._task: asyncio.Task[None] | None = None
        self._missed = False
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="lurkcoin-listener")
        # The first LISTEN is in place before the server answers anything.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._ready.wait(), 10)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def take_missed(self) -> bool:
        """True once after a reconnection: notifications may have been lost meanwhile."""
        missed, self._missed = self._missed, False
        return missed

    async def _run(self) -> None:
        first = True
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._store.url, autocommit=True, application_name="lurkcoin-listener"
                )
            except psycopg.Error as exc:
                log.warning("cannot listen for other processes' changes (%s); retrying", exc)
                self._missed = True
                await asyncio.sleep(RECONNECT_DELAY)
                continue
            try:
                await conn.execute("LISTEN lurkcoin_changes")
                if not first:  # whatever was committed while we were away
                    self._missed = True
                    await self._store.external_changes()
                first = False
                self._ready.set()
                async for note in conn.notifies():
                    await self._handle(note.payload)
            except psycopg.Error as exc:
                log.warning("lost the change listener's connection (%s); reconnecting", exc)
                self._missed = True
                await asyncio.sleep(RECONNECT_DELAY)
            finally:
                with contextlib.suppress(Exception):
                    await conn.close()

    async def _handle(self, payload: str) -> None:
        try:
            note: dict[str, Any] = json.loads(payload)
        except ValueError:
            return
        if note.get("from") == self._store.instance:
            return  # our own commit: already applied by the writer
        servers = note.get("servers")
        ids = [int(i) for i in servers] if isinstance(servers, list) else None
        notified = {int(i) for i in note.get("notified") or ()}
        try:
            await self._store.reload_servers(ids, notified)
        except Exception:
            log.exception("reloading servers another process changed failed; will reload all")
            self._missed = True
