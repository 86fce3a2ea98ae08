"""The explorer's statistics and daily history, read from aggregates, never from a scan.

Counts and volumes come from the daily rollup the payment's own transaction
keeps (migration 0004, shared with the admin console); balances and ranks
from the in-memory server cache; circulation on past days from the issuance
account's dated entries; pending work from the partial index of pending
transactions, and on past days from the rollup's pending changes. Figures
"in the last 24 h" are exact: today's rollup row plus a range of the time
index over the part of yesterday within the window (or its complement).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from itertools import accumulate
from typing import TYPE_CHECKING

from lurkcoin.models import DailyTotals, Server
from lurkcoin.store import explorer_reads

if TYPE_CHECKING:
    from lurkcoin.ledger.engine import Ledger

DAY = 86400
# Balance bands of the distribution, in lurkcoins: [0, 1), [1, 10), ... [100000, inf).
BANDS = (0, 1, 10, 100, 1_000, 10_000, 100_000)
ACTIVITY_WINDOWS = (("24h", DAY), ("7d", 7 * DAY), ("30d", 30 * DAY))
ACK_SAMPLE = 2000


@dataclass(frozen=True)
class Health:
    webhook_attempted: int  # servers with a webhook attempt in 24 h
    webhook_succeeded: int
    median_ack_seconds: int | None
    failed_refunds: int
    oldest_pending_age: int | None
    score: float


@dataclass(frozen=True)
class DaySnapshot:
    day: int
    transactions: int
    volume: int
    active_servers: int
    new_servers: int
    circulation: int  # at the end of the day
    pending: int  # transactions awaiting acknowledgement at the end of the day


@dataclass(frozen=True)
class NetworkStats:
    time: int
    servers: list[Server]  # richest first
    last_activity: dict[int, int | None]
    circulation: int
    issued: int
    # Exchange fees collected, less those refunded (the fee account's balance).
    fees_collected: int
    transactions_total: int
    transactions_24h: int
    volume_24h: int
    volume_30d: int
    pending: int
    health: Health
    history: list[DaySnapshot]

    def active_within(self, seconds: int) -> int:
        since = self.time - seconds
        return sum(1 for t in self.last_activity.values() if t is not None and t >= since)


def _linear(value: float, good: float, bad: float) -> float:
    """1 at or below ``good``, 0 at or above ``bad``, linear between."""
    if value <= good:
        return 1.0
    if value >= bad:
        return 0.0
    return (bad - value) / (bad - good)


def health_score(
    webhook_attempted: int,
    webhook_succeeded: int,
    median_ack: int | None,
    oldest_pending_age: int | None,
    failed_refunds: int,
) -> float:
    """0-100: 40 webhook delivery, 25 acknowledgement speed, 25 pending age, 10 refunds.

    - webhooks: the share of servers whose latest delivery attempt in 24 h succeeded
      (full marks when none was attempted);
    - acknowledgement: median seconds from payment to acknowledgement, full marks
      up to 60 s, none from 1 h;
    - pending: age of the oldest pending transaction, full marks up to 5 min, none from 24 h;
    - refunds: 1 / (1 + failed refunds).
    """
    webhooks = webhook_succeeded / webhook_attempted if webhook_attempted else 1.0
    ack = 1.0 if median_ack is None else _linear(median_ack, 60, 3600)
    pending = 1.0 if oldest_pending_age is None else _linear(oldest_pending_age, 300, DAY)
    refunds = 1 / (1 + failed_refunds)
    return round(40 * webhooks + 25 * ack + 25 * pending + 10 * refunds, 1)


async def daily_history(ledger: Ledger, first_day: int, last_day: int) -> list[DaySnapshot]:
    """One snapshot per day from ``first_day`` to ``last_day`` (UTC days since the epoch)."""
    reader = ledger._reader()
    totals = {
        d.day: d for d in await ledger.daily_totals(0, last_day - first_day + 1, today=last_day)
    }
    active = await explorer_reads.active_servers_per_day(reader, first_day, last_day)
    created: dict[int, int] = {}
    for server in ledger.servers():
        created[server.created_at // DAY] = created.get(server.created_at // DAY, 0) + 1
    # Circulation is minus the issuance account's balance, from its dated entries.
    deltas = await explorer_reads.daily_deltas(reader, ledger.store.issuance_id)
    days = [d for d, _ in deltas]
    sums = list(accumulate(delta for _, delta in deltas))
    pending = await explorer_reads.pending_at_day_ends(reader, first_day, last_day)
    snapshots = []
    index = 0
    for day in range(first_day, last_day + 1):
        while index < len(days) and days[index] <= day:
            index += 1
        issued = -sums[index - 1] if index else 0
        row = totals.get(day, DailyTotals(day, 0, 0, 0, 0))
        snapshots.append(
            DaySnapshot(
                day,
                row.sent_count,
                row.sent_volume,
                active.get(day, 0),
                created.get(day, 0),
                issued,
                pending[day - first_day],
            )
        )
    return snapshots


async def network_stats(
    ledger: Ledger, history_days: int = 7, now: int | None = None
) -> NetworkStats:
    """The figures of /api/stats.json at ``now`` (default: the clock)."""
    now = int(time.time()) if now is None else now
    today = now // DAY
    reader = ledger._reader()
    activity = await explorer_reads.server_activity(reader)
    servers = sorted(ledger.servers(), key=lambda s: (-s.balance, s.uid))
    days = await ledger.daily_totals(0, 30, today=today)
    count_24h, volume_24h = await explorer_reads.last_24h(reader, now)
    dashboard = await ledger.dashboard()
    attempted, succeeded = await explorer_reads.webhook_outcomes(reader, now - DAY)
    delays = await explorer_reads.acknowledgement_delays(reader, ACK_SAMPLE)
    median = delays[len(delays) // 2] if delays else None
    oldest_age = None if dashboard.oldest_pending is None else now - dashboard.oldest_pending
    return NetworkStats(
        time=now,
        servers=servers,
        last_activity={s.id: activity.get(s.id, (0, None))[1] for s in servers},
        circulation=sum(s.balance for s in servers),
        issued=ledger.issued(),
        fees_collected=ledger.fees_collected(),
        transactions_total=(await ledger.all_time_totals(0)).sent_count,
        transactions_24h=count_24h,
        volume_24h=volume_24h,
        volume_30d=sum(d.sent_volume for d in days),
        pending=dashboard.pending,
        health=Health(
            attempted,
            succeeded,
            median,
            dashboard.failed_refunds,
            oldest_age,
            health_score(attempted, succeeded, median, oldest_age, dashboard.failed_refunds),
        ),
        history=await daily_history(ledger, today - history_days + 1, today),
    )
