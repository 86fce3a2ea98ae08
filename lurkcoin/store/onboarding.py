"""The SQL of self-service onboarding: the account_requests table (migration 0009).

Write functions take the writer's WriteTx (they run inside a ledger
operation's transaction); read functions take a Reader. The queue and the cap
on waiting requests read the (status, id) index; nothing scans the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lurkcoin.models import AccountRequest
from lurkcoin.store.reads import Reader
from lurkcoin.store.writes import WriteTx

COLUMNS = (
    "id, name, uid, contact, webhook_url, message, address, secret_hash, status, created_at, "
    "decided_at, decided_by, reason, server_id, claim_expires_at, claimed_at"
)


def _request(row: Sequence[Any]) -> AccountRequest:
    return AccountRequest(*row)


def count_pending(tx: WriteTx, cap: int) -> int:
    """Waiting requests, counted up to ``cap`` (an index range of at most that many rows)."""
    row = tx.conn.execute(
        "SELECT COUNT(*) FROM (SELECT 1 FROM account_requests WHERE status = 'pending' LIMIT ?) "
        "AS waiting",
        (cap,),
    ).fetchone()
    return int(row[0])


def pending_for_uid(tx: WriteTx, uid: str) -> bool:
    row = tx.conn.execute(
        "SELECT 1 FROM account_requests WHERE uid = ? AND status = 'pending'", (uid,)
    ).fetchone()
    return row is not None


def insert(
    tx: WriteTx,
    *,
    name: str,
    uid: str,
    contact: str,
    webhook_url: str | None,
    message: str,
    address: str,
    secret_hash: str,
    now: int,
) -> int:
    row = tx.conn.execute(
        "INSERT INTO account_requests (name, uid, contact, webhook_url, message, address, "
        "secret_hash, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?) "
        "RETURNING id",
        (name, uid, contact, webhook_url, message, address, secret_hash, now),
    ).fetchone()
    return int(row[0])


def by_id(tx: WriteTx, request_id: int) -> AccountRequest | None:
    row = tx.conn.execute(
        f"SELECT {COLUMNS} FROM account_requests WHERE id = ?", (request_id,)
    ).fetchone()
    return _request(row) if row else None


def decide(
    tx: WriteTx,
    request_id: int,
    *,
    status: str,
    by: str,
    reason: str,
    server_id: int | None,
    claim_expires_at: int | None,
    now: int,
) -> bool:
    """Approve or refuse a request still pending; False when it no longer is."""
    cur = tx.conn.execute(
        "UPDATE account_requests SET status = ?, decided_at = ?, decided_by = ?, reason = ?, "
        "server_id = ?, claim_expires_at = ? WHERE id = ? AND status = 'pending'",
        (status, now, by, reason, server_id, claim_expires_at, request_id),
    )
    return cur.rowcount == 1


def mark_claimed(tx: WriteTx, request_id: int, now: int) -> bool:
    """Approved becomes claimed, once; False when another claim got there first."""
    cur = tx.conn.execute(
        "UPDATE account_requests SET status = 'claimed', claimed_at = ? "
        "WHERE id = ? AND status = 'approved'",
        (now, request_id),
    )
    return cur.rowcount == 1


async def read_pending_count(reader: Reader) -> int:
    """Waiting requests (an index range: at most [onboarding] max_pending rows)."""
    rows = await reader._rows("SELECT COUNT(*) FROM account_requests WHERE status = 'pending'")
    return int(rows[0][0])


async def read_one(reader: Reader, request_id: int) -> AccountRequest | None:
    rows = await reader._rows(f"SELECT {COLUMNS} FROM account_requests WHERE id = ?", (request_id,))
    return _request(rows[0]) if rows else None


async def read_page(
    reader: Reader, statuses: Sequence[str], limit: int, *, oldest_first: bool = False
) -> list[AccountRequest]:
    """At most ``limit`` requests in these states, newest (or oldest) first."""
    marks = ", ".join("?" * len(statuses))
    order = "ASC" if oldest_first else "DESC"
    rows = await reader._rows(
        f"SELECT {COLUMNS} FROM account_requests WHERE status IN ({marks}) "
        f"ORDER BY id {order} LIMIT ?",
        (*statuses, limit),
    )
    return [_request(r) for r in rows]
