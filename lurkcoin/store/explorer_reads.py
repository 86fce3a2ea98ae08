"""The explorer's read queries: filtered transaction scans and per-server counts.

Every transaction query walks ONE index (migration 0004) in the order of the
page, from a keyset position, so its cost depends on the page size, never on
the size of the ledger. Filters the index does not cover are checked on the
rows the index yields; to keep a sparse filter from turning into a long scan,
a scan reads at most ``budget`` index entries and reports where it stopped
(its *frontier*): the caller then answers a short page whose cursor goes on
from there.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from typing import Literal

from lurkcoin.models import Transaction
from lurkcoin.store.reads import Reader
from lurkcoin.store.rows import TRANSACTION_COLUMNS, transaction_from_row

SortKey = Literal["time", "amount"]
# A place in a scan: (the sort column's value, seq).
Position = tuple[int, int]

# Which index drives a scan, by its equality column (None: the sort column alone).
_TIME_INDEXES = {
    None: "transactions_time",
    "source_server_id": "transactions_source_server_time",
    "target_server_id": "transactions_target_server_time",
    "source": "transactions_source_time",
    "target": "transactions_target_time",
}
_AMOUNT_INDEX = "transactions_amount"


@dataclass(frozen=True)
class TransactionFilter:
    """What the explorer's transaction list may be filtered by (servers as row ids)."""

    server_id: int | None = None  # either side
    source_server_id: int | None = None
    target_server_id: int | None = None
    user: str | None = None  # either side
    source: str | None = None
    target: str | None = None
    min_amount: int | None = None
    max_amount: int | None = None
    status: str | None = None
    since: int | None = None
    until: int | None = None


@dataclass(frozen=True)
class Side:
    """One index scan: its equality column and value (or none).

    ``either``: the side of an either-side filter (server, user), which the
    two sides' scans answer together.
    """

    column: str | None
    value: int | str | None
    either: bool = False


@dataclass(frozen=True)
class ScanResult:
    rows: list[Transaction]
    # Everything up to here (inclusive, in scan order) was seen; None: the
    # scan reached the end of its range.
    frontier: Position | None


def position(t: Transaction, sort: SortKey) -> Position:
    return (t.time if sort == "time" else t.amount, t.seq)


def _residuals(f: TransactionFilter, sort: SortKey, side: Side) -> tuple[list[str], list[object]]:
    """Conditions the driving index does not answer itself."""
    conds: list[str] = []
    params: list[object] = []

    def add(cond: str, *values: object) -> None:
        conds.append(cond)
        params.extend(values)

    for column in ("source_server_id", "target_server_id", "source", "target"):
        value = getattr(f, column)
        if value is not None and (side.column != column or side.either):
            add(f"{column} = ?", value)
    either_server = side.either and side.column in ("source_server_id", "target_server_id")
    if f.server_id is not None and not either_server:
        add("(source_server_id = ? OR target_server_id = ?)", f.server_id, f.server_id)
    either_user = side.either and side.column in ("source", "target")
    if f.user is not None and not either_user:
        add("(source = ? OR target = ?)", f.user, f.user)
    if f.status is not None:
        add("status = ?", f.status)
    if sort == "time":
        if f.min_amount is not None:
            add("amount >= ?", f.min_amount)
        if f.max_amount is not None:
            add("amount <= ?", f.max_amount)
    else:
        if f.since is not None:
            add("time >= ?", f.since)
        if f.until is not None:
            add("time <= ?", f.until)
    return conds, params


def exact(f: TransactionFilter, sort: SortKey, side: Side) -> bool:
    """Whether the side's index answers every filter (nothing is checked row by row)."""
    return not _residuals(f, sort, side)[0]


def _segments(
    f: TransactionFilter, sort: SortKey, side: Side, descending: bool, after: Position | None
) -> tuple[str, list[tuple[list[str], list[object]]], str]:
    """The index, the seeks of one side's scan (conditions and parameters), and its ORDER BY.

    After a position (k, seq) the scan is two exact index seeks: the rest of
    k's ties (k = ? AND seq beyond), then the values beyond k. A row-value
    comparison would make SQLite seek on k alone and step over every tie
    (a thousand rows share each second of a busy ledger).
    """
    conds: list[str] = []
    params: list[object] = []
    if sort == "time":
        index = _TIME_INDEXES[side.column]
        low, high = f.since, f.until
    else:
        index = _AMOUNT_INDEX
        low, high = f.min_amount, f.max_amount
    if side.column is not None:
        conds.append(f"{side.column} = ?")
        params.append(side.value)
    if low is not None:
        conds.append(f"{sort} >= ?")
        params.append(low)
    if high is not None:
        conds.append(f"{sort} <= ?")
        params.append(high)
    direction = "DESC" if descending else "ASC"
    order = f"{sort} {direction}, seq {direction}"
    if after is None:
        return index, [(conds, params)], order
    beyond = "<" if descending else ">"
    ties = (conds + [f"{sort} = ?", f"seq {beyond} ?"], params + [after[0], after[1]])
    rest = (conds + [f"{sort} {beyond} ?"], params + [after[0]])
    return index, [ties, rest], order


def _where(conds: list[str]) -> str:
    return " WHERE " + " AND ".join(conds) if conds else ""


async def scan(
    reader: Reader,
    f: TransactionFilter,
    sort: SortKey,
    side: Side,
    *,
    descending: bool,
    after: Position | None,
    want: int,
    budget: int,
    skip: int = 0,
) -> ScanResult:
    """Up to ``want`` matching transactions after ``after``, reading at most ``budget`` entries.

    ``skip``: matches to pass over first, in SQL (only for a scan that
    checks nothing row by row, from the start: see :func:`exact`).
    """
    index, segments, order = _segments(f, sort, side, descending, after)
    residual, residual_params = _residuals(f, sort, side)
    if skip and (residual or after is not None):
        raise ValueError("skip needs an exact scan from the start")
    rows: list[Transaction] = []
    for conds, params in segments:
        source = f"transactions INDEXED BY {index}{_where(conds)}"
        if not residual:
            found = await reader.rows(
                f"SELECT {TRANSACTION_COLUMNS} FROM {source} ORDER BY {order} LIMIT ? OFFSET ?",
                (*params, want - len(rows), skip),
            )
            rows += [transaction_from_row(r) for r in found]
            if len(rows) == want:
                return ScanResult(rows, position(rows[-1], sort))
            continue
        found = await reader.rows(
            f"SELECT {TRANSACTION_COLUMNS} FROM transactions WHERE seq IN "
            f"(SELECT seq FROM {source} ORDER BY {order} LIMIT ?)"
            f" AND {' AND '.join(residual)} ORDER BY {order} LIMIT ?",
            (*params, budget, *residual_params, want - len(rows)),
        )
        rows += [transaction_from_row(r) for r in found]
        if len(rows) == want:
            return ScanResult(rows, position(rows[-1], sort))
        # Fewer than wanted: either the seek's range ended or the budget ran out first.
        last = await reader.rows(
            f"SELECT {sort}, seq FROM {source} ORDER BY {order} LIMIT 1 OFFSET ?",
            (*params, budget - 1),
        )
        if last:
            return ScanResult(rows, (int(last[0][0]), int(last[0][1])))
    return ScanResult(rows, None)


async def server_activity(reader: Reader) -> dict[int, tuple[int, int | None]]:
    """Per live server: (pending count, time of its newest transaction or None).

    One index range scan per server on each side: the pending partial index
    and the newest entry of its history.
    """
    found = await reader.rows(
        "SELECT s.id, "
        "(SELECT COUNT(*) FROM transactions p INDEXED BY transactions_pending "
        "WHERE p.target_server_id = s.id AND p.status = 'pending'), "
        "(SELECT t.time FROM history h JOIN transactions t ON t.seq = h.seq "
        "WHERE h.server_id = s.id ORDER BY h.pos DESC LIMIT 1) "
        "FROM servers s WHERE s.kind = 'server' AND s.deleted_at IS NULL"
    )
    return {int(r[0]): (int(r[1]), None if r[2] is None else int(r[2])) for r in found}


async def transaction_counts(reader: Reader) -> dict[int, int]:
    """Per server: how many transactions its history shows, from the daily rollup.

    A self-payment is in both its sent and its received count but once in the
    history, hence ``- self_count``. The cost grows with the rollup's rows
    (servers times active days), not with the number of transactions.
    """
    found = await reader.rows(
        "SELECT server_id, SUM(sent_count + received_count - self_count) FROM daily_rollup "
        "WHERE server_id <> 0 GROUP BY server_id"
    )
    return {int(r[0]): int(r[1]) for r in found}


# -- statistics: each read is bounded by servers, days or a fixed sample ---------------


DAY = 86400


async def last_24h(reader: Reader, now: int) -> tuple[int, int]:
    """(count, volume) of the transactions made in the 86,400 seconds up to ``now``.

    Exact: today's rollup row, plus yesterday's transactions inside the window
    read by a range of the time index. That range is the part of yesterday
    inside the window or, when shorter, the part outside it taken off
    yesterday's whole row, so it never covers more than half a day. One
    statement, so the rollup and the range see the same commits.
    """
    today = now // DAY
    start = now - DAY + 1  # the window's first second
    inside = today * DAY - start
    if inside <= DAY - inside:
        days, low, high, sign = (today, today), start, today * DAY, 1
    else:
        days, low, high, sign = (today - 1, today), (today - 1) * DAY, start, -1
    rows = await reader.rows(
        "SELECT d.n, d.v, r.n, r.v FROM "
        "(SELECT COALESCE(SUM(sent_count), 0) AS n, COALESCE(SUM(sent_volume), 0) AS v "
        "FROM daily_rollup WHERE server_id = 0 AND day BETWEEN ? AND ?) AS d, "
        "(SELECT COUNT(*) AS n, COALESCE(SUM(amount), 0) AS v "
        "FROM transactions INDEXED BY transactions_time WHERE time >= ? AND time < ?) AS r",
        (*days, low, high),
    )
    days_count, days_volume, range_count, range_volume = (int(v) for v in rows[0])
    return days_count + sign * range_count, days_volume + sign * range_volume


async def pending_at_day_ends(reader: Reader, first_day: int, last_day: int) -> list[int]:
    """Transactions pending at the end of each day from ``first_day`` to ``last_day``.

    The sum of the rollup's pending_change (all-servers rows) up to each day:
    one row per day the ledger has seen, never a scan of the transactions.
    """
    # Row -1: the sum before the range; then the range's days.
    rows = await reader.rows(
        "SELECT -1, COALESCE(SUM(pending_change), 0) FROM daily_rollup "
        "WHERE server_id = 0 AND day < ? "
        "UNION ALL SELECT day, pending_change FROM daily_rollup "
        "WHERE server_id = 0 AND day BETWEEN ? AND ? ORDER BY 1",
        (first_day, first_day, last_day),
    )
    pending = int(rows[0][1])
    changes = {int(r[0]): int(r[1]) for r in rows[1:]}
    ends = []
    for day in range(first_day, last_day + 1):
        pending += changes.get(day, 0)
        ends.append(pending)
    return ends


async def webhook_outcomes(reader: Reader, since: float) -> tuple[int, int]:
    """(servers whose last webhook attempt was after ``since``, how many of those succeeded)."""
    rows = await reader.rows(
        "SELECT COUNT(*), COUNT(*) FILTER (WHERE last_error IS NULL) FROM webhook_state "
        "WHERE last_attempt_at >= ?",
        (since,),
    )
    return int(rows[0][0]), int(rows[0][1])


async def acknowledgement_delays(reader: Reader, sample: int) -> list[int]:
    """Seconds from payment to acknowledgement among the newest ``sample`` transactions."""
    rows = await reader.rows(
        "SELECT t.processed_at - t.time FROM (SELECT seq FROM transactions INDEXED BY "
        "transactions_time ORDER BY time DESC, seq DESC LIMIT ?) s "
        "JOIN transactions t ON t.seq = s.seq "
        "WHERE t.status = 'acknowledged' AND t.processed_at IS NOT NULL",
        (sample,),
    )
    return sorted(max(0, int(r[0])) for r in rows)


async def active_servers_per_day(reader: Reader, first_day: int, last_day: int) -> dict[int, int]:
    """Servers with a transaction on each day, from the daily rollup (one row per server-day)."""
    rows = await reader.rows(
        "SELECT day, COUNT(*) FROM daily_rollup WHERE server_id <> 0 AND day BETWEEN ? AND ? "
        "GROUP BY day",
        (first_day, last_day),
    )
    return {int(r[0]): int(r[1]) for r in rows}


async def daily_deltas(reader: Reader, server_id: int) -> list[tuple[int, int]]:
    """(day, sum of the account's entries that day) for every day it changed, oldest first.

    For the issuance account: one entry per operator adjustment or opening
    balance, so this is short whatever the number of payments.
    """
    rows = await reader.rows(
        "SELECT time / 86400, SUM(delta) FROM entries INDEXED BY entries_server_time "
        "WHERE server_id = ? GROUP BY time / 86400 ORDER BY 1",
        (server_id,),
    )
    return [(int(r[0]), int(r[1])) for r in rows]


def newest_positions(path: str, depth: int) -> tuple[str | None, Position | None]:
    """For the bench: the newest transaction's id, and the (time, seq) ``depth`` rows back.

    Synchronous and run once before measuring; the OFFSET walks the time
    index, which takes a fraction of a second at 10 million rows.
    """
    with contextlib.closing(sqlite3.connect(path)) as conn:
        newest = conn.execute(
            "SELECT id FROM transactions INDEXED BY transactions_time "
            "ORDER BY time DESC, seq DESC LIMIT 1"
        ).fetchone()
        deep = conn.execute(
            "SELECT time, seq FROM transactions INDEXED BY transactions_time "
            "ORDER BY time DESC, seq DESC LIMIT 1 OFFSET ?",
            (depth,),
        ).fetchone()
    return (
        None if newest is None else str(newest[0]),
        None if deep is None else (int(deep[0]), int(deep[1])),
    )
