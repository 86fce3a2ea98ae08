"""What every part of the Ledger shares: its parts, the audited change and the read connection.

The Ledger is assembled from focused parts (lurkcoin.ledger.engine's payments
and reads, account_changes, backup_ops, console, onboarding), each a class
over this base, so each part sees the same attributes and the one door to the
writer for an operator's change.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from lurkcoin.core.errors import LurkcoinError
from lurkcoin.ledger.audit import Actor, audited
from lurkcoin.models import ApiKey, Server

if TYPE_CHECKING:
    from lurkcoin.config import Config
    from lurkcoin.ledger.cache import ServerCache
    from lurkcoin.ledger.payments import Rules
    from lurkcoin.store.reads import Reader
    from lurkcoin.store.sqlite import SqliteStore
    from lurkcoin.store.writes import WriteTx

T = TypeVar("T")


def unix_now() -> int:
    """The time every change records, in whole seconds.

    Called as ``base.unix_now()`` everywhere, so a test can move the ledger's
    clock in this one place.
    """
    return int(time.time())


class LedgerBase:
    config: Config
    rules: Rules
    store: SqliteStore
    cache: ServerCache
    # Whom the audit log names for a change made without an explicit actor.
    default_actor: Actor
    _api_keys: dict[bytes, ApiKey]

    def _reader(self) -> Reader:
        if self.store.reader is None:
            raise RuntimeError("ledger is closed")
        return self.store.reader

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
                now=unix_now(),
                server_id=server_id,
                reason=reason,
                detail=detail,
            )
        )

    def require_server(self, name: str) -> Server:
        server = self.cache.by_name(name)
        if server is None:
            raise LurkcoinError("ERR_SERVERNOTFOUND")
        return server

    def _resolve(self, server: Server | str) -> Server:
        return self.require_server(server) if isinstance(server, str) else server

    def _set_api_keys(self, keys: list[ApiKey]) -> None:
        self._api_keys = {k.key_hash: k for k in keys}
