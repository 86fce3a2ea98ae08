"""The single writer's two paths: light batches on the event loop, the rest on its thread."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lurkcoin.config import Config
from lurkcoin.ledger import Ledger
from lurkcoin.models import BatchOutcome

# The SQLite writer itself (its thread, its lock, its batches): left out of the PostgreSQL half.
pytestmark = pytest.mark.sqlite_only

ROOT = Path(__file__).resolve().parent.parent


def config(tmp_path: Path) -> Config:
    c = Config()
    c.database.path = str(tmp_path / "w.db")
    return c


async def test_payments_wait_for_another_process_without_blocking_the_loop(tmp_path: Path) -> None:
    """While the CLI holds the write lock, payments queue on the writer thread.

    The event loop keeps running meanwhile, and the payments commit once the
    lock is released.
    """
    ledger = await Ledger.open(config(tmp_path))
    try:
        a, _ = await ledger.create_server("A", balance=10_000)
        await ledger.create_server("B")
        other = sqlite3.connect(
            str(tmp_path / "w.db"), isolation_level=None, check_same_thread=False
        )
        other.execute("BEGIN IMMEDIATE")
        payments = [
            asyncio.create_task(
                ledger.pay(
                    a,
                    source_user="x",
                    target_user="y",
                    target_server="B",
                    amount=100,
                    local_currency=False,
                )
            )
            for _ in range(5)
        ]
        # The loop itself releases the other process's lock, after 20 turns of
        # its own: were the writer blocking the loop while it waits for the
        # lock, this could not run until the busy timeout had failed them all.
        # No clock is read, so a loaded machine only makes the test slower.
        for _ in range(20):
            await asyncio.sleep(0.01)
        assert not any(p.done() for p in payments)  # they wait for the lock
        other.execute("COMMIT")
        other.close()
        paid = await asyncio.gather(*payments)
        assert len({t.id for t in paid}) == 5
        assert ledger.require_server("A").balance == 9_500
        report = await ledger.check()
        assert report.ok, report.problems
    finally:
        await ledger.close()


async def test_light_and_heavy_operations_in_one_batch(tmp_path: Path) -> None:
    """A batch mixing payments with an account change runs whole on the thread."""
    ledger = await Ledger.open(config(tmp_path))
    try:
        a, _ = await ledger.create_server("A", balance=10_000)
        await ledger.create_server("B")
        results = await asyncio.gather(
            ledger.pay(
                a,
                source_user="x",
                target_user="y",
                target_server="B",
                amount=100,
                local_currency=False,
            ),
            ledger.adjust_balance("B", 50, "bonus"),
            ledger.pay(
                a,
                source_user="x",
                target_user="",
                target_server="B",
                amount=20_000,
                local_currency=False,
            ),
            return_exceptions=True,
        )
        assert not isinstance(results[0], BaseException)
        assert not isinstance(results[1], BaseException)
        assert isinstance(results[2], Exception)  # cannot afford: rolled back alone
        assert ledger.require_server("A").balance == 9_900
        assert ledger.require_server("B").balance == 150
        report = await ledger.check()
        assert report.ok, report.problems
    finally:
        await ledger.close()


async def test_a_write_after_close_fails_instead_of_waiting_forever(tmp_path: Path) -> None:
    ledger = await Ledger.open(config(tmp_path))
    await ledger.close()
    with pytest.raises(RuntimeError, match="not open"):
        async with asyncio.timeout(10):  # a hang would otherwise stall the run
            await ledger.create_server("Late")


HEAVY_AS_LIGHT = """
from lurkcoin.store.sqlite import SqliteStore


async def heavy(store: SqliteStore) -> None:
    await store.write_light(lambda tx: tx.active_api_keys())
"""


def test_the_type_gate_refuses_a_light_operation_that_is_not_light(tmp_path: Path) -> None:
    """The light path's rule is checked: only LightTx's bounded statements type-check."""
    snippet = tmp_path / "heavy.py"
    snippet.write_text(HEAVY_AS_LIGHT, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", str(snippet)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert '"LightTx" has no attribute "active_api_keys"' in result.stdout, result.stdout


async def test_a_light_batch_runs_its_statements_on_the_event_loop(tmp_path: Path) -> None:
    """Payments (light) run on the loop's thread and only COMMIT on the writer thread;
    anything else runs whole on the writer thread."""
    ledger = await Ledger.open(config(tmp_path))
    try:
        ran_on: list[threading.Thread] = []
        await ledger.store.write_light(lambda tx: ran_on.append(threading.current_thread()))
        await ledger.store.write(lambda tx: ran_on.append(threading.current_thread()))
        assert ran_on[0] is threading.current_thread()
        assert ran_on[1].name.startswith("lurkcoin-writer")  # the writer's own thread
    finally:
        await ledger.close()


async def test_a_batch_holds_at_most_max_batch_operations(tmp_path: Path) -> None:
    ledger = await Ledger.open(config(tmp_path))
    try:
        store = ledger.store
        store.max_batch = 2
        batches_before, operations_before = store.batches, store.batched_operations
        # Queued in one turn of the loop, before the writer wakes: 2 + 2 + 1.
        await asyncio.gather(*(store.write_light(lambda tx: None) for _ in range(5)))
        assert store.batched_operations - operations_before == 5
        assert store.batches - batches_before == 3
    finally:
        await ledger.close()


async def test_a_caller_that_went_away_leaves_the_rest_of_its_batch_answered(
    tmp_path: Path,
) -> None:
    """The first caller of a batch is cancelled while it runs: its work commits and
    the callers after it in the same batch still get their answers."""
    ledger = await Ledger.open(config(tmp_path))
    try:
        store = ledger.store
        started = threading.Event()

        def slow(tx: object) -> str:
            started.set()
            time.sleep(0.2)
            return "slow"

        first = asyncio.create_task(store.write(slow))
        rest = [asyncio.create_task(store.write(lambda tx, n=n: n)) for n in range(3)]
        await asyncio.to_thread(started.wait, 10)  # the batch is running on the thread
        first.cancel()
        assert await asyncio.wait_for(asyncio.gather(*rest), 10) == [0, 1, 2]
        assert first.cancelled()
    finally:
        await ledger.close()


async def test_a_failing_commit_callback_is_logged_and_the_writer_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = await Ledger.open(config(tmp_path))
    try:
        seen: list[float] = []

        def broken(outcome: BatchOutcome) -> None:
            raise RuntimeError("a callback's own bug")

        ledger.on_commit(broken)
        ledger.on_commit(lambda outcome: seen.append(outcome.commit_seconds))
        with caplog.at_level(logging.ERROR, logger="lurkcoin"):
            await ledger.create_server("A", balance=100)
        [record] = [r for r in caplog.records if r.name.startswith("lurkcoin")]
        assert record.getMessage() == "post-commit callback failed"
        assert record.exc_info is not None and "own bug" in str(record.exc_info[1])
        assert ledger.require_server("A").balance == 100  # the cache still got it
        # The callbacks after it ran too, and saw how long the COMMIT took.
        assert len(seen) == 1 and 0 <= seen[0] < 10
    finally:
        await ledger.close()


async def test_a_closed_store_refuses_writes_at_once(tmp_path: Path) -> None:
    ledger = await Ledger.open(config(tmp_path))
    await ledger.close()
    with pytest.raises(RuntimeError, match="^store is not open$"):
        await ledger.store.write(lambda tx: None)


async def test_each_outcome_counts_the_operations_of_its_batch(tmp_path: Path) -> None:
    """BatchOutcome.size feeds the batch-size histogram: a batch's operations, on each
    path (light, thread, after another process's commit), and 0 for a mere reload."""
    ledger = await Ledger.open(config(tmp_path))
    other = sqlite3.connect(str(tmp_path / "w.db"), isolation_level=None)
    try:
        outcomes: list[BatchOutcome] = []
        ledger.on_commit(outcomes.append)
        await asyncio.gather(*(ledger.store.write_light(lambda tx: None) for _ in range(3)))
        await ledger.store.write(lambda tx: None)
        other.execute("UPDATE servers SET updated_at = updated_at + 1")  # another process commits
        await ledger.store.write_light(lambda tx: None)  # our next batch reloads everything
        other.execute("UPDATE servers SET updated_at = updated_at + 1")
        assert await ledger.refresh_if_changed()  # a reload between batches: no batch
        assert [o.size for o in outcomes] == [3, 1, 1, 0]
        assert [o.full for o in outcomes] == [False, False, True, True]
    finally:
        other.close()
        await ledger.close()
