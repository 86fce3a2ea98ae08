"""The Ledger: the one object the API, the CLI and the workers talk to.

Reads of server state come from the in-memory cache; history and pending
queues from the read connection; every change goes through the store's single
writer as one operation in one database transaction. Nothing here knows HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import time
from decimal import Decimal
from functools import partial
from typing import Any, AsyncGenerator, Callable, Iterable, NamedTuple, TypeVar

from lurkcoin.config import Config
from lurkcoin.core.errors import LurkcoinError, ServiceUnavailable
from lurkcoin.core.names import clean_username, server_uid
from lurkcoin.core.urls import normalise_webhook_url
from lurkcoin.ledger import accounts, batches, credentials, payments
from lurkcoin.ledger import expiry as expiry_ops
from lurkcoin.ledger.audit import Actor, audited
from lurkcoin.ledger.backup import (
    BackupError,
    ImportReport,
    import_records,
    parse_backup,
    server_json_head,
    server_json_pending_start,
    server_json_tail,
    transaction_json,
)
from lurkcoin.ledger.batches import MAX_BATCH_PAYMENTS, BatchItem
from lurkcoin.ledger.cache import ServerCache
from lurkcoin.ledger.check import CheckReport, check_reader
from lurkcoin.ledger.console import ConsoleMixin
from lurkcoin.ledger.credentials import KEY_PREFIX, new_api_key
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
from lurkcoin.ledger.tokens import hash_token, new_signing_secret, new_token, token_matches
from lurkcoin.models import ApiKey, BatchOutcome, Server, Transaction
from lurkcoin.store import make_store
from lurkcoin.store.reads import Backlog, Reader
from lurkcoin.store.writes import WriteTx

T = TypeVar("T")

IDEMPOTENCY_KEEP_SECONDS = 24 * 3600
# Time filters (balance at, history since/until): seconds up to the end of year 9999.
UNIX_TIME_MAX = 253402300799


class WebhookChange(NamedTuple):
    """What Ledger.set_webhook stored: the URL (None: cleared) and a new secret to show once."""

    url: str | None
    new_secret: str | None


def _now() -> int:
    return int(time.time())


class Ledger(ConsoleMixin, OnboardingMixin):
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
        self._api_keys: dict[bytes, ApiKey] = {}
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

    def _set_api_keys(self, keys: list[ApiKey]) -> None:
        self._api_keys = {k.key_hash: k for k in keys}

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

    def require_server(self, name: str) -> Server:
        server = self.cache.by_name(name)
        if server is None:
            raise LurkcoinError("ERR_SERVERNOTFOUND")
        return server

    def servers(self) -> list[Server]:
        return self.cache.servers()

    def _resolve(self, server: Server | str) -> Server:
        return self.require_server(server) if isinstance(server, str) else server

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
            lambda tx: credentials.promote_token(tx, server.id, new_hash, _now())
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
        now = _now()
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

    def _reader(self) -> Reader:
        if self.store.reader is None:
            raise RuntimeError("ledger is closed")
        return self.store.reader

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
            partial(payments.pay, req=req, rules=self.rules, now=_now()),
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
                now=_now(),
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
        now = _now()
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
            lambda tx: payments.acknowledge(tx, server.id, ids, _now()), locks=(server.id,)
        )

    async def drop_oldest_pending(self, server: Server, count: int) -> int:
        """Acknowledge the ``count`` oldest pending transactions (V2's remove_transactions)."""
        return await self.store.write_light(
            lambda tx: payments.drop_oldest(tx, server.id, count, _now()), locks=(server.id,)
        )

    async def reject(self, server: Server, ids: Iterable[str]) -> int:
        ids = list(ids)
        return await self.store.write_light(
            lambda tx: payments.reject(tx, server.id, ids, _now()), locks=(server.id,)
        )

    # -- accounts -------------------------------------------------------------

    async def change(
        self,
        op: Callable[[WriteTx], T],
        *,
        action: str,
        actor: Actor | None,
        server_id: int | None = None,
        reason: str = "",
        detail: Callable[[T], Any] | None = None,
    ) -> T:
        """Run an operator's change and its audit entry in one transaction."""
        return await self.store.write(
            audited(
                op,
                actor=actor or self.default_actor,
                action=action,
                now=_now(),
                server_id=server_id,
                reason=reason,
                detail=detail,
            )
        )

    async def create_server(
        self,
        name: str,
        *,
        balance: int = 0,
        target_balance: int = 0,
        webhook_url: str | None = None,
        actor: Actor | None = None,
    ) -> tuple[Server, str]:
        """Returns the new server and its token (shown once, stored hashed)."""
        token = new_token()
        url = normalise_webhook_url(webhook_url) if webhook_url else None
        server = await self.change(
            lambda tx: accounts.create_server(
                tx,
                name=name,
                balance=balance,
                target_balance=target_balance,
                token_hash=hash_token(token),
                webhook_url=url,
                now=_now(),
            ),
            action="create-server",
            actor=actor,
        )
        return server, token

    async def adjust_balance(
        self, name: str, delta: int, reason: str, *, actor: Actor | None = None
    ) -> Server:
        server = self.require_server(name)
        return await self.change(
            lambda tx: accounts.adjust_balance(tx, server.id, delta, reason, _now()),
            action="adjust-balance",
            actor=actor,
            server_id=server.id,
            reason=reason,
            detail=lambda _: {"amount": delta},
        )

    async def set_fee(self, server: Server | str, bps: int, *, actor: Actor | None = None) -> None:
        """Set the server's exchange fee in basis points (0 to 10,000; 0 takes nothing)."""
        s = self._resolve(server)
        await self.change(
            lambda tx: accounts.set_fee(tx, s.id, bps, _now()),
            action="set-fee",
            actor=actor,
            server_id=s.id,
        )

    async def set_target_balance(
        self, server: Server | str, cents: int, *, actor: Actor | None = None
    ) -> None:
        s = self._resolve(server)
        await self.change(
            lambda tx: accounts.set_target_balance(tx, s.id, cents, _now()),
            action="set-target-balance",
            actor=actor,
            server_id=s.id,
        )

    async def regenerate_token(
        self, server: Server | str, *, keep_old: bool = True, actor: Actor | None = None
    ) -> str:
        """A new token; with ``keep_old`` the old one works until the new one is used."""
        s = self._resolve(server)
        token = new_token()
        digest = hash_token(token)
        await self.change(
            lambda tx: credentials.rotate_token(tx, s.id, digest, keep_old, _now()),
            action="regenerate-token",
            actor=actor,
            server_id=s.id,
            detail=lambda _: {"old_token_kept_until_first_use": keep_old},
        )
        return token

    async def create_api_key(
        self,
        server: Server,
        scopes: Iterable[str],
        label: str = "",
        *,
        actor: Actor | None = None,
        operator: bool = False,
    ) -> tuple[ApiKey, str]:
        """A new read-only key (returned once, stored hashed).

        ``operator``: asked by the operator (CLI), who alone grants the explorer scope.
        """
        key = new_api_key()
        digest = hash_token(key)
        wanted = frozenset(scopes)
        keys = await self.change(
            lambda tx: credentials.create_api_key(
                tx, server.id, digest, key[:10], wanted, label, _now(), operator
            ),
            action="create-api-key",
            actor=actor,
            server_id=server.id,
            detail=lambda _: {"prefix": key[:10], "scopes": sorted(wanted), "label": label},
        )
        self._set_api_keys(keys)
        return self._api_keys[digest], key

    def api_keys(self, server: Server) -> list[ApiKey]:
        return sorted(
            (k for k in self._api_keys.values() if k.server_id == server.id), key=lambda k: k.id
        )

    async def revoke_api_key(
        self, server: Server, key_id: int, *, actor: Actor | None = None
    ) -> None:
        self._set_api_keys(
            await self.change(
                lambda tx: credentials.revoke_api_key(tx, server.id, key_id, _now()),
                action="revoke-api-key",
                actor=actor,
                server_id=server.id,
                detail=lambda _: {"key_id": key_id},
            )
        )

    async def set_webhook(
        self,
        server: Server | str,
        url: str | None,
        *,
        sign: bool | None = None,
        actor: Actor | None = None,
    ) -> WebhookChange:
        """Normalise and store (or, with None, clear) the webhook URL.

        ``sign``: True makes a fresh signing secret (returned, to be shown once),
        False makes deliveries unsigned, None keeps the secret the server has.
        Clearing the URL drops the secret and any queued notification.
        """
        s = self._resolve(server)
        normalised = normalise_webhook_url(url) if url is not None else None
        fresh = new_signing_secret() if sign else None
        await self.change(
            lambda tx: accounts.set_webhook(
                tx, s.id, normalised, sign=sign, fresh_secret=fresh, now=_now()
            ),
            action="set-webhook" if normalised else "clear-webhook",
            actor=actor,
            server_id=s.id,
        )
        return WebhookChange(normalised, fresh if normalised is not None else None)

    async def rotate_webhook_secret(
        self, server: Server | str, *, actor: Actor | None = None
    ) -> str:
        """Replace the signing secret (starting signing if there was none); returns it.

        The old secret stops at once: later deliveries carry only the new signature.
        ERR_INVALIDREQUEST when the server has no webhook URL.
        """
        s = self._resolve(server)
        secret = new_signing_secret()
        await self.change(
            lambda tx: accounts.set_webhook_secret(tx, s.id, secret, _now()),
            action="rotate-webhook-secret",
            actor=actor,
            server_id=s.id,
        )
        return secret

    async def remove_webhook_secret(
        self, server: Server | str, *, actor: Actor | None = None
    ) -> None:
        """Stop signing deliveries (they become exactly the reference's request)."""
        s = self._resolve(server)
        await self.change(
            lambda tx: accounts.set_webhook_secret(tx, s.id, None, _now()),
            action="remove-webhook-secret",
            actor=actor,
            server_id=s.id,
        )

    async def delete_server(
        self, name: str, *, actor: Actor | None = None, drain_reason: str | None = None
    ) -> None:
        """Delete a server; with ``drain_reason``, first acknowledge what is pending for it
        and move its balance to the issuance account (all in the same transaction)."""
        server = self.require_server(name)

        def run(tx: WriteTx) -> None:
            if drain_reason is not None:
                accounts.drain_to_issuance(tx, server.id, drain_reason, _now())
            accounts.delete_server(tx, server.id, _now())

        await self.change(
            run,
            action="delete-server",
            actor=actor,
            server_id=server.id,
            reason=drain_reason or "",
        )
        self._set_api_keys([k for k in self._api_keys.values() if k.server_id != server.id])

    async def expire_idempotency_keys(self) -> int:
        cutoff = _now() - IDEMPOTENCY_KEEP_SECONDS
        return await self.store.write(lambda tx: tx.idempotency_expire(cutoff))

    # -- backups ---------------------------------------------------------------

    async def import_backup(
        self,
        data: Any,
        *,
        actor: Actor | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> ImportReport:
        """Import a lurkcoin-core backup (parsed list, or its JSON text): all or nothing.

        ``progress(rows_done, rows_total)`` is called from the writer's thread.
        """
        if isinstance(data, (str, bytes)):
            try:
                data = json.loads(data, parse_float=Decimal, parse_constant=_no_constants)
            except ValueError as exc:
                raise BackupError(f"not valid JSON: {exc}") from None
        records, transactions = parse_backup(data)
        return await self.change(
            lambda tx: import_records(tx, records, transactions, _now(), progress),
            action="import",
            actor=actor,
            detail=dataclasses.asdict,
        )

    async def backup_to(
        self, path: str, progress: Callable[[int, int], None] | None = None
    ) -> None:
        """A consistent copy of the live database file at ``path`` (SQLite's online backup).

        Payments go on meanwhile; ``progress(pages_done, pages_total)`` is
        called from a worker thread.
        """
        await self.store.backup_to(path, progress)

    async def export_backup(self) -> str:
        """Every live server in the lurkcoin-core backup format, as JSON text."""
        return "".join([part async for part in self.export_backup_parts()])

    async def export_backup_parts(
        self, batch: int = 2000, progress: Callable[[int], None] | None = None
    ) -> AsyncGenerator[str, None]:
        """The same backup in pieces of at most ``batch`` transactions, from one snapshot.

        Histories and pending queues are read in keyset pages, so memory stays
        flat however long they are (the console and ``lurkcoin export`` stream
        this). ``progress(n)`` is told of each piece's ``n`` transactions.
        """
        async with self._reader().snapshot() as snap:
            first = True
            for server in await snap.servers():
                yield ("[\n" if first else ",\n") + server_json_head(server)
                first = False
                before: int | None = None
                while True:
                    page = await snap.history(server.id, batch, before) or []
                    if page:
                        yield ("," if before is not None else "") + ",".join(
                            transaction_json(t) for t in page
                        )
                        if progress is not None:
                            progress(len(page))
                    if len(page) < batch:
                        break
                    before = page[-1].seq
                yield server_json_pending_start()
                after = 0
                while True:
                    page = await snap.pending(server.id, batch, after_seq=after)
                    if page:
                        yield ("," if after else "") + ",".join(transaction_json(t) for t in page)
                        if progress is not None:
                            progress(len(page))
                    if len(page) < batch:
                        break
                    after = page[-1].seq
                yield server_json_tail(server)
            yield "[\n\n]\n" if first else "\n]\n"

    async def export_size(self) -> int:
        """About how many transactions an export writes now (for its progress)."""
        return await self._reader().export_rows()

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


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not a number")
