"""Backups of the whole ledger: lurkcoin-core's JSON format in and out, and SQLite copies.

An import is one audited transaction (all or nothing); an export streams one
snapshot in keyset pages, so memory stays flat however large the ledger is.
"""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from typing import Any, AsyncGenerator, Callable

from lurkcoin.ledger import base
from lurkcoin.ledger.audit import Actor
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
from lurkcoin.ledger.base import LedgerBase


class BackupOps(LedgerBase):
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
            lambda tx: import_records(tx, records, transactions, base.unix_now(), progress),
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


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not a number")
