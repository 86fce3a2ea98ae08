"""Read-only queries on their own aiosqlite connection (WAL: never blocks the writer)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiosqlite

from lurkcoin.models import Server, Transaction
from lurkcoin.store.rows import (
    SERVER_COLUMNS,
    TRANSACTION_COLUMNS,
    server_from_row,
    transaction_from_row,
)

_T_COLUMNS = ", ".join("t." + c.strip() for c in TRANSACTION_COLUMNS.split(","))


@dataclass(frozen=True)
class LedgerTotals:
    """The raw numbers behind the invariant check."""

    balance_mismatches: list[tuple[str, int, int]]  # (uid, stored balance, sum of entries)
    entries_total: int
    balances_total: int
    negative_balances: list[tuple[str, int]]
    unbalanced_postings: int
    failed_refunds: list[Transaction]
    # Transactions whose entries are not exactly "source pays target the amount"
    # (less the fee, which goes to the fee account).
    misposted_transactions: list[str]
    # Adjustments whose entries are not exactly "issuance pays the server the amount".
    misposted_adjustments: list[int]
    # Entries of no transaction or adjustment that exists.
    orphan_entries: int
    # Rejected revertable transactions with neither a refund nor a recorded failure.
    unrefunded_rejections: list[str]
    # Refund links that do not lead to a refund of the same amount and fee.
    broken_refunds: list[str]
    # Entries or history rows not dated as the transaction or adjustment they
    # record (balances in time and history filters would be wrong).
    misdated_rows: int = 0


@dataclass(frozen=True)
class Backlog:
    """Work waiting on others: pending payments and webhook deliveries (times: Unix s)."""

    pending: int
    oldest_pending_time: int | None
    outbox: int
    earliest_due: float | None


READERS = 2  # connections for request-path reads, used in turn
# Queries Reader.totals makes (each reported through its ``step``).
TOTALS_QUERIES = 12


async def _connect(path: str, uri: bool = False) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None, uri=uri)
    await conn.execute("PRAGMA query_only = 1")
    await conn.execute("PRAGMA busy_timeout = 10000")
    return conn


class Reader:
    """Read queries; each costs one hop to a reader thread (execute_fetchall)."""

    def __init__(self, path: str, conns: list[aiosqlite.Connection], uri: bool = False) -> None:
        self._path = path
        self._uri = uri
        self._conns = conns
        self._turn = 0

    @classmethod
    async def open(cls, path: str, connections: int = READERS, *, uri: bool = False) -> "Reader":
        """``uri``: ``path`` is a ``file:`` URI (``?mode=ro`` opens a copy strictly read-only)."""
        conns: list[aiosqlite.Connection] = []
        try:
            for _ in range(connections):
                conns.append(await _connect(path, uri))
        except BaseException:
            for conn in conns:
                await conn.close()
            raise
        return cls(path, conns, uri)

    async def close(self) -> None:
        for conn in self._conns:
            await conn.close()
        self._conns = []

    async def _rows(
        self, sql: str, params: tuple[object, ...] | dict[str, object] = ()
    ) -> list[Any]:
        self._turn = (self._turn + 1) % len(self._conns)
        return list(await self._conns[self._turn].execute_fetchall(sql, params))

    async def backlog(self) -> Backlog:
        """Pending transactions and webhook outbox rows: how many, and the oldest."""
        rows = await self._rows(
            "SELECT (SELECT COUNT(*) FROM transactions WHERE status = 'pending'),"
            " (SELECT time FROM transactions WHERE seq = ("
            "   SELECT MIN(seq) FROM transactions WHERE status = 'pending')),"
            " (SELECT COUNT(*) FROM webhook_outbox),"
            " (SELECT MIN(due_at) FROM webhook_outbox)"
        )
        pending, oldest, outbox, due = rows[0]
        return Backlog(int(pending), oldest, int(outbox), due)

    async def ping(self) -> None:
        """One trivial query: the reader threads answer."""
        await self._rows("SELECT 1")

    async def rows(
        self, sql: str, params: tuple[object, ...] | dict[str, object] = ()
    ) -> list[Any]:
        """One query's rows, for the store's other read modules (explorer_reads)."""
        return await self._rows(sql, params)

    async def _transactions(self, sql: str, params: tuple[object, ...]) -> list[Transaction]:
        return [transaction_from_row(r) for r in await self._rows(sql, params)]

    async def history(
        self, server_id: int, limit: int, before_seq: int | None = None
    ) -> list[Transaction] | None:
        """Newest first; an index range scan however long the history is.

        ``before_seq`` pages on from that transaction; None if it is not in
        this server's history.
        """
        params: tuple[object, ...] = (server_id, 1 << 62, limit)
        if before_seq is not None:
            rows = await self._rows(
                "SELECT pos FROM history WHERE server_id = ? AND seq = ?", (server_id, before_seq)
            )
            if not rows:
                return None
            params = (server_id, int(rows[0][0]), limit)
        return await self._transactions(
            f"SELECT {_T_COLUMNS} FROM history h JOIN transactions t ON t.seq = h.seq "
            f"WHERE h.server_id = ? AND h.pos < ? ORDER BY h.pos DESC LIMIT ?",
            params,
        )

    async def history_between(
        self,
        server_id: int,
        since: int,
        until: int,
        limit: int,
        before_seq: int | None = None,
    ) -> list[Transaction] | None:
        """Transactions made from ``since`` to ``until`` (inclusive), newest first.

        One range of the (server, time, pos) index; ``before_seq`` pages on from
        that transaction (None if it is not in this server's history).
        """
        below = ""
        params: tuple[object, ...] = (server_id, since, until)
        if before_seq is not None:
            rows = await self._rows(
                "SELECT time, pos FROM history WHERE server_id = ? AND seq = ?",
                (server_id, before_seq),
            )
            if not rows:
                return None
            below = "AND (h.time, h.pos) < (?, ?) "
            params += (int(rows[0][0]), int(rows[0][1]))
        return await self._transactions(
            f"SELECT {_T_COLUMNS} FROM history h INDEXED BY history_server_time "
            "JOIN transactions t ON t.seq = h.seq "
            f"WHERE h.server_id = ? AND h.time BETWEEN ? AND ? {below}"
            "ORDER BY h.time DESC, h.pos DESC LIMIT ?",
            (*params, limit),
        )

    async def pending_older_than(self, cutoff: int, limit: int) -> list[Transaction]:
        """What pending expiry would reject now (``lurkcoin expire-pending --dry-run``)."""
        return await self._transactions(
            f"SELECT {TRANSACTION_COLUMNS} FROM transactions INDEXED BY transactions_pending_age "
            "WHERE status = 'pending' AND revertable = 1 AND time <= ? ORDER BY time, seq LIMIT ?",
            (cutoff, limit),
        )

    async def balance_at(self, server_id: int, at: int, *, from_start: bool) -> int:
        """The server's balance at the end of second ``at``, from its entries.

        Either the sum of its entries up to ``at`` (``from_start``) or its
        balance now minus the entries after ``at``: the same number while the
        invariant check is clean; the caller picks the shorter index range.
        """
        if from_start:
            sql = (
                "SELECT COALESCE(SUM(delta), 0) FROM entries INDEXED BY entries_server_time "
                "WHERE server_id = ? AND time <= ?"
            )
            params: tuple[object, ...] = (server_id, at)
        else:
            # One statement, so the balance and the entries are one snapshot.
            sql = (
                "SELECT balance - (SELECT COALESCE(SUM(delta), 0) FROM entries "
                "INDEXED BY entries_server_time WHERE server_id = ? AND time > ?) "
                "FROM servers WHERE id = ?"
            )
            params = (server_id, at, server_id)
        rows = await self._rows(sql, params)
        return int(rows[0][0]) if rows else 0

    async def pending(
        self, server_id: int, limit: int | None = None, after_seq: int = 0
    ) -> list[Transaction]:
        """Oldest first; ``after_seq`` pages on after that transaction (keyset, any depth)."""
        sql = (
            f"SELECT {TRANSACTION_COLUMNS} FROM transactions "
            "WHERE target_server_id = ? AND status = 'pending' AND seq > ? ORDER BY seq"
        )
        if limit is None:
            return await self._transactions(sql, (server_id, after_seq))
        return await self._transactions(sql + " LIMIT ?", (server_id, after_seq, limit))

    async def export_rows(self) -> int:
        """History rows plus pending transactions of the live servers: what an export writes."""
        rows = await self._rows(
            "SELECT (SELECT COUNT(*) FROM history h JOIN servers s ON s.id = h.server_id "
            "  WHERE s.deleted_at IS NULL AND s.kind = 'server'),"
            " (SELECT COUNT(*) FROM transactions t JOIN servers s ON s.id = t.target_server_id "
            "  WHERE t.status = 'pending' AND s.deleted_at IS NULL AND s.kind = 'server')"
        )
        return int(rows[0][0]) + int(rows[0][1])

    async def transaction(self, txn_id: str) -> Transaction | None:
        found = await self._transactions(
            f"SELECT {TRANSACTION_COLUMNS} FROM transactions WHERE id = ?", (txn_id,)
        )
        return found[0] if found else None

    async def servers(self) -> list[Server]:
        rows = await self._rows(
            f"SELECT {SERVER_COLUMNS} FROM servers WHERE deleted_at IS NULL "
            "AND kind = 'server' ORDER BY id"
        )
        return [server_from_row(r) for r in rows]

    @contextlib.asynccontextmanager
    async def snapshot(self) -> AsyncIterator["Reader"]:
        """A reader on its own connection that sees one consistent state of the ledger."""
        conn = await _connect(self._path, self._uri)
        try:
            await conn.execute("BEGIN")
            yield Reader(self._path, [conn], self._uri)
            await conn.execute("COMMIT")
        finally:
            await conn.close()

    async def totals(
        self, issuance_id: int, fees_id: int, step: Callable[[], None] | None = None
    ) -> LedgerTotals:
        """Everything the invariant check needs, read in one snapshot.

        ``step()`` is called after each of its TOTALS_QUERIES queries (progress).
        """
        async with self.snapshot() as snap:

            async def rows(
                sql: str, params: tuple[object, ...] | dict[str, object] = ()
            ) -> list[Any]:
                found = await snap._rows(sql, params)
                if step is not None:
                    step()
                return found

            mismatches = [
                (r[0], int(r[1]), int(r[2]))
                for r in await rows(
                    "SELECT s.uid, s.balance, COALESCE(e.total, 0) FROM servers s "
                    "LEFT JOIN (SELECT server_id, SUM(delta) AS total FROM entries "
                    "GROUP BY server_id) e ON e.server_id = s.id "
                    "WHERE s.balance <> COALESCE(e.total, 0)"
                )
            ]
            entries_total = int((await rows("SELECT COALESCE(SUM(delta), 0) FROM entries"))[0][0])
            balances_total = int(
                (await rows("SELECT COALESCE(SUM(balance), 0) FROM servers"))[0][0]
            )
            negative = [
                (r[0], int(r[1]))
                for r in await rows(
                    "SELECT uid, balance FROM servers WHERE kind = 'server' AND balance < 0"
                )
            ]
            unbalanced = int(
                (
                    await rows(
                        "SELECT COUNT(*) FROM (SELECT 1 FROM entries GROUP BY "
                        "COALESCE(txn_seq, -adjustment_id) HAVING SUM(delta) <> 0) AS unbalanced"
                    )
                )[0][0]
            )
            failed = [
                transaction_from_row(r)
                for r in await rows(
                    f"SELECT {TRANSACTION_COLUMNS} FROM transactions "
                    "WHERE refund_failed IS NOT NULL ORDER BY seq"
                )
            ]
            misposted = [r[0] for r in await rows(_MISPOSTED_TRANSACTIONS, {"fees": fees_id})]
            misposted_adjustments = [
                int(r[0]) for r in await rows(_MISPOSTED_ADJUSTMENTS, {"issuance": issuance_id})
            ]
            orphans = int((await rows(_ORPHAN_ENTRIES))[0][0])
            unrefunded = [
                r[0]
                for r in await rows(
                    "SELECT id FROM transactions WHERE status = 'rejected' AND revertable = 1 "
                    "AND refund_id IS NULL AND refund_failed IS NULL ORDER BY seq LIMIT 100"
                )
            ]
            broken = [
                r[0]
                for r in await rows(
                    "SELECT t.id FROM transactions t "
                    "LEFT JOIN transactions r ON r.id = t.refund_id "
                    "WHERE t.refund_id IS NOT NULL AND (r.seq IS NULL OR r.refund_of IS NOT t.id "
                    "OR r.amount <> t.amount OR r.fee <> t.fee) ORDER BY t.seq LIMIT 100"
                )
            ]
            misdated = int((await rows(_MISDATED_ROWS))[0][0])
        return LedgerTotals(
            mismatches,
            entries_total,
            balances_total,
            negative,
            unbalanced,
            failed,
            misposted,
            misposted_adjustments,
            orphans,
            unrefunded,
            broken,
            misdated,
        )


# Live transactions have exactly two entries: the source's debit and the
# target's credit of the amount (one server twice for a self-payment);
# imported ones arrived with their balances and have none. One that took an
# exchange fee has a third, the fee account's: a payment's source pays the
# amount, its target gets the amount less the fee and the fee account the
# fee; a refund of it reverses that (lurkcoin.core.fees).
_MISPOSTED_TRANSACTIONS = """
SELECT t.id FROM transactions t LEFT JOIN (
    SELECT txn_seq, COUNT(*) AS n,
           MAX(CASE WHEN delta < 0 AND server_id <> :fees THEN server_id END) AS src,
           MAX(CASE WHEN delta > 0 AND server_id <> :fees THEN server_id END) AS dst,
           MAX(CASE WHEN delta > 0 AND server_id <> :fees THEN delta END) AS credit,
           MIN(CASE WHEN delta < 0 AND server_id <> :fees THEN delta END) AS debit,
           SUM(CASE WHEN server_id = :fees THEN 1 ELSE 0 END) AS fee_n,
           SUM(CASE WHEN server_id = :fees THEN delta ELSE 0 END) AS fee_delta
    FROM entries WHERE txn_seq IS NOT NULL GROUP BY txn_seq) e ON e.txn_seq = t.seq
WHERE (t.imported = 0 AND (e.n IS NOT (CASE WHEN t.fee = 0 THEN 2 ELSE 3 END)
       OR e.fee_n IS NOT (CASE WHEN t.fee = 0 THEN 0 ELSE 1 END)
       OR e.src IS NOT t.source_server_id OR e.dst IS NOT t.target_server_id
       OR e.credit IS NOT t.amount - (CASE WHEN t.refund_of IS NULL THEN t.fee ELSE 0 END)
       OR e.debit IS NOT -(t.amount - (CASE WHEN t.refund_of IS NULL THEN 0 ELSE t.fee END))
       OR e.fee_delta IS NOT (CASE WHEN t.refund_of IS NULL THEN t.fee ELSE -t.fee END)))
   OR (t.imported = 1 AND (e.n IS NOT NULL OR t.fee <> 0))
ORDER BY t.seq LIMIT 100
"""

_MISPOSTED_ADJUSTMENTS = """
SELECT a.id FROM adjustments a LEFT JOIN (
    SELECT adjustment_id, COUNT(*) AS n,
           SUM(CASE WHEN server_id = :issuance THEN delta END) AS issued,
           MAX(CASE WHEN server_id <> :issuance THEN server_id END) AS server,
           SUM(CASE WHEN server_id <> :issuance THEN delta END) AS received
    FROM entries WHERE adjustment_id IS NOT NULL GROUP BY adjustment_id) e
    ON e.adjustment_id = a.id
WHERE e.n IS NOT 2 OR e.server IS NOT a.server_id OR e.received IS NOT a.amount
   OR e.issued IS NOT -a.amount
ORDER BY a.id LIMIT 100
"""

_ORPHAN_ENTRIES = """
SELECT COUNT(*) FROM entries e
WHERE (e.txn_seq IS NOT NULL AND NOT EXISTS (SELECT 1 FROM transactions WHERE seq = e.txn_seq))
   OR (e.adjustment_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM adjustments WHERE id = e.adjustment_id))
"""

_MISDATED_ROWS = """
SELECT (SELECT COUNT(*) FROM entries e JOIN transactions t ON t.seq = e.txn_seq
        WHERE e.time <> t.time)
     + (SELECT COUNT(*) FROM entries e JOIN adjustments a ON a.id = e.adjustment_id
        WHERE e.time <> a.created_at)
     + (SELECT COUNT(*) FROM history h JOIN transactions t ON t.seq = h.seq
        WHERE h.time <> t.time)
"""
