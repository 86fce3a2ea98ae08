"""What the operator's console asks of the Ledger beyond the API's needs.

A mixin of the Ledger: admin sessions, forced acknowledgements and
rejections, the audit log and the dashboard's numbers (all read from the
rollup or from index ranges, never from a scan of the transactions).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import AsyncGenerator, Iterable, Sequence
from dataclasses import dataclass

from lurkcoin.core.errors import LurkcoinError
from lurkcoin.ledger import audit, base, payments
from lurkcoin.ledger.audit import Actor, ChainBreak
from lurkcoin.ledger.base import LedgerBase
from lurkcoin.ledger.check import rollup_messages
from lurkcoin.models import AdminSession, AuditEntry, DailyTotals, Server, Transaction
from lurkcoin.store import console as sql
from lurkcoin.store.rows import transaction_from_row
from lurkcoin.store.writes import WriteTx

DAY = 86400
# A session's last-seen time is written at most this often (seconds).
TOUCH_INTERVAL = 60.0


def session_hash(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True)
class Dashboard:
    pending: int
    oldest_pending: int | None
    failed_refunds: int
    failing_webhooks: int


@dataclass(frozen=True)
class TransactionSearch:
    server_id: int | None = None
    txn_id: str | None = None
    user: str | None = None
    status: str | None = None
    since: int | None = None
    until: int | None = None


class ConsoleMixin(LedgerBase):
    # -- pending queues, by force -------------------------------------------------

    async def force_acknowledge(
        self, server: Server, ids: Iterable[str], reason: str, *, actor: Actor
    ) -> int:
        """Acknowledge on the server's behalf (it will never do so itself)."""
        wanted = list(ids)
        _need_reason(reason)
        return await self.change(
            lambda tx: payments.acknowledge(tx, server.id, wanted, base.unix_now()),
            action="force-acknowledge",
            actor=actor,
            server_id=server.id,
            reason=reason,
            detail=lambda n: {"transactions": wanted, "acknowledged": n},
        )

    async def force_reject(
        self, server: Server, ids: Iterable[str], reason: str, *, actor: Actor
    ) -> int:
        """Reject on the server's behalf, refunding the revertable ones as a rejection does."""
        wanted = list(ids)
        _need_reason(reason)
        return await self.change(
            lambda tx: payments.reject(tx, server.id, wanted, base.unix_now()),
            action="force-reject",
            actor=actor,
            server_id=server.id,
            reason=reason,
            detail=lambda n: {"transactions": wanted, "rejected": n},
        )

    async def queue_test_webhook(self, server: Server, *, actor: Actor) -> None:
        """Queue a "please poll" notification now (a harmless poll for the server)."""

        def run(tx: WriteTx) -> None:
            current = tx.server_by_id(server.id)
            if current is None or not current.webhook_url:
                raise LurkcoinError("ERR_INVALIDREQUEST", "This server has no webhook URL.")
            tx.notify_webhook(server.id, time.time())

        await self.change(run, action="test-webhook", actor=actor, server_id=server.id)

    def issued(self) -> int:
        """Cents issued, net of what was taken back: minus the issuance account's balance."""
        issuance = self.cache.by_id(self.store.issuance_id)
        return -issuance.balance if issuance is not None else 0

    def fees_collected(self) -> int:
        """Exchange fees taken, less those refunded: the fee account's balance."""
        fees = self.cache.by_id(self.store.fees_id)
        return fees.balance if fees is not None else 0

    async def pending_page(self, server: Server, limit: int) -> list[Transaction]:
        """The server's ``limit`` oldest pending transactions."""
        return await self._reader().pending(server.id, limit)

    async def backup_copy(self, dest: str) -> None:
        """A consistent copy of the whole database file at ``dest``."""
        await self.store.backup_to(dest)

    # -- admin sessions -------------------------------------------------------------

    async def open_admin_session(self, user: str, address: str) -> str:
        """A new session; returns its id (the cookie value), of which only a hash is kept."""
        session_id = secrets.token_urlsafe(32)
        now = time.time()
        row = AdminSession(session_hash(session_id), user, address, now, now)
        await self.store.write(lambda tx: sql.insert_session(tx, row))
        return session_id

    async def admin_session(
        self, session_id: str, *, users: Sequence[str], idle: float, max_age: float
    ) -> AdminSession | None:
        """The live session with this id, or None (unknown, timed out or account removed)."""
        digest = session_hash(session_id)
        found = await sql.session(self._reader(), digest)
        if found is None:
            return None
        now = time.time()
        if (
            found.user not in users
            or now - found.last_seen_at > idle
            or now - found.created_at > max_age
        ):
            await self.store.write(lambda tx: sql.delete_session(tx, digest))
            return None
        if now - found.last_seen_at > TOUCH_INTERVAL:
            await self.store.write(lambda tx: sql.touch_session(tx, digest, now))
        return found

    async def close_admin_session(self, session_id: str) -> None:
        digest = session_hash(session_id)
        await self.store.write(lambda tx: sql.delete_session(tx, digest))

    async def expire_admin_sessions(
        self, *, users: Sequence[str], idle: float, max_age: float
    ) -> int:
        """End sessions past a timeout or of accounts no longer in the config."""
        now = time.time()
        return await self.store.write(
            lambda tx: sql.delete_stale_sessions(tx, list(users), now - idle, now - max_age)
        )

    # -- the audit log ----------------------------------------------------------------

    async def audit_entries(
        self, limit: int = 50, before_id: int | None = None, subject: str | None = None
    ) -> list[AuditEntry]:
        return await sql.audit_page(self._reader(), limit, before_id, subject)

    async def verify_audit(self) -> tuple[int, list[ChainBreak]]:
        """Walk the whole chain: (entries, breaks); no breaks means untouched."""
        async with self._reader().snapshot() as snap:
            return await audit.verify(sql.audit_chain(snap))

    # -- the dashboard's numbers ---------------------------------------------------------

    async def daily_totals(
        self, server_id: int, days: int, today: int | None = None
    ) -> list[DailyTotals]:
        """The last ``days`` days of the rollup (0: every server), a zero row for quiet days."""
        last = base.unix_now() // DAY if today is None else today
        first = last - days + 1
        found = {d.day: d for d in await sql.daily_totals(self._reader(), server_id, first, last)}
        return [found.get(day, DailyTotals(day, 0, 0, 0, 0)) for day in range(first, last + 1)]

    async def all_time_totals(self, server_id: int) -> DailyTotals:
        return await sql.all_time_totals(self._reader(), server_id)

    async def dashboard(self) -> Dashboard:
        reader = self._reader()
        pending, oldest = await sql.pending_summary(reader)
        return Dashboard(
            pending,
            oldest,
            await sql.failed_refund_count(reader),
            await sql.failing_webhooks(reader),
        )

    async def pending_counts(self) -> dict[int, int]:
        return await sql.pending_counts(self._reader())

    async def last_active_days(self) -> dict[int, int]:
        return await sql.last_active_days(self._reader())

    async def search_transactions(
        self, search: TransactionSearch, *, limit: int, before: int | None = None
    ) -> list[tuple[int, Transaction]]:
        """Newest first: (paging key, transaction); pass the last key as ``before``."""
        rows = await sql.search_transactions(
            self._reader(),
            server_id=search.server_id,
            txn_id=search.txn_id,
            user=search.user,
            status=search.status,
            since=search.since,
            until=search.until,
            before=before,
            limit=limit,
        )
        return [(key, transaction_from_row(row)) for key, row in rows]

    async def all_matching(
        self, search: TransactionSearch, batch: int = 1000
    ) -> AsyncGenerator[list[Transaction], None]:
        """Every match, newest first, a batch at a time: memory stays constant."""
        before: int | None = None
        while True:
            found = await self.search_transactions(search, limit=batch, before=before)
            if found:
                yield [t for _, t in found]
            if len(found) < batch:
                return
            before = found[-1][0]

    async def rollup_problems(self) -> list[str]:
        """The invariant check's part: rollup rows that disagree with the transactions."""
        return rollup_messages(await sql.rollup_differences(self._reader()))


def _need_reason(reason: str) -> None:
    if not reason.strip():
        raise LurkcoinError("ERR_INVALIDREQUEST", "This action needs a reason.")
