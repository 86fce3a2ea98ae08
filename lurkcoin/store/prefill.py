"""Bulk-fill a ledger with synthetic transactions, for measuring how the server scales.

Used by ``lurkcoin bench --prefill-transactions`` on a database no server is
using. Rows are generated inside SQLite (a recursive CTE), so ten million
transactions cost no Python per row. Each transaction gets what a live
payment gets: its row, a pair of entries that sum to zero, a history row for
each side (once for a self-payment), and the balances move by the entries'
sum, so ``lurkcoin check`` stays clean. Payments go round a ring of the given
servers with one amount per lap, so the balances barely move.

The fill runs with ``synchronous = OFF``: a crash during it loses only the
synthetic rows of the unfinished chunk, never a committed chunk's
consistency (WAL), and never anything a client was told succeeded.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# Synthetic transactions are dated from here, one second per thousand; real
# ones carry the current time, so their ids (T<time hex>-...) never collide.
BASE_TIME = 1_500_000_000
PER_SECOND = 1000

_RING = """
CREATE TEMP TABLE IF NOT EXISTS prefill_ring (
    n    INTEGER PRIMARY KEY,
    id   INTEGER NOT NULL,
    name TEXT    NOT NULL
)"""

_TRANSACTIONS = """
WITH RECURSIVE c(i) AS (SELECT :first UNION ALL SELECT i + 1 FROM c WHERE i < :last)
INSERT INTO transactions (id, source, source_server, source_server_id, target,
    target_server, target_server_id, amount, sent_amount, received_amount, time,
    revertable, status, processed_at)
SELECT printf('T%X-%08X', :base + i / :per_second, i),
       'player' || (i % 53), s.name, s.id, 'player' || (i % 47), t.name, t.id,
       1 + (i / :ring) % 100, 1 + (i / :ring) % 100, 1 + (i / :ring) % 100,
       :base + i / :per_second, 1, :status,
       CASE WHEN :status = 'pending' THEN NULL ELSE :base + i / :per_second END
FROM c
JOIN prefill_ring s ON s.n = i % :ring
JOIN prefill_ring t ON t.n = (i + 1) % :ring
"""

_ENTRIES = (
    (
        "INSERT INTO entries (server_id, delta, txn_seq, time) "
        "SELECT source_server_id, -amount, seq, time FROM transactions WHERE seq > ?"
    ),
    (
        "INSERT INTO entries (server_id, delta, txn_seq, time) "
        "SELECT target_server_id, amount, seq, time FROM transactions WHERE seq > ?"
    ),
)

_HISTORY = (
    (
        "INSERT INTO history (server_id, pos, seq, time) "
        "SELECT source_server_id, seq, seq, time FROM transactions WHERE seq > ?"
    ),
    (
        "INSERT INTO history (server_id, pos, seq, time) "
        "SELECT target_server_id, seq, seq, time FROM transactions WHERE seq > ? "
        "AND target_server_id <> source_server_id"
    ),
)

# The chunk's transactions counted into the daily rollup, as a live payment
# does one at a time (WriteTx._roll_up). "WHERE true" tells SQLite's parser
# that ON CONFLICT belongs to the INSERT, not to a join.
_ROLLUP = """
INSERT INTO daily_rollup (server_id, day, sent_count, sent_volume, received_count,
    received_volume, self_count, pending_change)
SELECT server_id, day, SUM(sc), SUM(sv), SUM(rc), SUM(rv), SUM(selfc), SUM(pc) FROM (
    SELECT 0 AS server_id, time / 86400 AS day, 1 AS sc, amount AS sv, 1 AS rc, amount AS rv,
           0 AS selfc, CASE WHEN status = 'settled' THEN 0 ELSE 1 END
             - CASE WHEN status IN ('acknowledged', 'rejected')
                    AND processed_at / 86400 = time / 86400 THEN 1 ELSE 0 END AS pc
    FROM transactions WHERE seq > :after
    UNION ALL
    SELECT 0, processed_at / 86400, 0, 0, 0, 0, 0, -1 FROM transactions
    WHERE seq > :after AND status IN ('acknowledged', 'rejected')
      AND processed_at / 86400 <> time / 86400
    UNION ALL
    SELECT source_server_id, time / 86400, 1, amount, 0, 0,
           CASE WHEN target_server_id = source_server_id THEN 1 ELSE 0 END, 0
    FROM transactions WHERE seq > :after
    UNION ALL
    SELECT target_server_id, time / 86400, 0, 0, 1, amount, 0, 0
    FROM transactions WHERE seq > :after) AS chunk
WHERE true GROUP BY server_id, day
ON CONFLICT (server_id, day) DO UPDATE SET
    sent_count = daily_rollup.sent_count + excluded.sent_count,
    sent_volume = daily_rollup.sent_volume + excluded.sent_volume,
    received_count = daily_rollup.received_count + excluded.received_count,
    received_volume = daily_rollup.received_volume + excluded.received_volume,
    self_count = daily_rollup.self_count + excluded.self_count,
    pending_change = daily_rollup.pending_change + excluded.pending_change
"""

_BALANCE = "UPDATE servers SET balance = balance + ? WHERE id = ?"


@dataclass(frozen=True)
class PrefillReport:
    transactions: int
    pending: int
    seconds: float

    @property
    def per_second(self) -> float:
        return (self.transactions + self.pending) / self.seconds if self.seconds else 0.0


def _max(conn: sqlite3.Connection, table: str, column: str) -> int:
    return int(conn.execute(f"SELECT COALESCE(MAX({column}), 0) FROM {table}").fetchone()[0])


def _amount(i: int, ring: int) -> int:
    """Cents of synthetic payment ``i``: the SQL above computes the same."""
    return 1 + (i // ring) % 100


def ring_deltas(first: int, last: int, ring: int) -> list[int]:
    """How payments ``first..last`` change each ring position's balance.

    A whole lap (``ring`` payments of one amount, each server paying the next)
    moves nothing, so only the partial laps at both ends are added up.
    """
    deltas = [0] * ring
    first_lap_end = (first // ring) * ring + ring - 1
    edges = list(range(first, min(last, first_lap_end) + 1))
    edges += range(max((last // ring) * ring, first_lap_end + 1), last + 1)
    for i in edges:
        deltas[i % ring] -= _amount(i, ring)
        deltas[(i + 1) % ring] += _amount(i, ring)
    return deltas


def _fill(
    conn: sqlite3.Connection, count: int, status: str, servers: Sequence[tuple[int, str]]
) -> None:
    """One chunk in one transaction: transactions, then their entries, history, balances."""
    ring = len(servers)
    last_seq = _max(conn, "transactions", "seq")
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            _TRANSACTIONS,
            {
                "first": last_seq + 1,
                "last": last_seq + count,
                "base": BASE_TIME,
                "per_second": PER_SECOND,
                "status": status,
                "ring": ring,
            },
        )
        for sql in (*_ENTRIES, *_HISTORY):
            conn.execute(sql, (last_seq,))
        conn.execute(_ROLLUP, {"after": last_seq})
        deltas = ring_deltas(last_seq + 1, last_seq + count, ring)
        changes = [(d, sid) for d, (sid, _) in zip(deltas, servers, strict=True) if d]
        conn.executemany(_BALANCE, changes)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def prefill(
    path: str,
    servers: Sequence[tuple[int, str]],
    transactions: int,
    pending: int = 0,
    *,
    chunk: int = 1_000_000,
    progress: Callable[[int, int], None] | None = None,
) -> PrefillReport:
    """Add ``transactions`` processed and ``pending`` unacknowledged transactions.

    ``servers`` are (id, name) of the live servers the payments go round;
    the database must be migrated and not in use by a server.
    ``progress(done, total)`` is called after each committed chunk.
    """
    if not servers:
        raise ValueError("prefill needs at least one server")
    started = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -262144")  # 256 MiB while filling
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute(_RING)
        conn.execute("DELETE FROM prefill_ring")
        conn.executemany(
            "INSERT INTO prefill_ring (n, id, name) VALUES (?, ?, ?)",
            [(n, sid, name) for n, (sid, name) in enumerate(servers)],
        )
        total = transactions + pending
        done = 0
        for count, status in ((transactions, "acknowledged"), (pending, "pending")):
            left = count
            while left > 0:
                step = min(chunk, left)
                _fill(conn, step, status, servers)
                left -= step
                done += step
                if progress is not None:
                    progress(done, total)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return PrefillReport(transactions, pending, time.perf_counter() - started)


def transaction_count(path: str) -> int:
    """How many transactions the ledger holds (the highest seq: rows are never deleted)."""
    conn = sqlite3.connect(path)
    try:
        return _max(conn, "transactions", "seq")
    finally:
        conn.close()
