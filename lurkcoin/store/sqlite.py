"""The SQLite store: one writer thread with group commit, aiosqlite readers.

Every mutation is a plain function ``op(tx: WriteTx) -> result``. The writer
takes everything queued (up to ``max_batch``), opens one ``BEGIN IMMEDIATE``,
runs each operation inside its own SAVEPOINT (a failing payment rolls back
alone), commits once and only then answers every waiter: one fsync serves
many payments, and no caller hears "success" before its data is durable.

Two paths, one rule. A batch costs one thread hop, never one per statement
(each hop costs ~80 µs here).

- The light path: a batch made only of *light* operations (``write_light``:
  payments, acknowledgements, rejections) runs its statements on the event
  loop and hands only the COMMIT, whose fsync is the slow part, to the writer
  thread. Statements executed on the writer thread hand the GIL back and
  forth with the event loop at every call, which measured ~20% fewer
  payments per second (README, "Performance").
- The thread path: any other operation (``write``: an import, an account
  change) makes its whole batch run on the writer thread, and so does a
  light batch that finds another process (the CLI) holding the write lock,
  so the event loop never waits for a lock or a long job.

The rule that keeps the light path safe: a light operation is a function of
a ``LightTx`` (store/writes.py), whose methods are a few indexed statements
each, with no I/O of their own; the type gate (mypy --strict) refuses a light
operation that calls anything else. One asyncio lock keeps the connection to
one user at a time.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from lurkcoin.core.errors import LurkcoinError, ServiceUnavailable
from lurkcoin.models import BatchOutcome, Server
from lurkcoin.store.copies import copy_database
from lurkcoin.store.health import WriteHealth, storage_problem
from lurkcoin.store.migrate import migrate
from lurkcoin.store.reads import Reader
from lurkcoin.store.rows import SERVER_COLUMNS, server_from_row
from lurkcoin.store.writes import LightTx, WriteTx

log = logging.getLogger(__name__)

T = TypeVar("T")
Operation = Callable[[WriteTx], Any]
# (operation, its caller's future, whether it is light enough for the event loop,
# the server rows it will lock: only PostgreSQL uses them, see store/postgres.py)
_Queued = tuple[Operation, "asyncio.Future[Any]", bool, tuple[int, ...]]
Results = list[tuple[bool, Any]]

BUSY_TIMEOUT_MS = 10000
# How long closing waits for queued writes to commit.
DRAIN_TIMEOUT = 10.0


def _configure(conn: sqlite3.Connection, synchronous: str) -> None:
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


class SqliteStore:
    """Owns the database file: migrations, the writer thread and the readers."""

    def __init__(
        self,
        path: str,
        *,
        synchronous: str = "FULL",
        max_batch: int = 512,
        max_bytes: int = 0,
        retry_interval: float = 5.0,
    ) -> None:
        self.path = path
        self.synchronous = synchronous
        self.max_batch = max_batch
        # 0: no cap on the file's size; else writes beyond it fail like a full disk.
        self.max_bytes = max_bytes
        # While writes fail (disk full...): how often to probe, and the Retry-After.
        self.retry_interval = retry_interval
        self.health = WriteHealth(path)
        self._commit_seconds = 0.0
        self._probe: asyncio.TimerHandle | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lurkcoin-writer")
        self._conn: sqlite3.Connection | None = None
        self._queue: asyncio.Queue[_Queued] | None = None
        # Held by whoever uses the writer connection: a batch, a probe, a backup.
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._data_version = 0
        self._version_in_tx = 0
        self.issuance_id = 0
        # The system account exchange fees are paid to (migration 0008).
        self.fees_id = 0
        self.reader: Reader | None = None
        self.batches = 0
        self.batched_operations = 0
        # Called on the event loop after each COMMIT with what changed.
        self.on_commit: list[Callable[[BatchOutcome], None]] = []

    # -- lifecycle --------------------------------------------------------

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._open_writer)
        self.reader = await Reader.open(self.path)
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._writer_loop(), name="lurkcoin-writer")

    def _open_writer(self) -> None:
        # check_same_thread=False only because the connection is created and
        # used on this one executor thread, which outlives the calling task.
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            _configure(conn, self.synchronous)
            migrate(conn)
            if self.max_bytes:
                self._limit_pages(conn, self.max_bytes)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self.issuance_id = int(
            conn.execute("SELECT id FROM servers WHERE uid = '@issuance'").fetchone()[0]
        )
        self.fees_id = int(conn.execute("SELECT id FROM servers WHERE uid = '@fees'").fetchone()[0])
        self._data_version = self._current_data_version()

    @staticmethod
    def _limit_pages(conn: sqlite3.Connection, max_bytes: int | None) -> None:
        page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        # SQLite's own ceiling when uncapped; it never goes below the current size.
        pages = max_bytes // page_size if max_bytes else 0xFFFFFFFE
        conn.execute(f"PRAGMA max_page_count = {max(1, pages)}")

    async def set_size_limit(self, max_bytes: int | None) -> None:
        """Cap the database file's size (None: no cap), as ``[database] max_size`` does."""
        self.max_bytes = max_bytes or 0

        def apply() -> None:
            assert self._conn is not None
            self._limit_pages(self._conn, max_bytes)

        async with self._lock:
            await self._on_thread(apply)

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            self._probe = None
        if self._task is not None and not self._task.done() and self.health.problem is None:
            # Let what is queued be committed (shutdown): a marker queued last
            # is answered once everything before it is.
            try:
                await asyncio.wait_for(self.write(lambda tx: None), DRAIN_TIMEOUT)
            except (Exception, asyncio.TimeoutError):
                log.warning("closing with writes still queued (they are not committed)")
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._queue is not None:
            while not self._queue.empty():
                _, fut, _, _ = self._queue.get_nowait()
                if not fut.done():
                    fut.set_exception(LurkcoinError("ERR_INTERNALERROR", "Server shutting down."))
            self._queue = None  # a write after close fails at once instead of waiting forever
        if self.reader is not None:
            await self.reader.close()
            self.reader = None
        if self._conn is not None:
            async with self._lock:
                conn, self._conn = self._conn, None
                await self._on_thread(conn.close)
        self._executor.shutdown(wait=True)

    # -- writing ----------------------------------------------------------

    async def write(self, op: Callable[[WriteTx], T]) -> T:
        """Run ``op`` in the next batch, on the writer thread; returns once it is durable."""
        return await self._enqueue(op, light=False, locks=())

    async def write_light(self, op: Callable[[LightTx], T], locks: Iterable[int] = ()) -> T:
        """Like write, for a light operation: its batch may run on the event loop.

        ``locks``: the servers whose rows the operation will change, when known
        (a payment's source and target). SQLite's one writer needs no row
        locks; PostgreSQL locks them first, in id order (store/postgres.py).
        """
        return await self._enqueue(op, light=True, locks=tuple(locks))

    async def _enqueue(
        self, op: Callable[[WriteTx], T], *, light: bool, locks: tuple[int, ...]
    ) -> T:
        if self._queue is None:
            raise RuntimeError("store is not open")
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((op, fut, light, locks))
        return await fut

    async def _writer_loop(self) -> None:
        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            ops = [op for op, _, _, _ in batch]
            locks = {server_id for *_, ids in batch for server_id in ids}
            try:
                async with self._lock:
                    results, outcome = await self._commit_batch(
                        ops, all(light for _, _, light, _ in batch), locks
                    )
                    # Still under the lock: whatever else reloads the caches
                    # (PostgreSQL's change listener) applies in commit order.
                    self._committed(outcome, len(batch))
            except Exception as exc:  # the batch as a whole failed: nothing was committed
                error = self._batch_failed(exc)
                for _, fut, _, _ in batch:
                    if not fut.done():
                        fut.set_exception(error)
                continue
            for (_, fut, _, _), (ok, value) in zip(batch, results, strict=True):
                if fut.done():  # the caller went away; its work is committed anyway
                    continue
                if ok:
                    fut.set_result(value)
                else:
                    fut.set_exception(value)

    def _committed(self, outcome: BatchOutcome, size: int) -> None:
        self.health.succeeded()
        outcome.commit_seconds = self._commit_seconds
        self.batches += 1
        self.batched_operations += size
        self._apply(outcome)

    def _apply(self, outcome: BatchOutcome) -> None:
        for callback in self.on_commit:
            try:
                callback(outcome)
            except Exception:
                log.exception("post-commit callback failed")

    def _batch_failed(self, exc: Exception) -> LurkcoinError:
        """The error every caller of a failed batch gets; a full disk is a 503, not a bug."""
        reason = self._storage_problem(exc)
        if reason is None:
            log.exception("write batch failed")
            return LurkcoinError("ERR_INTERNALERROR")
        self.health.failed(reason, exc)
        if self._probe is None:
            loop = asyncio.get_running_loop()
            self._probe = loop.call_later(self.retry_interval, self._send_probe)
        return ServiceUnavailable(reason, self.retry_interval)

    def _send_probe(self) -> None:
        """While writes fail, try one that needs disk space, so service resumes by itself."""
        self._probe = None
        if self._queue is None or self.health.problem is None:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Nobody awaits the probe: its outcome only moves self.health.
        fut.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._queue.put_nowait((lambda tx: tx.probe_space(), fut, False, ()))

    async def probe_writes(self) -> str | None:
        """Try a write that needs disk space now; the problem if it fails, else None."""
        try:
            await self.write(lambda tx: tx.probe_space())
        except ServiceUnavailable as err:
            return err.reason
        return None

    async def _on_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` on the writer thread; the caller holds ``_lock``.

        If the caller is cancelled, this still returns only once ``fn`` has
        finished, so the lock is never released while the thread uses the
        connection.
        """
        done = asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        try:
            return await asyncio.shield(done)
        except asyncio.CancelledError:
            await asyncio.wait([done])
            raise

    async def _commit_batch(
        self, ops: list[Operation], light: bool, locks: set[int]
    ) -> tuple[Results, BatchOutcome]:
        if not (light and self._begin(wait=False)):
            return await self._on_thread(self._run_batch, ops)
        # Statements here on the event loop; only the COMMIT (the fsync) on the thread.
        tx, external_change, results = self._statements(ops)
        await self._on_thread(self._commit)
        return results, self._outcome(tx, external_change, len(ops))

    def _run_batch(self, ops: list[Operation]) -> tuple[Results, BatchOutcome]:
        """The whole batch on the writer thread: waits for a lock another process holds."""
        self._begin(wait=True)
        tx, external_change, results = self._statements(ops)
        self._commit()
        return results, self._outcome(tx, external_change, len(ops))

    def _statements(self, ops: list[Operation]) -> tuple[WriteTx, bool, Results]:
        """Run a begun batch's operations; the whole transaction is undone if that fails."""
        try:
            tx, external_change = self._start(), self._external_change()
            results = self._run_ops(tx, ops)
            tx.flush_rollup()  # one statement for the whole batch, just before COMMIT
            return tx, external_change, results
        except BaseException:
            self._rollback()
            raise

    def _begin(self, *, wait: bool) -> bool:
        """BEGIN IMMEDIATE; without ``wait``, False at once if another process writes."""
        conn = self._conn
        assert conn is not None
        if wait:
            conn.execute("BEGIN IMMEDIATE")
            return True
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            conn.execute("BEGIN IMMEDIATE")
            return True
        except sqlite3.OperationalError:  # locked (or worse): the thread path finds out
            return False
        finally:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    def _start(self) -> WriteTx:
        assert self._conn is not None
        return WriteTx(self._conn, self.issuance_id)

    def _external_change(self) -> bool:
        # Read inside the write transaction: nobody can commit between this
        # look and our COMMIT, so no other process's change goes unnoticed.
        # The value is what we have seen once we commit (our own COMMIT does
        # not change our data_version); re-reading it after COMMIT could
        # swallow a commit another process slips in meanwhile.
        self._version_in_tx = self._current_data_version()
        return self._version_in_tx != self._data_version

    def _run_ops(self, tx: WriteTx, ops: list[Operation]) -> Results:
        """Each operation inside its own SAVEPOINT: a failing one rolls back alone."""
        conn = self._conn
        assert conn is not None
        results: Results = []
        for op in ops:
            changed_before = set(tx.changed_servers)
            notified_before = set(tx.notified_servers)
            rollup_before = {key: list(values) for key, values in tx.rollup.items()}
            conn.execute("SAVEPOINT op")
            try:
                value = op(tx)
            except Exception as exc:
                if self._fails_whole_batch(exc):
                    raise  # the disk, not this operation: the whole batch fails alike
                conn.execute("ROLLBACK TO op")
                conn.execute("RELEASE op")
                tx.changed_servers = changed_before
                tx.notified_servers = notified_before
                tx.rollup = rollup_before
                if not isinstance(exc, LurkcoinError):
                    log.exception("operation failed")
                    exc = LurkcoinError("ERR_INTERNALERROR")
                results.append((False, exc))
            else:
                conn.execute("RELEASE op")
                results.append((True, value))
        return results

    def _storage_problem(self, exc: BaseException) -> str | None:
        """What stops writes, if ``exc`` is a condition of the database rather than a bug."""
        return storage_problem(exc)

    def _fails_whole_batch(self, exc: Exception) -> bool:
        return self._storage_problem(exc) is not None

    def _commit(self) -> None:
        conn = self._conn
        assert conn is not None
        started = time.perf_counter()
        try:
            conn.execute("COMMIT")
            self._commit_seconds = time.perf_counter() - started
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        if self._conn is not None and self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def _outcome(self, tx: WriteTx, external_change: bool, size: int) -> BatchOutcome:
        """After COMMIT: the rows the caches must refresh.

        Never raises: the batch is committed, so its callers must hear their
        results whatever happens here. If the reload fails, the caches are
        marked stale and the next batch or probe reloads everything.
        """
        conn = self._conn
        assert conn is not None
        self._data_version = self._version_in_tx
        try:
            if external_change:
                # Another process (the CLI) committed since our last batch:
                # refresh every cached server and key, not just what we touched.
                return self._full_outcome(conn, set(tx.notified_servers), size)
            servers, deleted = self._reload(conn, tx.changed_servers)
        except Exception:
            log.exception("reloading the caches after a commit failed; will reload all")
            self._data_version = -1
            return BatchOutcome([], set(), set(tx.notified_servers), size)
        return BatchOutcome(servers, deleted, set(tx.notified_servers), size)

    def _full_outcome(
        self, conn: sqlite3.Connection, notified: set[int], size: int
    ) -> BatchOutcome:
        return BatchOutcome(
            self._all_servers(conn),
            set(),
            notified,
            size,
            full=True,
            api_keys=WriteTx(conn, self.issuance_id).active_api_keys(),
        )

    def _current_data_version(self) -> int:
        assert self._conn is not None
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    @staticmethod
    def _reload(conn: sqlite3.Connection, ids: set[int]) -> tuple[list[Server], set[int]]:
        if not ids:
            return [], set()
        marks = ",".join("?" * len(ids))
        rows = conn.execute(
            f"SELECT {SERVER_COLUMNS} FROM servers WHERE id IN ({marks}) AND deleted_at IS NULL",
            tuple(ids),
        ).fetchall()
        servers = [server_from_row(r) for r in rows]
        return servers, ids - {s.id for s in servers}

    @staticmethod
    def _all_servers(conn: sqlite3.Connection) -> list[Server]:
        rows = conn.execute(
            f"SELECT {SERVER_COLUMNS} FROM servers WHERE deleted_at IS NULL"
        ).fetchall()
        return [server_from_row(r) for r in rows]

    async def external_changes(self) -> BatchOutcome | None:
        """If another process wrote since our last look, everything to reload."""

        def probe() -> BatchOutcome | None:
            if self._conn is None or self._current_data_version() == self._data_version:
                return None
            self._data_version = self._current_data_version()
            return self._full_outcome(self._conn, set(), 0)

        async with self._lock:
            return await self._on_thread(probe)

    async def all_servers(self) -> list[Server]:
        def load() -> list[Server]:
            assert self._conn is not None
            return self._all_servers(self._conn)

        async with self._lock:
            return await self._on_thread(load)

    async def backup_to(
        self, dest: str, progress: Callable[[int, int], None] | None = None
    ) -> None:
        """A consistent copy of the live database through SQLite's online backup.

        Made on a connection of its own on a worker thread (lurkcoin.store.copies),
        so the writer, and with it every payment, goes on meanwhile.
        ``progress(pages_done, pages_total)`` is called from that thread.
        """
        await asyncio.to_thread(copy_database, self.path, dest, progress)
