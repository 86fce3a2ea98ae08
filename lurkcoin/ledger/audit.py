"""The audit log: who changed what, written in the same transaction as the change.

Each entry's hash covers the previous entry's hash and its own fields, so
editing, inserting or deleting an entry in the database breaks the chain at
that entry; ``verify`` walks the chain and names the first entry that does not
fit. (Removing the newest entries leaves a shorter, valid chain: keep backups,
or compare the head hash with one noted elsewhere.)
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from lurkcoin.models import AuditEntry, Server
from lurkcoin.store import console as sql
from lurkcoin.store.writes import WriteTx

T = TypeVar("T")


@dataclass(frozen=True)
class Actor:
    """Who makes a change and from where (an admin account and its address, or the CLI)."""

    who: str
    address: str

    @classmethod
    def local(cls) -> Actor:
        """The operator running a ``lurkcoin`` command on this machine."""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry (containers)
            user = f"uid {os.getuid()}"
        return cls(f"cli:{user}", "local")


def entry_hash(
    prev_hash: str,
    id: int,
    at: int,
    actor: str,
    address: str,
    action: str,
    subject: str,
    before: str | None,
    after: str | None,
    reason: str,
) -> str:
    fields = [prev_hash, id, at, actor, address, action, subject, before, after, reason]
    text = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def server_state(server: Server | None) -> dict[str, Any] | None:
    """What an operator may change about a server, without any secret."""
    if server is None:
        return None
    return {
        "name": server.name,
        "balance": server.balance,
        "target_balance": server.target_balance,
        "fee_bps": server.fee_bps,
        "webhook_url": server.webhook_url,
        "signed": server.webhook_secret is not None,
        # A few hex digits of the token's hash tell a rotation apart, no more.
        "token": server.token_hash.hex()[:8] if server.token_hash else None,
        "new_token_waiting": server.next_token_hash is not None,
    }


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def record(
    tx: WriteTx,
    actor: Actor,
    action: str,
    subject: str,
    before: Any,
    after: Any,
    reason: str,
    now: int,
) -> AuditEntry:
    """Append one entry to the chain, inside the caller's transaction."""
    entry_id, prev = sql.audit_head(tx)
    b, a = _json(before), _json(after)
    digest = entry_hash(
        prev, entry_id, now, actor.who, actor.address, action, subject, b, a, reason
    )
    entry = AuditEntry(
        entry_id, now, actor.who, actor.address, action, subject, b, a, reason, prev, digest
    )
    sql.insert_audit(tx, entry)
    return entry


def audited(
    op: Callable[[WriteTx], T],
    *,
    actor: Actor,
    action: str,
    now: int,
    server_id: int | None = None,
    reason: str = "",
    detail: Callable[[T], Any] | None = None,
) -> Callable[[WriteTx], T]:
    """``op`` plus its audit entry: the server's state before and after, in one transaction.

    Without ``server_id`` the subject is the server ``op`` returns (a creation).
    ``detail(result)`` adds what the server's state does not show (ids, counts).
    """

    def run(tx: WriteTx) -> T:
        before = tx.server_by_id(server_id) if server_id is not None else None
        result = op(tx)
        subject_id = server_id
        if subject_id is None and isinstance(result, Server):
            subject_id = result.id
        after_server = tx.server_by_id(subject_id) if subject_id is not None else None
        after: dict[str, Any] | None = server_state(after_server)
        if detail is not None:
            after = {**(after or {}), "detail": detail(result)}
        named = before or after_server
        subject = named.name if named is not None else ""
        record(tx, actor, action, subject, server_state(before), after, reason, now)
        return result

    return run


@dataclass(frozen=True)
class ChainBreak:
    entry_id: int
    why: str


async def verify(entries: AsyncIterator[AuditEntry]) -> tuple[int, list[ChainBreak]]:
    """Walk the chain oldest first: (entries seen, every entry that does not fit)."""
    prev, expected_id, seen, breaks = sql.GENESIS_HASH, 1, 0, []
    async for e in entries:
        seen += 1
        if e.id != expected_id:
            breaks.append(ChainBreak(e.id, f"expected entry #{expected_id} here (one removed?)"))
        if e.prev_hash != prev:
            breaks.append(ChainBreak(e.id, "does not chain to the entry before it"))
        recomputed = entry_hash(
            e.prev_hash,
            e.id,
            e.at,
            e.actor,
            e.address,
            e.action,
            e.subject,
            e.before,
            e.after,
            e.reason,
        )
        if recomputed != e.hash:
            breaks.append(ChainBreak(e.id, "its contents do not match its hash (edited?)"))
        prev, expected_id = e.hash, e.id + 1
    return seen, breaks
