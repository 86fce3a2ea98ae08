"""The public, read-only view of the ledger that the explorer API and page show.

Transaction lists are keyset walks over the indexes of migration 0004
(lurkcoin.store.explorer_reads): a filter on one side (source or target
server, source or target user) drives its own index; "either side" filters
walk both sides' indexes and merge them. Server rows come from the in-memory
server cache plus two cheap queries per listing: pending counts and last
activity (index ranges), transaction counts (the daily rollup).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lurkcoin.core.errors import LurkcoinError
from lurkcoin.models import Server, Transaction
from lurkcoin.store import explorer_reads

# Position is also the API's: cursors encode one (lurkcoin.api.explorer_cursor).
from lurkcoin.store.explorer_reads import Position as Position
from lurkcoin.store.explorer_reads import (
    ScanResult,
    Side,
    SortKey,
    TransactionFilter,
    position,
)

if TYPE_CHECKING:
    from lurkcoin.ledger.engine import Ledger

# Index entries one scan may read beyond the rows it is asked for, when some
# filter is checked row by row: bounds a request's work however sparse the
# filter (a page may then come back short, with a cursor to go on).
SCAN_SLACK = 5000
ONE_LURKCOIN = 100  # cents


@dataclass(frozen=True)
class TransactionSearch:
    """Filters as the client gives them (server names, not ids)."""

    server: str | None = None
    source_server: str | None = None
    target_server: str | None = None
    user: str | None = None
    source: str | None = None
    target: str | None = None
    min_amount: int | None = None
    max_amount: int | None = None
    status: str | None = None
    since: int | None = None
    until: int | None = None


@dataclass(frozen=True)
class TransactionPage:
    rows: list[Transaction]
    next: Position | None  # go on after this position (None: nothing more)
    prev: Position | None  # go back before this position (None: nothing before)


@dataclass(frozen=True)
class ServerRow:
    server: Server
    rank: int  # by balance, 1 = richest
    pending_count: int
    transaction_count: int  # as many as its /v3/history shows
    last_activity: int | None
    to_local: int | None  # one lurkcoin in the server's currency (cents), None if unpriceable
    to_lurkcoin: int | None  # one unit of its currency in lurkcoin cents

    @property
    def fixed_rate(self) -> bool:
        return self.server.target_balance <= 0


def _rank(p: Position, descending: bool) -> tuple[int, int]:
    """Order of positions along a walk (smaller comes first)."""
    return (-p[0], -p[1]) if descending else p


def _sides(f: TransactionFilter, sort: SortKey) -> list[Side]:
    if sort == "amount":
        return [Side(None, None)]
    for column in ("source_server_id", "target_server_id", "source", "target"):
        value = getattr(f, column)
        if value is not None:
            return [Side(column, value)]
    if f.server_id is not None:
        return [
            Side("source_server_id", f.server_id, either=True),
            Side("target_server_id", f.server_id, either=True),
        ]
    if f.user is not None:
        return [Side("source", f.user, either=True), Side("target", f.user, either=True)]
    return [Side(None, None)]


class Explorer:
    """Read-only queries for the public explorer; nothing here writes."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def resolve(self, search: TransactionSearch) -> TransactionFilter | None:
        """Server names to ids; None when a named server does not exist (nothing matches)."""
        ids: dict[str, int | None] = {}
        for field in ("server", "source_server", "target_server"):
            name = getattr(search, field)
            if name is None:
                ids[field] = None
                continue
            server = self._ledger.server(name)
            if server is None:
                return None
            ids[field] = server.id
        return TransactionFilter(
            server_id=ids["server"],
            source_server_id=ids["source_server"],
            target_server_id=ids["target_server"],
            user=search.user,
            source=search.source,
            target=search.target,
            min_amount=search.min_amount,
            max_amount=search.max_amount,
            status=search.status,
            since=search.since,
            until=search.until,
        )

    async def _walk(
        self,
        f: TransactionFilter,
        sort: SortKey,
        descending: bool,
        after: Position | None,
        skip: int,
        limit: int,
    ) -> tuple[list[Transaction], Position | None]:
        """``limit`` rows after ``skip`` matches from ``after``, and where to go on from."""
        wanted = skip + limit
        reader = self._ledger._reader()
        sides = _sides(f, sort)
        if skip and after is None and len(sides) == 1 and explorer_reads.exact(f, sort, sides[0]):
            # One index answers everything: SQLite steps over the offset in the
            # index itself, without building the skipped rows.
            found = await explorer_reads.scan(
                reader,
                f,
                sort,
                sides[0],
                descending=descending,
                after=None,
                want=limit + 1,
                budget=limit + 1,
                skip=skip,
            )
            rows = found.rows[:limit]
            more = len(found.rows) > limit
            return rows, position(rows[-1], sort) if more and rows else None
        results: list[ScanResult] = [
            await explorer_reads.scan(
                reader,
                f,
                sort,
                side,
                descending=descending,
                after=after,
                want=wanted + 1,
                budget=wanted + 1 + SCAN_SLACK,
            )
            for side in sides
        ]
        frontiers = [r.frontier for r in results if r.frontier is not None]
        boundary = min(frontiers, key=lambda p: _rank(p, descending)) if frontiers else None
        merged: dict[int, Transaction] = {}
        for result in results:
            for row in result.rows:
                merged[row.seq] = row  # a self-payment shows on both sides once
        candidates = sorted(merged.values(), key=lambda t: _rank(position(t, sort), descending))
        if boundary is not None:
            limit_rank = _rank(boundary, descending)
            candidates = [
                t for t in candidates if _rank(position(t, sort), descending) <= limit_rank
            ]
        rows = candidates[skip:wanted]
        if len(candidates) >= wanted:
            more = len(candidates) > wanted or boundary is not None
            return rows, position(candidates[wanted - 1], sort) if more else None
        return rows, boundary

    async def transactions(
        self,
        search: TransactionSearch,
        *,
        sort: SortKey = "time",
        descending: bool = True,
        limit: int = 100,
        offset: int = 0,
        after: Position | None = None,
        before: Position | None = None,
    ) -> TransactionPage:
        """One page: from the start (skipping ``offset``), after a position, or before one."""
        f = self.resolve(search)
        if f is None:
            return TransactionPage([], None, None)
        if before is not None:
            rows, more = await self._walk(f, sort, not descending, before, 0, limit)
            rows.reverse()
            return TransactionPage(rows, position(rows[-1], sort) if rows else None, more)
        rows, more = await self._walk(f, sort, descending, after, offset, limit)
        starts_later = after is not None or offset > 0
        return TransactionPage(
            rows, more, position(rows[0], sort) if rows and starts_later else None
        )

    async def transaction(self, txn_id: str) -> Transaction | None:
        return await self._ledger.transaction(txn_id)

    async def recent(self, server: Server, limit: int) -> list[Transaction]:
        return await self._ledger.history(server, limit)

    def _rate(self, source: str, target: str) -> int | None:
        try:
            # The bare rate: the fee is shown beside it (fee_bps).
            return self._ledger.quote(source, target, ONE_LURKCOIN, with_fee=False)
        except LurkcoinError:  # a rate the formula cannot give for this balance
            return None

    async def server_rows(self) -> list[ServerRow]:
        """Every live game server, ranked by balance (richest first, then by name)."""
        reader = self._ledger._reader()
        activity = await explorer_reads.server_activity(reader)
        counts = await explorer_reads.transaction_counts(reader)
        servers = sorted(self._ledger.servers(), key=lambda s: (-s.balance, s.uid))
        return [
            ServerRow(
                server=s,
                rank=rank,
                pending_count=activity.get(s.id, (0, None))[0],
                transaction_count=counts.get(s.id, 0),
                last_activity=activity.get(s.id, (0, None))[1],
                to_local=self._rate("", s.name),
                to_lurkcoin=self._rate(s.name, ""),
            )
            for rank, s in enumerate(servers, 1)
        ]

    def server(self, name: str) -> Server | None:
        return self._ledger.server(name)
