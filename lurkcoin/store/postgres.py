"""The PostgreSQL store: the same operations, batches and caches as SQLite, for several processes.

It is the SQLite store's batching writer (group commit, one SAVEPOINT per
operation, one answer per caller only after COMMIT) on a psycopg connection,
with what several processes sharing one ledger need on top:

- Row locks instead of the single writer. Every row an operation reads
  before it writes it is read ``FOR UPDATE`` (PgWriteTx), so two processes
  paying from one server queue on its row and the second sees the first's
  balance; acknowledgement and rejection lock the pending transaction, so it
  settles once. Two processes can still lock the same rows in opposite
  orders: PostgreSQL then aborts one transaction (a deadlock), and so does a
  unique key inserted by another process at the same moment (an idempotency
  key raced from two processes). The whole batch is then rolled back and run
  again (``RETRIES`` times), and the retry sees the other process's rows.
- Coherent caches. Each COMMIT also sends a NOTIFY naming the servers it
  changed; every process LISTENs and reloads those rows (store/pg_listener.py).
- The database going away (a restart, the network) is a 503 with
  Retry-After, like a full disk on SQLite; the next batch reconnects.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from lurkcoin.core.database_url import redact
from lurkcoin.core.errors import LurkcoinError
from lurkcoin.models import BatchOutcome
from lurkcoin.store.health import WriteHealth
from lurkcoin.store.migrate import migrate_postgres
from lurkcoin.store.pg_connection import (
    RETRYABLE_STATES,
    UNREACHABLE,
    PgConnection,
    sqlstate,
    unreachable,
)
from lurkcoin.store.pg_reads import PgReader
from lurkcoin.store.sqlite import Operation, Results, SqliteStore
from lurkcoin.store.writes import WriteTx

log = logging.getLogger(__name__)

# How many times a batch that lost a lock race is run again before its callers hear an error.
RETRIES = 8
CHANNEL = "lurkcoin_changes"
# PostgreSQL's NOTIFY payload limit is 8000 bytes; past this, "reload everything".
_MAX_NOTIFIED_IDS = 500


class PgWriteTx(WriteTx):
    FOR_UPDATE = " FOR UPDATE"
    SKIP_LOCKED = " FOR UPDATE SKIP LOCKED"

    def probe_space(self) -> None:
        """The recovery probe: a statement that reaches the database and changes nothing."""
        self.conn.execute("SELECT 1")


class PgStore(SqliteStore):
    """One process's share of a PostgreSQL ledger."""

    engine = "postgresql"

    def __init__(self, url: str, *, max_batch: int = 512, retry_interval: float = 5.0) -> None:
        super().__init__(url, max_batch=max_batch, retry_interval=retry_interval)
        self.url = url
        self.path = redact(url)  # what logs, metrics and messages name
        self.health = WriteHealth(self.path)
        # Tells this process's own notifications from other processes'.
        self.instance = f"{os.getpid()}-{id(self):x}-{time.time_ns():x}"
        self.retried_batches = 0
        # The servers the batch being run declared (write_light's locks), in id order.
        self._batch_locks: list[int] = []
        self._pg: PgConnection | None = None
        self._listener: Any = None

    # -- lifecycle --------------------------------------------------------

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._open_writer)
        self.reader = await PgReader.open(self.url)
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._writer_loop(), name="lurkcoin-writer")
        from lurkcoin.store.pg_listener import ChangeListener

        self._listener = ChangeListener(self)
        await self._listener.start()

    def _open_writer(self) -> None:
        conn = self._connect()
        try:
            migrate_postgres(conn)
            row = conn.execute("SELECT id FROM servers WHERE uid = '@issuance'").fetchone()
            assert row is not None, "the migrations create the issuance account"
            self.issuance_id = int(row[0])
            row = conn.execute("SELECT id FROM servers WHERE uid = '@fees'").fetchone()
            assert row is not None, "the migrations create the fee account"
            self.fees_id = int(row[0])
        except BaseException:
            conn.close()
            raise
        self._pg = conn
        self._conn = conn  # type: ignore[assignment]

    def _connect(self) -> PgConnection:
        return PgConnection.connect(self.url, application_name="lurkcoin-writer")

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.stop()
            self._listener = None
        await super().close()

    async def set_size_limit(self, max_bytes: int | None) -> None:
        """[database] max_size caps a SQLite file; PostgreSQL's space is the operator's."""

    async def backup_to(
        self, dest: str, progress: Callable[[int, int], None] | None = None
    ) -> None:
        raise LurkcoinError(
            "ERR_INTERNALERROR",
            "Online copies are for SQLite ledgers; back a PostgreSQL ledger up with "
            "pg_dump or the server's own backups (point-in-time recovery).",
        )

    # -- writing ----------------------------------------------------------

    async def _commit_batch(
        self, ops: list[Operation], light: bool, locks: set[int]
    ) -> tuple[Results, BatchOutcome]:
        # Every statement is a network round trip: the whole batch runs on the thread.
        return await self._on_thread(self._run_batch_with_retries, ops, sorted(locks))

    def _run_batch_with_retries(
        self, ops: list[Operation], locks: list[int]
    ) -> tuple[Results, BatchOutcome]:
        self._batch_locks = locks
        for attempt in range(RETRIES + 1):
            self._ensure_connected()
            try:
                return self._run_batch(ops)
            except Exception as exc:
                if sqlstate(exc) not in RETRYABLE_STATES or attempt == RETRIES:
                    raise
                self.retried_batches += 1
                # A short, growing pause lets the other process's transaction finish.
                time.sleep(0.002 * (attempt + 1))
        raise AssertionError("unreachable")

    def _ensure_connected(self) -> None:
        if self._pg is None or self._pg.closed:
            if self._pg is not None:
                try:
                    self._pg.close()
                except Exception:
                    pass
            self._pg = self._connect()
            self._conn = self._pg  # type: ignore[assignment]

    def _begin(self, *, wait: bool) -> bool:
        """BEGIN, then lock the rows of every server the batch's payments will change.

        In id order, in one statement, before any operation runs: two processes'
        batches then never hold some of these rows while waiting for others, so
        payments never deadlock (only an operation that locks rows it did not
        declare can, and then the batch is run again).
        """
        assert self._pg is not None
        self._pg.execute("BEGIN")
        if self._batch_locks:
            self._pg.execute(
                "SELECT id FROM servers WHERE id = ANY(?) ORDER BY id FOR UPDATE",
                (self._batch_locks,),
            )
        return True

    def _start(self) -> WriteTx:
        assert self._pg is not None
        return PgWriteTx(self._pg, self.issuance_id)  # type: ignore[arg-type]

    def _external_change(self) -> bool:
        return False  # other processes' changes arrive by NOTIFY (pg_listener)

    def _current_data_version(self) -> int:
        return 0

    def _storage_problem(self, exc: BaseException) -> str | None:
        # The database going away is PostgreSQL's "disk full": 503s and a probe until it is back.
        return UNREACHABLE if unreachable(exc) else None

    def _fails_whole_batch(self, exc: Exception) -> bool:
        return sqlstate(exc) in RETRYABLE_STATES or super()._fails_whole_batch(exc)

    def _statements(self, ops: list[Operation]) -> tuple[WriteTx, bool, Results]:
        tx, external, results = super()._statements(ops)
        try:
            self._announce(tx, ops)
        except BaseException:
            self._rollback()
            raise
        return tx, external, results

    def _announce(self, tx: WriteTx, ops: list[Operation]) -> None:
        """NOTIFY the other processes, inside the transaction: sent only if it commits.

        It names the servers whose rows changed (their caches reload them) and
        those with a fresh webhook notification (their dispatchers wake too:
        whichever claims the outbox row first delivers it, see store/webhooks.py).
        """
        changed = sorted(tx.changed_servers)
        notified = sorted(tx.notified_servers)
        if not changed and not notified and not tx.keys_changed:
            return
        everything = tx.keys_changed or len(changed) + len(notified) > _MAX_NOTIFIED_IDS
        payload = {
            "from": self.instance,
            "servers": None if everything else changed,
            "notified": [] if everything else notified,
        }
        assert self._pg is not None
        self._pg.execute("SELECT pg_notify(?, ?)", (CHANNEL, json.dumps(payload)))

    def _rollback(self) -> None:
        if self._pg is not None and not self._pg.closed and self._pg.in_transaction:
            try:
                self._pg.execute("ROLLBACK")
            except Exception:
                log.warning("ROLLBACK failed; reconnecting for the next batch", exc_info=True)
                self._pg.close()

    async def external_changes(self) -> BatchOutcome | None:
        """Everything to reload when this process may have missed notifications."""
        if self._listener is not None and self._listener.take_missed():
            await self.reload_servers(None, set())
        return None  # applied by reload_servers, under the lock, in commit order

    async def reload_servers(self, ids: list[int] | None, notified: set[int]) -> None:
        """Another process changed these servers (None: anything): refresh the caches."""

        def load() -> BatchOutcome:
            self._ensure_connected()
            assert self._pg is not None
            conn: Any = self._pg
            if ids is None:
                return self._full_outcome(conn, set(), 0)
            servers, deleted = self._reload(conn, set(ids))
            return BatchOutcome(servers, deleted, notified, 0)

        async with self._lock:
            outcome = await self._on_thread(load)
            self._apply(outcome)
