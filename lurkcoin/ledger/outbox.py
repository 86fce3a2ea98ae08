"""The webhook outbox as the dispatcher and the operator use it: one door, owned by the Ledger.

Payments queue notifications in the same transaction that moves the money
(store/writes.py); this object claims them for delivery, records each
attempt and reports delivery state. Each method is one operation of the
single writer, so a claim and the payments it races with never interleave.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from lurkcoin.models import Claim, ClaimResult, DeliveryState
from lurkcoin.store import webhooks as rows
from lurkcoin.store.sqlite import SqliteStore


class WebhookOutbox:
    """``ledger.outbox``: what the webhook dispatcher and ``lurkcoin webhooks`` call."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    async def claim_due(
        self,
        *,
        now: float,
        lease_until: float,
        limit: int,
        exclude: Collection[int],
        new_message_id: Callable[[], str],
    ) -> ClaimResult:
        """Lease up to ``limit`` due notifications (not of servers in ``exclude``)."""
        return await self._store.write(
            lambda tx: rows.claim_due(
                tx,
                now=now,
                lease_until=lease_until,
                limit=limit,
                exclude=exclude,
                new_message_id=new_message_id,
            )
        )

    async def record_success(self, claim: Claim, *, now: float, status: int) -> bool:
        """The receiver answered 2xx; False if the row changed meanwhile (sent again later)."""
        return await self._store.write(
            lambda tx: rows.record_success(tx, claim, now=now, status=status)
        )

    async def record_failure(
        self,
        claim: Claim,
        *,
        now: float,
        status: int | None,
        error: str,
        retry_at: float,
        give_up: bool,
    ) -> None:
        """A failed attempt: retry at ``retry_at``, or drop the notification if ``give_up``."""
        await self._store.write(
            lambda tx: rows.record_failure(
                tx,
                claim,
                now=now,
                status=status,
                error=error,
                retry_at=retry_at,
                give_up=give_up,
            )
        )

    async def release(self, claims: Collection[Claim], *, now: float) -> None:
        """Hand abandoned claims back, due at once (the dispatcher is stopping)."""
        await self._store.write(lambda tx: rows.release_claims(tx, claims, now=now))

    async def delivery_states(self) -> list[DeliveryState]:
        """Delivery state of every server with a webhook (or a delivery history), by name."""
        return await self._store.write(rows.delivery_states)
