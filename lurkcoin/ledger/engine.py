"""The Ledger: the one object the API, the CLI and the workers talk to.

Reads of server state come from the in-memory cache; history and pending
queues from the read connection; every change goes through the store's single
writer as one operation in one database transaction. Nothing here knows HTTP.

This module holds the Ledger's payments, reads and operations; the operator's
account changes (account_changes), backups (backup_ops), the console's
(console) and onboarding's (onboarding) parts are its other bases, all over
lurkcoin.ledger.base.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from functools import partial
from typing import Callable, Iterable

from lurkcoin.config import Config
from lurkcoin.core.errors import LurkcoinError, ServiceUnavailable
from lurkcoin.core.names import clean_username, server_uid
from lurkcoin.ledger import base, batches, credentials, payments
from lurkcoin.ledger import expiry as expiry_ops
from lurkcoin.ledger.account_changes import AccountChanges
from lurkcoin.ledger.audit import Actor
from lurkcoin.ledger.backup_ops import BackupOps
from lurkcoin.ledger.batches import MAX_BATCH_PAYMENTS, BatchItem
from lurkcoin.ledger.cache import ServerCache
from lurkcoin.ledger.check import CheckReport, check_reader
from lurkcoin.ledger.console import ConsoleMixin
from lurkcoin.ledger.credentials import KEY_PREFIX
from lurkcoin.ledger.explorer import Explorer
from lurkcoin.ledger.onboarding import OnboardingMixin
from lurkcoin.ledger.outbox import WebhookOutbox
from lurkcoin.ledger.pay_order import (
    PaymentDraft,
    RequestedAmount,
    run_pre_write_checks,
    valid_idempotency_key,
)
from lurkcoin.ledger.payments import PaymentRequest, Rules
from lurkcoin.ledger.tokens import hash_token, token_matches
from lurkcoin.models import ApiKey, BatchOutcome, Server, Transaction
from lurkcoin.store import make_store
from lurkcoin.store.reads import Backlog

IDEMPOTENCY_KEEP_SECONDS = 24 * 3600
# Time filters (balance at, history since/until): seconds up to the end of year 9999.
UNIX_TIME_MAX = 253402300799


class Ledger(AccountChanges, BackupOps, ConsoleMixin, OnboardingMixin):
    def __init__(self, config: Config) -> None:
        self.config = config
        self.rules = Rules(
            formula=config.exchange.formula,  # type: ignore[arg-type]
            max_spend=config.exchange.max_spend,
        )
        self.store = make_store(config.database)
        self.cache = ServerCache()
        self.store.on_commit.append(self.cache.apply)
        self.store.on_commit.append(self._reload_api_keys)
        self._api_keys = {}
        # The public explorer's read-only queries.
        self.explorer = Explorer(self)
        # Whom the audit log names for a change made without an explicit actor:
        # the operator running the CLI (the console always names its user).
        self.default_actor = Actor.local()
        self.outbox = WebhookOutbox(self.store)

    @classmethod
    async def open(cls, config: Config) -> "Ledger":
        ledger = cls(config)
        try:
            await ledger.store.open()
            ledger.cache.load(await ledger.store.all_servers())
            await ledger._load_api_keys()
        except BaseException:
            await ledger.store.close()  # no thread or connection left behind
            raise
        return ledger

    async def _load_api_keys(self) -> None:
        self._set_api_keys(await self.store.write(lambda tx: tx.active_api_keys()))

    def _reload_api_keys(self, outcome: BatchOutcome) -> None:
        if outcome.api_keys is not None:  # another process may have added or revoked keys
            self._set_api_keys(outcome.api_keys)

    async def close(self) -> None:
        await self.store.close()

    def on_commit(self, callback: Callable[[BatchOutcome], None]) -> None:
        """Call ``callback`` on the event loop after each COMMIT with what changed."""
        self.store.on_commit.append(callback)

    def remove_on_commit(self, callback: Callable[[BatchOutcome], None]) -> None:
        """Stop calling a callback given to on_commit (no error if it was not there)."""
        with contextlib.suppress(ValueError):
            self.store.on_commit.remove(callback)

    async def refresh_if_changed(self) -> bool:
        """Pick up changes another process (the CLI) committed; True if there were any."""
        outcome = await self.store.external_changes()
        if outcome is None:
            return False
        for callback in self.store.on_commit:
            callback(outcome)
        return True

    # -- reads --------------------------------------------------------------

    def server(self, name: str) -> Server | None:
        return self.cache.by_name(name)

    def servers(self) -> list[Server]:
        return self.cache.servers()

    async def authenticate(self, name: str, token: str) -> Server | None:
        """The server whose name and token these are, compared in constant time.

        Memory only, except on the first use of a regenerated token, which is
        promoted (see _promote) before the login succeeds.
        """
        server = self.cache.by_name(name)
        if server is None or not token:
            return None
        if token_matches(token, server.token_hash):
            return server
        if token_matches(token, server.next_token_hash):
            return await self._promote(server)
        return None

    async def _promote(self, server: Server) -> Server | None:
        """First use of a regenerated token: from now on only it logs in.

        Awaited like any write: the cache changes only after the COMMIT (through
        on_commit), and a failure reaches the caller instead of being lost.
        Two requests racing with the new token both promote; the second write
        finds nothing left to do.
        """
        new_hash = server.next_token_hash
        assert new_hash is not None
        await self.store.write(
            lambda tx: credentials.promote_token(tx, server.id, new_hash, base.unix_now())
        )
        return self.cache.by_id(server.id)  # None if the server was deleted meanwhile

    def authenticate_key(self, key: str, name: str | None = None) -> tuple[Server, ApiKey] | None:
        """A read-only API key (optionally for the named server) and its server."""
        found = self._api_keys.get(hash_token(key)) if key.startswith(KEY_PREFIX) else None
        if found is None:
            return None
        server = self.cache.by_id(found.server_id)
        if server is None or (name is not None and server.uid != server_uid(name)):
            return None
        return server, found

    async def history(
        self, server: Server, limit: int = 10, before: str | None = None
    ) -> list[Transaction]:
        """Newest first; ``before`` (a transaction id) pages on to older ones."""
        before_seq = None
        if before is not None:
            anchor = await self._reader().transaction(before)
            if anchor is None:
                raise LurkcoinError("ERR_TRANSACTIONNOTFOUND")
            before_seq = anchor.seq
        found = await self._reader().history(server.id, limit, before_seq)
        if found is None:  # a real id, but not in this server's history
            raise LurkcoinError("ERR_TRANSACTIONNOTFOUND")
        return found

    async def history_between(
        self,
        server: Server,
        since: int,
        until: int,
        limit: int = 10,
        before: str | None = None,
    ) -> list[Transaction]:
        """Transactions made from ``since`` to ``until`` (Unix times, inclusive), newest first."""
        before_seq = None
        if before is not None:
            anchor = await self._reader().transaction(before)
            if anchor is None:
                raise LurkcoinError("ERR_TRANSACTIONNOTFOUND")
            before_seq = anchor.seq
        found = await self._reader().history_between(server.id, since, until, limit, before_seq)
        if found is None:
            raise LurkcoinError("ERR_TRANSACTIONNOTFOUND")
        return found

    async def balance_at(self, server: Server, at: int) -> int:
        """The balance a client would have read at the end of second ``at`` (Unix time)."""
        now = base.unix_now()
        if at > now:
            return server.balance
        # Sum whichever side of ``at`` is likely shorter: the entries since the
        # server's creation up to ``at``, or those from ``at`` until now.
        from_start = at - server.created_at < now - at
        return await self._reader().balance_at(server.id, at, from_start=from_start)

    async def pending(self, server: Server) -> list[Transaction]:
        return await self._reader().pending(server.id)

    async def transaction(self, txn_id: str) -> Transaction | None:
        return await self._reader().transaction(txn_id)

    def quote(self, source: str, target: str, amount: int, *, with_fee: bool = True) -> int:
        """The exchange_rates answer: ``amount`` from ``source``'s currency to ``target``'s.

        Less the target's exchange fee, as a payment would get (``with_fee=False``: the rate).
        """
        return payments.quote(
            self.cache.by_name, source, target, amount, self.rules, with_fee=with_fee
        )

    # -- payments -------------------------------------------------------------

    async def pay(
        self,
        source: Server,
        *,
        source_user: str,
        target_user: str,
        target_server: str,
        amount: RequestedAmount,
        local_currency: bool,
        idempotency_key: str | None = None,
    ) -> Transaction:
        """Positions 3-8 of lurkcoin.ledger.pay_order in memory, then 9-10 in the writer."""
        source_user = clean_username(source_user)
        target_user = clean_username(target_user)
        draft = PaymentDraft(
            source_user, target_user, target_server, amount, local_currency, idempotency_key
        )
        cents = run_pre_write_checks(draft, self.cache.by_name)
        req = PaymentRequest(
            source.id,
            source_user,
            target_user,
            target_server,
            cents,
            local_currency,
            idempotency_key,
        )
        return await self.store.write_light(
            partial(payments.pay, req=req, rules=self.rules, now=base.unix_now()),
            locks=self._payment_locks(source, target_server),
        )

    def _payment_locks(self, source: Server, target_server: str) -> tuple[int, ...]:
        """The accounts a payment changes: its source, its target and, for a fee, the fee account.

        From the cache, so possibly a moment stale: that only costs a retry on
        PostgreSQL (lurkcoin.store.postgres), never a wrong answer.
        """
        target = self.cache.by_name(target_server)
        if target is None:
            return (source.id,)
        if target.fee_bps and target.id != source.id:
            return (source.id, target.id, self.store.fees_id)
        return (source.id, target.id)

    async def pay_batch(
        self, source: Server, items: list[BatchItem], idempotency_key: str | None = None
    ) -> list[Transaction]:
        """Up to 100 payments, all committed or none (BatchItemError names the first failure)."""
        if idempotency_key is not None and not valid_idempotency_key(idempotency_key):
            raise LurkcoinError("ERR_INVALIDIDEMPOTENCYKEY")
        if not 1 <= len(items) <= MAX_BATCH_PAYMENTS:
            raise LurkcoinError(
                "ERR_INVALIDREQUEST", f"A batch has 1 to {MAX_BATCH_PAYMENTS} payments."
            )
        return await self.store.write(
            partial(
                batches.pay_batch,
                source_id=source.id,
                items=list(items),
                idempotency_key=idempotency_key,
                rules=self.rules,
                now=base.unix_now(),
            )
        )

    async def expire_pending(self, *, dry_run: bool = False) -> list[Transaction]:
        """Reject and refund what waited longer than ``[ledger] pending_expiry`` (if set).

        In bounded writer operations, each its own transaction; ``dry_run``
        only lists what would expire now.
        """
        expiry = self.config.ledger.pending_expiry_seconds
        if expiry <= 0:
            return []
        now = base.unix_now()
        cutoff = now - expiry
        if dry_run:
            return await self._reader().pending_older_than(cutoff, 1 << 62)
        expired: list[Transaction] = []
        while True:
            done = await self.store.write(partial(expiry_ops.expire, cutoff=cutoff, now=now))
            expired += [e.transaction for e in done]
            if len(done) < expiry_ops.EXPIRE_BATCH:
                return expired

    async def acknowledge(self, server: Server, ids: Iterable[str]) -> int:
        ids = list(ids)
        return await self.store.write_light(
            lambda tx: payments.acknowledge(tx, server.id, ids, base.unix_now()), locks=(server.id,)
        )

    async def drop_oldest_pending(self, server: Server, count: int) -> int:
        """Acknowledge the ``count`` oldest pending transactions (V2's remove_transactions)."""
        return await self.store.write_light(
            lambda tx: payments.drop_oldest(tx, server.id, count, base.unix_now()),
            locks=(server.id,),
        )

    async def reject(self, server: Server, ids: Iterable[str]) -> int:
        ids = list(ids)
        return await self.store.write_light(
            lambda tx: payments.reject(tx, server.id, ids, base.unix_now()), locks=(server.id,)
        )

    async def expire_idempotency_keys(self) -> int:
        cutoff = base.unix_now() - IDEMPOTENCY_KEEP_SECONDS
        return await self.store.write(lambda tx: tx.idempotency_expire(cutoff))

    # -- invariants -------------------------------------------------------------

    async def check(self, step: Callable[[], None] | None = None) -> CheckReport:
        """The invariant check (lurkcoin.ledger.check); ``step()`` after each of CHECK_STEPS."""
        report = await check_reader(
            self._reader(), self.store.issuance_id, self.store.fees_id, step
        )
        servers = self.cache.servers()
        report.servers = len(servers)
        report.circulating = sum(s.balance for s in servers)
        report.fees_collected = self.fees_collected()
        return report

    async def wait_idle(self) -> None:
        """Return once every write queued before this call is durable (tests use it)."""
        await self.store.write(lambda tx: None)
        await asyncio.sleep(0)

    # -- operations ---------------------------------------------------------

    async def readiness(self, timeout: float = 5.0) -> str | None:
        """Why the ledger cannot serve now, or None: a round trip through the writer and a read."""
        if self.store.health.problem is not None:
            return self.store.health.problem
        try:
            async with asyncio.timeout(timeout):
                await self.store.write_light(lambda tx: None)
                if self.store.reader is None:
                    return "the database is closed"
                await self.store.reader.ping()
        except TimeoutError:
            return f"the database did not answer within {timeout:g} s"
        except ServiceUnavailable as err:
            return err.reason
        except Exception as err:  # any driver's error: readiness answers, never raises
            return f"the database failed: {err}"
        return None

    async def writes_blocked(self) -> str | None:
        """Try a write that needs disk space: what stops it (read-only, full), or None."""
        return await self.store.probe_writes()

    def write_problem(self) -> str | None:
        """The condition that stops writes now (a full disk...), or None."""
        return self.store.health.problem

    async def backlog(self) -> Backlog:
        """Pending transactions and webhook outbox rows, for the metrics."""
        return await self._reader().backlog()

    def write_counts(self) -> tuple[int, int]:
        """Batches the writer committed, and the operations inside them, since opening."""
        return self.store.batches, self.store.batched_operations

    def database_bytes(self) -> tuple[int, int]:
        """Sizes of the database file and of its write-ahead log (0 if absent)."""
        return _file_size(self.store.path), _file_size(self.store.path + "-wal")


def _file_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
