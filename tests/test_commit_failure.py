"""A COMMIT that fails: every caller in the batch hears an error, nothing moved.

The failure is SQLite's own: a deferred foreign key is checked only at
COMMIT, so a trigger that leaves a dangling reference behind a payment of
¤6.66 lets every statement of the batch succeed and makes the COMMIT
itself fail. The store must roll the batch back and report it; telling the
payer "paid" for a rolled-back batch is the bug this guards against.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lurkcoin.config import Config
from lurkcoin.core.errors import LurkcoinError
from lurkcoin.ledger import Ledger

# The PostgreSQL half leaves these out: SQLite commit internals.
pytestmark = pytest.mark.sqlite_only

TRIPWIRE_AMOUNT = 666

TRIPWIRE = f"""
CREATE TABLE commit_tripwire (
    server_id INTEGER REFERENCES servers (id) DEFERRABLE INITIALLY DEFERRED
);
CREATE TRIGGER commit_tripwire_on_payment AFTER INSERT ON transactions
WHEN NEW.amount = {TRIPWIRE_AMOUNT}
BEGIN
    INSERT INTO commit_tripwire (server_id) VALUES (-1);
END;
"""


def stored_state(path: str) -> tuple[int, int, int, int]:
    """What the file holds: Alpha's and Bravo's balances, transactions, adjustments."""
    conn = sqlite3.connect(path)
    try:
        alpha, bravo = (
            conn.execute("SELECT balance FROM servers WHERE uid = ?", (uid,)).fetchone()[0]
            for uid in ("alpha", "bravo")
        )
        transactions = conn.execute("SELECT count(*) FROM transactions").fetchone()[0]
        adjustments = conn.execute("SELECT count(*) FROM adjustments").fetchone()[0]
    finally:
        conn.close()
    return alpha, bravo, transactions, adjustments


@pytest.fixture
async def tripped_ledger(tmp_path: Path) -> AsyncIterator[Ledger]:
    config = Config()
    config.database.path = str(tmp_path / "ledger.db")
    ledger = await Ledger.open(config)
    await ledger.create_server("Alpha", balance=10_000)
    await ledger.create_server("Bravo")
    # Installed by another connection, as an operator's tool would.
    conn = sqlite3.connect(config.database.path)
    try:
        conn.executescript(TRIPWIRE)
    finally:
        conn.close()
    yield ledger
    await ledger.close()


async def pay(ledger: Ledger, cents: int):  # type: ignore[no-untyped-def]
    return await ledger.pay(
        ledger.require_server("alpha"),
        source_user="alice",
        target_user="bob",
        target_server="bravo",
        amount=cents,
        local_currency=False,
    )


async def assert_nothing_moved(ledger: Ledger, before: tuple[int, int, int, int]) -> None:
    assert stored_state(ledger.config.database.path) == before
    assert (ledger.require_server("alpha").balance, ledger.require_server("bravo").balance) == (
        10_000,
        0,
    )
    assert await ledger.pending(ledger.require_server("bravo")) == []
    report = await ledger.check()
    assert report.ok, report.problems


async def test_a_payment_whose_commit_fails_reports_an_error(
    tripped_ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    """A batch of payments only: statements on the event loop, COMMIT on the thread."""
    ledger = tripped_ledger
    before = stored_state(ledger.config.database.path)
    with caplog.at_level(logging.ERROR, logger="lurkcoin"), pytest.raises(LurkcoinError) as failed:
        await pay(ledger, TRIPWIRE_AMOUNT)
    # A bug, not a condition of the disk: a 500 (not a 503) and a traceback in the log.
    assert (failed.value.code, failed.value.status) == ("ERR_INTERNALERROR", 500)
    [record] = [r for r in caplog.records if r.name.startswith("lurkcoin")]
    assert record.getMessage() == "write batch failed"
    assert record.exc_info is not None and isinstance(record.exc_info[1], sqlite3.IntegrityError)
    await assert_nothing_moved(ledger, before)
    # The store recovers: the next payment commits.
    paid = await pay(ledger, 100)
    assert ledger.require_server("bravo").balance == 100
    assert [t.id for t in await ledger.pending(ledger.require_server("bravo"))] == [paid.id]


async def test_a_batch_on_the_writer_thread_whose_commit_fails(tripped_ledger: Ledger) -> None:
    """An account change in the batch runs it whole on the writer thread; same outcome."""
    ledger = tripped_ledger
    before = stored_state(ledger.config.database.path)
    results = await asyncio.gather(
        pay(ledger, TRIPWIRE_AMOUNT),
        ledger.adjust_balance("Bravo", 50, "bonus"),
        return_exceptions=True,
    )
    for result in results:  # the whole batch was rolled back: both hear it
        assert isinstance(result, LurkcoinError), result
        assert result.code == "ERR_INTERNALERROR"
    await assert_nothing_moved(ledger, before)
