"""The webhook dispatcher's SQL: claiming due outbox rows, recording attempts, delivery state.

Each function is one operation of the single writer, run on its thread
(lurkcoin.ledger.outbox calls them through ``store.write``), so a claim and
the payments it races with are serialised by the writer, never interleaved.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection

from lurkcoin.models import Claim, ClaimResult, DeliveryState
from lurkcoin.store.writes import WriteTx


def _marks(values: Collection[int]) -> str:
    # "-1" for none: no server has that id, and `NOT IN ()` is SQLite's alone.
    return ",".join("?" * len(values)) or "-1"


def claim_due(
    tx: WriteTx,
    *,
    now: float,
    lease_until: float,
    limit: int,
    exclude: Collection[int],
    new_message_id: Callable[[], str],
) -> ClaimResult:
    """Take up to ``limit`` due notifications, leasing each until ``lease_until``.

    The lease (moving due_at forward) keeps another dispatcher from sending the
    same notification and makes it due again by itself if this process dies
    mid-delivery. Rows of servers without a webhook URL are dropped.
    """
    conn = tx.conn
    skip = list(exclude)
    rows = conn.execute(
        "SELECT o.server_id, o.generation, o.queued_at, o.attempts, s.name, s.webhook_url, "
        "s.webhook_secret, s.deleted_at, st.message_id, st.message_generation "
        "FROM webhook_outbox o JOIN servers s ON s.id = o.server_id "
        "LEFT JOIN webhook_state st ON st.server_id = o.server_id "
        f"WHERE o.due_at <= ? AND o.server_id NOT IN ({_marks(skip)}) "
        "ORDER BY o.due_at LIMIT ?" + tx.SKIP_LOCKED.replace("UPDATE", "UPDATE OF o"),
        (now, *skip, limit),
    ).fetchall()
    claims: list[Claim] = []
    for (
        server_id,
        generation,
        queued_at,
        attempts,
        name,
        url,
        secret,
        deleted_at,
        message_id,
        message_generation,
    ) in rows:
        if url is None or deleted_at is not None:
            conn.execute("DELETE FROM webhook_outbox WHERE server_id = ?", (server_id,))
            continue
        conn.execute(
            "UPDATE webhook_outbox SET due_at = ? WHERE server_id = ?", (lease_until, server_id)
        )
        if message_id is None or message_generation != generation:
            message_id = new_message_id()
            conn.execute(
                "INSERT INTO webhook_state (server_id, message_id, message_generation) "
                "VALUES (?, ?, ?) ON CONFLICT (server_id) DO UPDATE SET "
                "message_id = excluded.message_id, "
                "message_generation = excluded.message_generation",
                (server_id, message_id, generation),
            )
        claims.append(
            Claim(
                server_id,
                name,
                url,
                secret,
                int(generation),
                float(queued_at),
                int(attempts),
                message_id,
                lease_until,
            )
        )
    left = skip + [c.server_id for c in claims]
    row = conn.execute(
        f"SELECT MIN(due_at) FROM webhook_outbox WHERE server_id NOT IN ({_marks(left)})", left
    ).fetchone()
    return ClaimResult(claims, None if row[0] is None else float(row[0]))


def record_success(tx: WriteTx, claim: Claim, *, now: float, status: int) -> bool:
    """Clear the notification unless a newer one arrived meanwhile; True if cleared.

    A newer one (its generation moved on) stays, due at once, so the last
    POST a server gets is always later than its last payment.
    """
    conn = tx.conn
    cleared = (
        conn.execute(
            "DELETE FROM webhook_outbox WHERE server_id = ? AND generation = ? AND queued_at = ?",
            (claim.server_id, claim.generation, claim.queued_at),
        ).rowcount
        > 0
    )
    if not cleared:
        conn.execute(
            "UPDATE webhook_outbox SET due_at = ?, attempts = 0 WHERE server_id = ?",
            (now, claim.server_id),
        )
    _upsert_state(
        conn,
        claim.server_id,
        "last_attempt_at = ?, last_status = ?, last_error = NULL, "
        "last_success_at = ?, consecutive_failures = 0, gave_up_at = NULL, "
        "message_id = NULL, message_generation = NULL",
        (now, status, now),
    )
    return cleared


def record_failure(
    tx: WriteTx,
    claim: Claim,
    *,
    now: float,
    status: int | None,
    error: str,
    retry_at: float,
    give_up: bool,
) -> None:
    """Schedule the retry (attempts + 1), or drop the notification when giving up."""
    conn = tx.conn
    if give_up:
        conn.execute("DELETE FROM webhook_outbox WHERE server_id = ?", (claim.server_id,))
        _upsert_state(
            conn,
            claim.server_id,
            "last_attempt_at = ?, last_status = ?, last_error = ?, "
            "consecutive_failures = consecutive_failures + 1, gave_up_at = ?, "
            "message_id = NULL, message_generation = NULL",
            (now, status, error, now),
        )
        return
    conn.execute(
        "UPDATE webhook_outbox SET attempts = attempts + 1, due_at = ? WHERE server_id = ?",
        (retry_at, claim.server_id),
    )
    _upsert_state(
        conn,
        claim.server_id,
        "last_attempt_at = ?, last_status = ?, last_error = ?, "
        "consecutive_failures = consecutive_failures + 1",
        (now, status, error),
    )


def release_claims(tx: WriteTx, claims: Collection[Claim], *, now: float) -> None:
    """Make abandoned notifications due at once (shutting down mid-delivery).

    Only rows still under the claim's own lease: an outcome recorded just
    before the shutdown keeps its retry time.
    """
    tx.conn.executemany(
        "UPDATE webhook_outbox SET due_at = ? WHERE server_id = ? AND due_at = ?",
        [(now, c.server_id, c.lease_until) for c in claims],
    )


def _upsert_state(
    conn: sqlite3.Connection, server_id: int, assignments: str, params: tuple[object, ...]
) -> None:
    conn.execute(
        "INSERT INTO webhook_state (server_id) VALUES (?) ON CONFLICT DO NOTHING", (server_id,)
    )
    conn.execute(
        f"UPDATE webhook_state SET {assignments} WHERE server_id = ?", (*params, server_id)
    )


def delivery_states(tx: WriteTx) -> list[DeliveryState]:
    """Every live server with a webhook URL or a delivery history, by name."""
    rows = tx.conn.execute(
        "SELECT s.name, s.webhook_url, s.webhook_secret IS NOT NULL, o.server_id IS NOT NULL, "
        "o.queued_at, o.due_at, COALESCE(o.attempts, 0), st.last_attempt_at, st.last_status, "
        "st.last_error, st.last_success_at, COALESCE(st.consecutive_failures, 0), "
        "st.gave_up_at "
        "FROM servers s LEFT JOIN webhook_outbox o ON o.server_id = s.id "
        "LEFT JOIN webhook_state st ON st.server_id = s.id "
        "WHERE s.deleted_at IS NULL AND s.kind = 'server' AND (s.webhook_url IS NOT NULL "
        "OR o.server_id IS NOT NULL OR st.server_id IS NOT NULL) "
        "ORDER BY s.name COLLATE NOCASE, s.id"
    ).fetchall()
    return [
        DeliveryState(
            r[0],
            r[1],
            bool(r[2]),
            bool(r[3]),
            r[4],
            r[5],
            int(r[6]),
            r[7],
            r[8],
            r[9],
            r[10],
            int(r[11]),
            r[12],
        )
        for r in rows
    ]
