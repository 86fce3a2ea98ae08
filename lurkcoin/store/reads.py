"""Read-only queries on their own aiosqlite connection (WAL: never blocks the writer)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import AsyncIterator

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


class Reader:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def close(self) -> None:
        await self._conn.close()

    async def _transactions(self, sql: str, params: tuple[object, ...]) -> list[Transaction]:
        async with self._conn.execute(sql, params) as cur:
            rows = await cur.fetchall()
        return [transaction_from_row(r) for r in rows]

    async def history(self, server_id: int, limit: int,
                      before_seq: int | None = None) -> list[Transaction] | None:
        """Newest first; an index range scan however long the history is.

        ``before_seq`` pages on from that transaction; None if it is not in
        this server's history.
        """
        bound = 1 << 62
        if before_seq is not None:
            async with self._conn.execute(
                    "SELECT pos FROM history WHERE server_id = ? AND seq = ?",
                    (server_id, before_seq)) as cur:
                row = await cur.fetchone()
            if row is None:
                return None
            bound = int(row[0])
        return await self._transactions(
            f"SELECT {_T_COLUMNS} FROM history h JOIN transactions t ON t.seq = h.seq "
            "WHERE h.server_id = ? AND h.pos < ? ORDER BY h.pos DESC LIMIT ?",
            (server_id, bound, limit))

    async def pending(self, server_id: int, limit: int | None = None) -> list[Transaction]:
        """Oldest first."""
        return await self._transactions(
            f"SELECT {TRANSACTION_COLUMNS} FROM transactions "
            "WHERE target_server_id = ? AND status = 'pending' ORDER BY seq LIMIT ?",
            (server_id, -1 if limit is None else limit))

    async def transaction(self, txn_id: str) -> Transaction | None:
        found = await self._transactions(
            f"SELECT {TRANSACTION_COLUMNS} FROM transactions WHERE id = ?", (txn_id,))
        return found[0] if found else None


    async def servers(self) -> list[Server]:
        async with self._conn.execute(
                f"SELECT {SERVER_COLUMNS} FROM servers WHERE deleted_at IS NULL "
                "AND kind = 'server' ORDER BY id") as cur:
            return [server_from_row(r) for r in await cur.fetchall()]

    @contextlib.asynccontextmanager
    async def snapshot(self) -> AsyncIterator[None]:
        """Make the queries inside see one consistent state of the ledger."""
        await self._conn.execute("BEGIN")
        try:
            yield
        finally:
            await self._conn.execute("COMMIT")

    async def totals(self) -> LedgerTotals:
        """Everything the invariant check needs, read in one snapshot."""
        async with self.snapshot():
            async with self._conn.execute(
                    "SELECT s.uid, s.balance, COALESCE(e.total, 0) FROM servers s "
                    "LEFT JOIN (SELECT server_id, SUM(delta) AS total FROM entries "
                    "GROUP BY server_id) e ON e.server_id = s.id "
                    "WHERE s.balance <> COALESCE(e.total, 0)") as cur:
                mismatches = [(r[0], int(r[1]), int(r[2])) for r in await cur.fetchall()]
            async with self._conn.execute("SELECT COALESCE(SUM(delta), 0) FROM entries") as cur:
                entries_total = int((await cur.fetchone())[0])  # type: ignore[index]
            async with self._conn.execute("SELECT COALESCE(SUM(balance), 0) FROM servers") as cur:
                balances_total = int((await cur.fetchone())[0])  # type: ignore[index]
            async with self._conn.execute(
                    "SELECT uid, balance FROM servers WHERE kind = 'server' AND balance < 0") as cur:
                negative = [(r[0], int(r[1])) for r in await cur.fetchall()]
            async with self._conn.execute(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM entries GROUP BY "
                    "COALESCE(txn_seq, -adjustment_id) HAVING SUM(delta) <> 0)") as cur:
                unbalanced = int((await cur.fetchone())[0])  # type: ignore[index]
            failed = await self._transactions(
                f"SELECT {TRANSACTION_COLUMNS} FROM transactions "
                "WHERE refund_failed IS NOT NULL ORDER BY seq", ())
        return LedgerTotals(mismatches, entries_total, balances_total, negative, unbalanced,
                            failed)
