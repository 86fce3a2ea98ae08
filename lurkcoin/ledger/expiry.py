"""Pending expiry: a revertable payment its target never acknowledged is rejected in time.

``[ledger] pending_expiry`` (off by default) is how long a payment may wait in
its target's pending queue. After that, the server rejects it exactly as the
target would have: it leaves the queue as rejected and its exact amount is
refunded to the sender in the same transaction (the refund enters the
sender's pending queue and webhook), and an audit entry says why.

The candidates are read and rejected inside one writer transaction (which
holds SQLite's write lock), so each transaction expires at most once even
when several processes run the task; the age is the transaction's own time,
so a restart simply carries on.
"""

from __future__ import annotations

from dataclasses import dataclass

from lurkcoin.ledger import audit, payments
from lurkcoin.ledger.audit import Actor
from lurkcoin.models import Transaction
from lurkcoin.store.writes import WriteTx

# Rejections per writer operation: a long backlog never holds the writer long.
EXPIRE_BATCH = 200
EXPIRY_ACTOR = Actor("system:pending-expiry", "local")


@dataclass(frozen=True)
class Expired:
    """One expired transaction and what became of its refund."""

    transaction: Transaction
    refund_id: str | None
    refund_failed: str | None


def expire(tx: WriteTx, cutoff: int, now: int, limit: int = EXPIRE_BATCH) -> list[Expired]:
    """Reject (with its refund) each revertable pending transaction made at or before ``cutoff``."""
    done = []
    for t in tx.pending_older_than(cutoff, limit):
        refund_id, failure = payments.refund(tx, t, now)
        tx.finish_transaction(t.seq, "rejected", now, refund_id=refund_id, refund_failed=failure)
        done.append(Expired(t, refund_id, failure))
    tx.count_settled(len(done), now)
    if done:
        audit.record(
            tx,
            EXPIRY_ACTOR,
            "expire-pending",
            "",
            None,
            {
                "expired": [e.transaction.id for e in done],
                "refunds": [e.refund_id for e in done if e.refund_id],
                "failed_refunds": [e.transaction.id for e in done if e.refund_failed],
            },
            f"unacknowledged for longer than the pending expiry (made at or before {cutoff})",
            now,
        )
    return done
