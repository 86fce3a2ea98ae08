"""The statements a ledger operation may run inside the single writer's transaction.

Each operation of a batch gets the batch's WriteTx, inside the batch's
transaction and its own SAVEPOINT. Its methods are plain synchronous calls:
a batch costs at most one thread hop. A light operation sees it as a LightTx
(the bounded statements only) and its batch may run on the event loop; any
other batch runs on the writer thread (lurkcoin.store.sqlite, "two paths").
"""

from __future__ import annotations

import sqlite3
from typing import Any, Iterable, Sequence

from lurkcoin.models import ApiKey, Server, Transaction, TransactionStatus
from lurkcoin.store.health import probe_space
from lurkcoin.store.rows import (
    API_KEY_COLUMNS,
    SERVER_COLUMNS,
    TRANSACTION_COLUMNS,
    api_key_from_row,
    server_from_row,
    transaction_from_row,
)

_SERVER_FIELDS = {
    "name",
    "balance",
    "target_balance",
    "token_hash",
    "webhook_url",
    "webhook_secret",
    "deleted_at",
    "uid",
    "next_token_hash",
    "fee_bps",
}


def _rollup_upsert(rows: int) -> str:
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * rows)
    return (
        "INSERT INTO daily_rollup (server_id, day, sent_count, sent_volume, received_count, "
        f"received_volume, self_count, pending_change) VALUES {values} "
        "ON CONFLICT (server_id, day) DO UPDATE SET "
        "sent_count = daily_rollup.sent_count + excluded.sent_count, "
        "sent_volume = daily_rollup.sent_volume + excluded.sent_volume, "
        "received_count = daily_rollup.received_count + excluded.received_count, "
        "received_volume = daily_rollup.received_volume + excluded.received_volume, "
        "self_count = daily_rollup.self_count + excluded.self_count, "
        "pending_change = daily_rollup.pending_change + excluded.pending_change"
    )


# Rows per rollup statement when a batch is flushed (statements are cached by size).
_ROLLUP_CHUNK = 100
_ROLLUP_UPSERT = {n: _rollup_upsert(n) for n in range(1, _ROLLUP_CHUNK + 1)}


class LightTx:
    """The bounded statements of the light operations: payments, acknowledgements, rejections.

    Each method runs a few indexed statements (no scan, no file, no network),
    so a batch made only of light operations may run on the event loop
    (lurkcoin.store.sqlite, "two paths"). A light operation is typed as a
    function of a LightTx, so the type gate (mypy --strict, run by the tests)
    refuses one that calls anything else; SqliteStore.write_light takes only those.
    """

    # Row locks for the reads an operation writes after: nothing on SQLite,
    # where the one writer holds the whole database; PostgreSQL's subclass
    # (store/postgres.py) locks the rows so that processes never interleave.
    FOR_UPDATE = ""
    # Rows another process has locked are left to it (the webhook outbox, expiry).
    SKIP_LOCKED = ""

    def __init__(self, conn: sqlite3.Connection, issuance_id: int) -> None:
        # Public for the store package's other modules (store/webhooks.py); SQL stays in store/.
        self.conn = conn
        self.issuance_id = issuance_id
        # Servers whose row changed; reloaded into the cache after COMMIT.
        self.changed_servers: set[int] = set()
        # Servers with a fresh webhook notification, for the dispatcher.
        self.notified_servers: set[int] = set()
        # API keys were added or revoked (other processes reload theirs).
        self.keys_changed = False
        # The batch's increments of the daily rollup, per (server, day): sent count and
        # volume, received count and volume, payments to self, pending change. Written
        # by flush_rollup in one statement just before COMMIT, so a batch of payments
        # costs one rollup statement, and on PostgreSQL the rollup's hot all-servers
        # row is held only for the COMMIT, not from the batch's first payment.
        self.rollup: dict[tuple[int, int], list[int]] = {}

    def server_by_uid(self, uid: str) -> Server | None:
        row = self.conn.execute(
            f"SELECT {SERVER_COLUMNS} FROM servers WHERE uid = ? AND deleted_at IS NULL"
            + self.FOR_UPDATE,
            (uid,),
        ).fetchone()
        return server_from_row(row) if row else None

    def server_by_id(self, server_id: int) -> Server | None:
        row = self.conn.execute(
            f"SELECT {SERVER_COLUMNS} FROM servers WHERE id = ? AND deleted_at IS NULL"
            + self.FOR_UPDATE,
            (server_id,),
        ).fetchone()
        return server_from_row(row) if row else None

    def post(
        self,
        from_id: int,
        to_id: int,
        amount: int,
        *,
        time: int,
        txn_seq: int | None = None,
        adjustment_id: int | None = None,
    ) -> None:
        """Move ``amount`` cents at ``time``: one debit and one credit entry, both balances.

        Two statements, not four: each statement costs the writer (which holds
        the GIL for it) about as much as the work it does.
        """
        self.conn.execute(
            "INSERT INTO entries (server_id, delta, txn_seq, adjustment_id, time) "
            "VALUES (?, ?, ?, ?, ?), (?, ?, ?, ?, ?)",
            (
                *(from_id, -amount, txn_seq, adjustment_id, time),
                *(to_id, amount, txn_seq, adjustment_id, time),
            ),
        )
        if from_id != to_id:
            self.conn.execute(
                "UPDATE servers SET balance = balance + CASE id WHEN ? THEN ? ELSE ? END "
                "WHERE id IN (?, ?)",
                (from_id, -amount, amount, from_id, to_id),
            )
        self.changed_servers.update((from_id, to_id))

    def post_split(self, postings: Sequence[tuple[int, int]], *, time: int, txn_seq: int) -> None:
        """Post a transaction's (server id, delta) entries, which sum to zero, and the balances.

        A payment that took an exchange fee has three entries (source, target,
        fee account); two statements whatever their number, as in ``post``.
        """
        if sum(delta for _, delta in postings) != 0:
            raise ValueError(f"postings do not balance: {postings}")
        self.conn.execute(
            "INSERT INTO entries (server_id, delta, txn_seq, adjustment_id, time) VALUES "
            + ", ".join(["(?, ?, ?, NULL, ?)"] * len(postings)),
            [v for server_id, delta in postings for v in (server_id, delta, txn_seq, time)],
        )
        deltas: dict[int, int] = {}
        for server_id, delta in postings:
            deltas[server_id] = deltas.get(server_id, 0) + delta
        cases = " ".join(["WHEN ? THEN ?"] * len(deltas))
        marks = ", ".join("?" * len(deltas))
        self.conn.execute(
            f"UPDATE servers SET balance = balance + CASE id {cases} END WHERE id IN ({marks})",
            [*(v for item in deltas.items() for v in item), *deltas],
        )
        self.changed_servers.update(deltas)

    def transaction_id_exists(self, txn_id: str) -> bool:
        return (
            self.conn.execute("SELECT 1 FROM transactions WHERE id = ?", (txn_id,)).fetchone()
            is not None
        )

    def insert_transaction(self, t: Transaction, *, imported: bool = False) -> int:
        cur = self.conn.execute(
            "INSERT INTO transactions (id, source, source_server, source_server_id, target, "
            "target_server, target_server_id, amount, sent_amount, received_amount, time, "
            "revertable, status, processed_at, refund_of, refund_id, refund_failed, imported, fee) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq",
            (
                t.id,
                t.source,
                t.source_server,
                t.source_server_id,
                t.target,
                t.target_server,
                t.target_server_id,
                t.amount,
                t.sent_amount,
                t.received_amount,
                t.time,
                int(t.revertable),
                t.status,
                t.processed_at,
                t.refund_of,
                t.refund_id,
                t.refund_failed,
                int(imported),
                t.fee,
            ),
        )
        seq = int(cur.fetchone()[0])
        self._roll_up(t)
        return seq

    def _roll_up(self, t: Transaction) -> None:
        """Count the transaction in its day's rollup rows: in total, for its source and target.

        One statement, whatever the number of rows: one more statement costs a
        payment about as much as the rows it touches (see ``post``). A
        transaction made pending adds one to the day's pending_change.
        """
        day = t.time // 86400
        pending = int(t.status == "pending")
        self._add_rollup(0, day, (1, t.amount, 1, t.amount, 0, pending))
        if t.source_server_id is not None and t.source_server_id == t.target_server_id:
            self._add_rollup(t.source_server_id, day, (1, t.amount, 1, t.amount, 1, 0))
        else:
            if t.source_server_id is not None:
                self._add_rollup(t.source_server_id, day, (1, t.amount, 0, 0, 0, 0))
            if t.target_server_id is not None:
                self._add_rollup(t.target_server_id, day, (0, 0, 1, t.amount, 0, 0))

    def _add_rollup(self, server_id: int, day: int, deltas: tuple[int, ...]) -> None:
        row = self.rollup.setdefault((server_id, day), [0, 0, 0, 0, 0, 0])
        for i, delta in enumerate(deltas):
            row[i] += delta

    def count_settled(self, count: int, now: int) -> None:
        """Take ``count`` transactions that stopped being pending at ``now`` off the rollup's
        pending count (once per acknowledgement, rejection or expiry batch, not per row)."""
        if count:
            self._add_rollup(0, now // 86400, (0, 0, 0, 0, 0, -count))

    def flush_rollup(self) -> None:
        """Write the batch's rollup increments: the store calls this once, before COMMIT.

        Rows in (server, day) order, the all-servers rows first: every process's
        batches lock them in the same order.
        """
        rows = [(key, values) for key, values in sorted(self.rollup.items())]
        self.rollup = {}
        for start in range(0, len(rows), _ROLLUP_CHUNK):
            chunk = rows[start : start + _ROLLUP_CHUNK]
            params = [v for (server_id, day), values in chunk for v in (server_id, day, *values)]
            self.conn.execute(_ROLLUP_UPSERT[len(chunk)], params)

    def add_history(self, server_id: int, seq: int, time: int, pos: int | None = None) -> None:
        """Show a transaction (made at ``time``) in a server's history at ``pos`` (default: seq)."""
        self.conn.execute(
            "INSERT INTO history (server_id, pos, seq, time) VALUES (?, ?, ?, ?)",
            (server_id, seq if pos is None else pos, seq, time),
        )

    def add_to_histories(self, source_id: int, target_id: int, seq: int, time: int) -> None:
        """Show a live payment in both servers' histories (once for a self-payment)."""
        if source_id == target_id:
            self.add_history(source_id, seq, time)
        else:
            self.conn.execute(
                "INSERT INTO history (server_id, pos, seq, time) VALUES (?, ?, ?, ?), (?, ?, ?, ?)",
                (source_id, seq, seq, time, target_id, seq, seq, time),
            )

    def transaction_by_seq(self, seq: int) -> Transaction:
        row = self.conn.execute(
            f"SELECT {TRANSACTION_COLUMNS} FROM transactions WHERE seq = ?", (seq,)
        ).fetchone()
        return transaction_from_row(row)

    def pending_older_than(self, cutoff: int, limit: int) -> list[Transaction]:
        """Revertable pending transactions made at or before ``cutoff``, oldest first."""
        rows = self.conn.execute(
            f"SELECT {TRANSACTION_COLUMNS} FROM transactions INDEXED BY transactions_pending_age "
            "WHERE status = 'pending' AND revertable = 1 AND time <= ? ORDER BY time, seq LIMIT ?"
            + self.SKIP_LOCKED,
            (cutoff, limit),
        ).fetchall()
        return [transaction_from_row(r) for r in rows]

    def transactions_from(self, first_seq: int, count: int) -> list[Transaction]:
        """``count`` transactions in seq order, starting at ``first_seq``."""
        rows = self.conn.execute(
            f"SELECT {TRANSACTION_COLUMNS} FROM transactions WHERE seq >= ? ORDER BY seq LIMIT ?",
            (first_seq, count),
        ).fetchall()
        return [transaction_from_row(r) for r in rows]

    def pending_among(self, server_id: int, ids: Iterable[str]) -> list[Transaction]:
        """The server's pending transactions whose id is in ``ids``, oldest first."""
        wanted = list(dict.fromkeys(ids))
        found: list[Transaction] = []
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.conn.execute(
                f"SELECT {TRANSACTION_COLUMNS} FROM transactions WHERE id IN ({marks}) "
                "AND target_server_id = ? AND status = 'pending'" + self.FOR_UPDATE,
                (*chunk, server_id),
            ).fetchall()
            found.extend(transaction_from_row(r) for r in rows)
        found.sort(key=lambda t: t.seq)
        return found

    def oldest_pending(self, server_id: int, limit: int) -> list[Transaction]:
        """The server's ``limit`` oldest pending transactions, oldest first."""
        rows = self.conn.execute(
            f"SELECT {TRANSACTION_COLUMNS} FROM transactions "
            "WHERE target_server_id = ? AND status = 'pending' ORDER BY seq LIMIT ?"
            + self.FOR_UPDATE,
            (server_id, limit),
        ).fetchall()
        return [transaction_from_row(r) for r in rows]

    def finish_transaction(
        self,
        seq: int,
        status: TransactionStatus,
        now: int,
        *,
        refund_id: str | None = None,
        refund_failed: str | None = None,
    ) -> None:
        self.conn.execute(
            "UPDATE transactions SET status = ?, processed_at = ?, refund_id = ?, "
            "refund_failed = ? WHERE seq = ?",
            (status, now, refund_id, refund_failed, seq),
        )

    def idempotency_lookup(self, server_id: int, key: str) -> tuple[str, int] | None:
        row = self.conn.execute(
            "SELECT fingerprint, txn_seq FROM idempotency_keys WHERE server_id = ? AND key = ?",
            (server_id, key),
        ).fetchone()
        return (row[0], int(row[1])) if row else None

    def idempotency_store(
        self, server_id: int, key: str, fingerprint: str, seq: int, now: int
    ) -> None:
        self.conn.execute(
            "INSERT INTO idempotency_keys (server_id, key, fingerprint, txn_seq, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (server_id, key, fingerprint, seq, now),
        )

    def notify_webhook(self, server_id: int, now: float) -> None:
        """Queue (or re-arm) the server's "please poll" notification."""
        self.conn.execute(
            "INSERT INTO webhook_outbox (server_id, queued_at, due_at) VALUES (?, ?, ?) "
            "ON CONFLICT (server_id) DO UPDATE SET generation = webhook_outbox.generation + 1",
            (server_id, now, now),
        )
        self.notified_servers.add(server_id)


class WriteTx(LightTx):
    """Everything an operation may write inside the current transaction (any operation)."""

    def probe_space(self) -> None:
        """A write that needs disk space and leaves nothing (the writer's recovery probe)."""
        probe_space(self.conn)

    def servers(self) -> list[Server]:
        rows = self.conn.execute(
            f"SELECT {SERVER_COLUMNS} FROM servers WHERE deleted_at IS NULL "
            "AND kind = 'server' ORDER BY id"
        ).fetchall()
        return [server_from_row(r) for r in rows]

    def insert_server(
        self,
        *,
        uid: str,
        name: str,
        target_balance: int,
        token_hash: bytes | None,
        webhook_url: str | None,
        now: int,
    ) -> int:
        cur = self.conn.execute(
            "INSERT INTO servers (uid, name, target_balance, token_hash, webhook_url, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (uid, name, target_balance, token_hash, webhook_url, now, now),
        )
        server_id = int(cur.fetchone()[0])
        self.changed_servers.add(server_id)
        return server_id

    def update_server(self, server_id: int, now: int, **fields: Any) -> None:
        unknown = set(fields) - _SERVER_FIELDS
        if unknown:
            raise ValueError(f"not server fields: {unknown}")
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.conn.execute(
            f"UPDATE servers SET {sets}, updated_at = ? WHERE id = ?",
            (*fields.values(), now, server_id),
        )
        self.changed_servers.add(server_id)

    def has_pending(self, server_id: int) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM transactions WHERE target_server_id = ? AND status = 'pending' LIMIT 1",
            (server_id,),
        ).fetchone()
        return row is not None

    def insert_adjustment(self, server_id: int, amount: int, reason: str, now: int) -> int:
        cur = self.conn.execute(
            "INSERT INTO adjustments (server_id, amount, reason, created_at) "
            "VALUES (?, ?, ?, ?) RETURNING id",
            (server_id, amount, reason, now),
        )
        return int(cur.fetchone()[0])

    def transaction_by_id(self, txn_id: str) -> Transaction | None:
        row = self.conn.execute(
            f"SELECT {TRANSACTION_COLUMNS} FROM transactions WHERE id = ?" + self.FOR_UPDATE,
            (txn_id,),
        ).fetchone()
        return transaction_from_row(row) if row else None

    def pending_ids(self, server_id: int) -> list[str]:
        """Every transaction waiting for the server, oldest first."""
        rows = self.conn.execute(
            "SELECT id FROM transactions WHERE target_server_id = ? AND status = 'pending' "
            "ORDER BY seq",
            (server_id,),
        ).fetchall()
        return [r[0] for r in rows]

    def idempotency_expire(self, older_than: int) -> int:
        cur = self.conn.execute("DELETE FROM idempotency_keys WHERE created_at < ?", (older_than,))
        return cur.rowcount

    def insert_api_key(
        self, *, server_id: int, key_hash: bytes, prefix: str, scopes: str, label: str, now: int
    ) -> int:
        self.keys_changed = True
        cur = self.conn.execute(
            "INSERT INTO api_keys (server_id, key_hash, prefix, scopes, label, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (server_id, key_hash, prefix, scopes, label, now),
        )
        return int(cur.fetchone()[0])

    def revoke_api_key(self, server_id: int, key_id: int, now: int) -> bool:
        self.keys_changed = True
        cur = self.conn.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND server_id = ? "
            "AND revoked_at IS NULL",
            (now, key_id, server_id),
        )
        return cur.rowcount > 0

    def revoke_all_api_keys(self, server_id: int, now: int) -> None:
        self.keys_changed = True
        self.conn.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE server_id = ? AND revoked_at IS NULL",
            (now, server_id),
        )

    def active_api_keys(self) -> list[ApiKey]:
        rows = self.conn.execute(
            f"SELECT {API_KEY_COLUMNS} FROM api_keys WHERE revoked_at IS NULL ORDER BY id"
        ).fetchall()
        return [api_key_from_row(r) for r in rows]

    def clear_webhook(self, server_id: int) -> None:
        self.conn.execute("DELETE FROM webhook_outbox WHERE server_id = ?", (server_id,))
