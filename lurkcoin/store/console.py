"""The console's SQL: admin sessions, the audit log and the daily rollup.

Write functions take the writer's WriteTx (they run inside a ledger
operation's transaction); read functions take a Reader. Every count, sum and
series here reads the rollup or an index range, never the whole transactions
table, except ``rollup_differences`` (the invariant check's recomputation).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from lurkcoin.models import AdminSession, AuditEntry, DailyTotals
from lurkcoin.store.reads import Reader
from lurkcoin.store.rows import TRANSACTION_COLUMNS
from lurkcoin.store.writes import WriteTx

AUDIT_COLUMNS = "id, at, actor, address, action, subject, before, after, reason, prev_hash, hash"
# "user" quoted: a reserved word in PostgreSQL (and a plain name in SQLite).
SESSION_COLUMNS = 'id_hash, "user", address, created_at, last_seen_at'
GENESIS_HASH = "0" * 64


def _audit(row: Sequence[Any]) -> AuditEntry:
    return AuditEntry(*row)


# -- audit log ------------------------------------------------------------------


def audit_head(tx: WriteTx) -> tuple[int, str]:
    """The id the next entry gets and the hash it chains to."""
    row = tx.conn.execute("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    return (1, GENESIS_HASH) if row is None else (int(row[0]) + 1, str(row[1]))


def insert_audit(tx: WriteTx, entry: AuditEntry) -> None:
    tx.conn.execute(
        f"INSERT INTO audit_log ({AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            entry.id,
            entry.at,
            entry.actor,
            entry.address,
            entry.action,
            entry.subject,
            entry.before,
            entry.after,
            entry.reason,
            entry.prev_hash,
            entry.hash,
        ),
    )


async def audit_page(
    reader: Reader, limit: int, before_id: int | None = None, subject: str | None = None
) -> list[AuditEntry]:
    """Newest first, ``limit`` entries older than ``before_id``, optionally of one subject."""
    where, params = ["id < ?"], [before_id if before_id is not None else 1 << 62]
    if subject is not None:
        where.append("subject = ?")
        params.append(subject)  # type: ignore[arg-type]
    rows = await reader._rows(
        f"SELECT {AUDIT_COLUMNS} FROM audit_log WHERE {' AND '.join(where)} "
        "ORDER BY id DESC LIMIT ?",
        (*params, limit),
    )
    return [_audit(r) for r in rows]


async def audit_chain(reader: Reader, batch: int = 1000) -> AsyncIterator[AuditEntry]:
    """Every entry, oldest first, a batch at a time (constant memory)."""
    after = 0
    while True:
        rows = await reader._rows(
            f"SELECT {AUDIT_COLUMNS} FROM audit_log WHERE id > ? ORDER BY id LIMIT ?",
            (after, batch),
        )
        for row in rows:
            yield _audit(row)
        if len(rows) < batch:
            return
        after = int(rows[-1][0])


# -- admin sessions ----------------------------------------------------------------


def insert_session(tx: WriteTx, session: AdminSession) -> None:
    tx.conn.execute(
        f"INSERT INTO admin_sessions ({SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
        (
            session.id_hash,
            session.user,
            session.address,
            session.created_at,
            session.last_seen_at,
        ),
    )


def touch_session(tx: WriteTx, id_hash: bytes, now: float) -> None:
    tx.conn.execute("UPDATE admin_sessions SET last_seen_at = ? WHERE id_hash = ?", (now, id_hash))


def delete_session(tx: WriteTx, id_hash: bytes) -> None:
    tx.conn.execute("DELETE FROM admin_sessions WHERE id_hash = ?", (id_hash,))


def delete_stale_sessions(
    tx: WriteTx, users: Sequence[str], idle_before: float, created_before: float
) -> int:
    """End sessions of accounts no longer configured and sessions past a timeout."""
    marks = ",".join("?" * len(users)) or "NULL"
    cur = tx.conn.execute(
        f'DELETE FROM admin_sessions WHERE "user" NOT IN ({marks}) '
        "OR last_seen_at < ? OR created_at < ?",
        (*users, idle_before, created_before),
    )
    return cur.rowcount


async def session(reader: Reader, id_hash: bytes) -> AdminSession | None:
    rows = await reader._rows(
        f"SELECT {SESSION_COLUMNS} FROM admin_sessions WHERE id_hash = ?", (id_hash,)
    )
    return AdminSession(*rows[0]) if rows else None


# -- the daily rollup ------------------------------------------------------------------


async def daily_totals(
    reader: Reader, server_id: int, first_day: int, last_day: int
) -> list[DailyTotals]:
    """The rollup rows of one server (0: everyone) between two days, oldest first."""
    rows = await reader._rows(
        "SELECT day, sent_count, sent_volume, received_count, received_volume FROM daily_rollup "
        "WHERE server_id = ? AND day BETWEEN ? AND ? ORDER BY day",
        (server_id, first_day, last_day),
    )
    return [DailyTotals(*r) for r in rows]


async def all_time_totals(reader: Reader, server_id: int) -> DailyTotals:
    """The rollup summed over every day (one row per active day: days, not transactions)."""
    rows = await reader._rows(
        "SELECT 0, COALESCE(SUM(sent_count), 0), COALESCE(SUM(sent_volume), 0), "
        "COALESCE(SUM(received_count), 0), COALESCE(SUM(received_volume), 0) "
        "FROM daily_rollup WHERE server_id = ?",
        (server_id,),
    )
    return DailyTotals(*rows[0])


async def last_active_days(reader: Reader) -> dict[int, int]:
    """Each server's last day with a transaction (one rollup row per server and day)."""
    rows = await reader._rows(
        "SELECT server_id, MAX(day) FROM daily_rollup WHERE server_id <> 0 GROUP BY server_id"
    )
    return {int(r[0]): int(r[1]) for r in rows}


# The rollup as it should be, straight from the transactions (a full scan:
# only the invariant check runs this). The all-servers rows also carry the
# day's change in the pending count: +1 for each transaction made pending
# (every one not made 'settled'), -1 on the day each was acknowledged or
# rejected; a day with only such settlements has a row of its own.
_EXPECTED_ROLLUP = """
SELECT 0 AS server_id, day, SUM(sc) AS sc, SUM(sv) AS sv, SUM(sc) AS rc, SUM(sv) AS rv,
       0 AS selfc, SUM(pc) AS pc
FROM (
    SELECT time / 86400 AS day, 1 AS sc, amount AS sv,
           CASE WHEN status = 'settled' THEN 0 ELSE 1 END AS pc
    FROM transactions
    UNION ALL
    SELECT processed_at / 86400, 0, 0, -1 FROM transactions
    WHERE status IN ('acknowledged', 'rejected') AND processed_at IS NOT NULL
) AS everyone GROUP BY day
UNION ALL
SELECT server_id, day, SUM(sc), SUM(sv), SUM(rc), SUM(rv), SUM(selfc), 0 FROM (
    SELECT source_server_id AS server_id, time / 86400 AS day,
           1 AS sc, amount AS sv, 0 AS rc, 0 AS rv,
           CASE WHEN target_server_id = source_server_id THEN 1 ELSE 0 END AS selfc
    FROM transactions WHERE source_server_id IS NOT NULL
    UNION ALL
    SELECT target_server_id, time / 86400, 0, 0, 1, amount, 0
    FROM transactions WHERE target_server_id IS NOT NULL) AS sides
GROUP BY server_id, day
"""

ROLLUP_DIFFERENCES = f"""
WITH expected AS ({_EXPECTED_ROLLUP})
SELECT e.server_id, e.day FROM expected e LEFT JOIN daily_rollup r
    ON r.server_id = e.server_id AND r.day = e.day
WHERE r.day IS NULL OR r.sent_count <> e.sc OR r.sent_volume <> e.sv
   OR r.received_count <> e.rc OR r.received_volume <> e.rv
   OR r.self_count <> e.selfc OR r.pending_change <> e.pc
UNION ALL
SELECT r.server_id, r.day FROM daily_rollup r LEFT JOIN expected e
    ON e.server_id = r.server_id AND e.day = r.day
WHERE e.day IS NULL
ORDER BY 1, 2 LIMIT 100
"""


async def rollup_differences(reader: Reader) -> list[tuple[int, int]]:
    """(server id, day) of every rollup row that disagrees with the transactions."""
    async with reader.snapshot() as snap:
        rows = await snap._rows(ROLLUP_DIFFERENCES)
    return [(int(r[0]), int(r[1])) for r in rows]


# -- pending work and transaction search --------------------------------------------


async def pending_summary(reader: Reader) -> tuple[int, int | None]:
    """How many transactions wait for an acknowledgement, and the oldest one's time.

    Reads the partial index of pending transactions: its cost grows with the
    number pending, not with the ledger.
    """
    rows = await reader._rows(
        "SELECT COUNT(*), MIN(seq) FROM transactions INDEXED BY transactions_pending "
        "WHERE status = 'pending'"
    )
    count, oldest_seq = int(rows[0][0]), rows[0][1]
    if oldest_seq is None:
        return count, None
    oldest = await reader._rows("SELECT time FROM transactions WHERE seq = ?", (oldest_seq,))
    return count, int(oldest[0][0])


async def pending_counts(reader: Reader) -> dict[int, int]:
    rows = await reader._rows(
        "SELECT target_server_id, COUNT(*) FROM transactions INDEXED BY transactions_pending "
        "WHERE status = 'pending' GROUP BY target_server_id"
    )
    return {int(r[0]): int(r[1]) for r in rows}


async def failed_refund_count(reader: Reader) -> int:
    rows = await reader._rows(
        "SELECT COUNT(*) FROM transactions INDEXED BY transactions_refund_failed "
        "WHERE refund_failed IS NOT NULL"
    )
    return int(rows[0][0])


async def failing_webhooks(reader: Reader) -> int:
    rows = await reader._rows("SELECT COUNT(*) FROM webhook_state WHERE consecutive_failures > 0")
    return int(rows[0][0])


# Every column transaction_from_row reads, the fee included.
_T = ", ".join("t." + c.strip() for c in TRANSACTION_COLUMNS.split(","))


async def search_transactions(
    reader: Reader,
    *,
    server_id: int | None,
    txn_id: str | None,
    user: str | None,
    status: str | None,
    since: int | None,
    until: int | None,
    before: int | None,
    limit: int,
) -> list[tuple[int, Sequence[Any]]]:
    """Newest first: (paging key, transaction row). Pass the last key as ``before``.

    A server's search walks its history index; otherwise the transactions'
    primary key backwards. Filters only narrow what the walk returns, and the
    walk stops after ``limit`` matches.
    """
    where: list[str] = []
    params: list[Any] = []
    if server_id is not None:
        source, key = "history h JOIN transactions t ON t.seq = h.seq", "h.pos"
        where.append("h.server_id = ?")
        params.append(server_id)
    else:
        source, key = "transactions t", "t.seq"
    where.append(f"{key} < ?")
    params.append(before if before is not None else 1 << 62)
    if txn_id:
        where.append("t.id = ?")
        params.append(txn_id)
    if user:
        where.append("(t.source = ? OR t.target = ?)")
        params += [user, user]
    if status:
        where.append("t.status = ?")
        params.append(status)
    if since is not None:
        where.append("t.time >= ?")
        params.append(since)
    if until is not None:
        where.append("t.time < ?")
        params.append(until)
    rows = await reader._rows(
        f"SELECT {key}, {_T} FROM {source} WHERE {' AND '.join(where)} ORDER BY {key} DESC LIMIT ?",
        (*params, limit),
    )
    return [(int(r[0]), r[1:]) for r in rows]
