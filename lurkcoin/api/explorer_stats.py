"""/api/stats.json and /api/history.json: the network at a glance and day by day.

Both are public aggregates (no player names), computed by
lurkcoin.ledger.explorer_stats from the daily rollup and the server cache.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from lurkcoin.api.app_keys import LEDGER_KEY
from lurkcoin.api.explorer_http import PUBLIC_CACHE
from lurkcoin.api.explorer_params import invalid, moment, read_query
from lurkcoin.api.jsonout import Money
from lurkcoin.api.replies import success
from lurkcoin.ledger.explorer_stats import (
    BANDS,
    DAY,
    DaySnapshot,
    NetworkStats,
    daily_history,
    network_stats,
)

MAX_DAYS = 366
DEFAULT_DAYS = 30
RICHEST = 10


def _decimal(value: float) -> Money:
    """A ratio or score as an exact number with two decimals (our JSON writes no floats)."""
    return Money(round(value * 100))


def snapshot_object(s: DaySnapshot) -> dict[str, Any]:
    return {
        "date": datetime.fromtimestamp(s.day * DAY, UTC).strftime("%Y-%m-%d"),
        "time": s.day * DAY,
        "transactions": s.transactions,
        "volume": Money(s.volume),
        "active_servers": s.active_servers,
        "new_servers": s.new_servers,
        "circulation": Money(s.circulation),
        "pending": s.pending,
    }


def _bands(stats: NetworkStats) -> list[dict[str, Any]]:
    bands = []
    for index, low in enumerate(BANDS):
        high = BANDS[index + 1] if index + 1 < len(BANDS) else None
        count = sum(
            1
            for s in stats.servers
            if s.balance >= low * 100 and (high is None or s.balance < high * 100)
        )
        bands.append(
            {
                "min": Money(low * 100),
                "max": None if high is None else Money(high * 100),
                "servers": count,
            }
        )
    return bands


def _activity(stats: NetworkStats) -> dict[str, int]:
    """Servers by their newest transaction: within 24 h, 7 d, 30 d, earlier, never."""
    buckets = {"24h": 0, "7d": 0, "30d": 0, "older": 0, "never": 0}
    for last in stats.last_activity.values():
        if last is None:
            buckets["never"] += 1
            continue
        age = stats.time - last
        key = next(
            (
                name
                for name, span in (("24h", DAY), ("7d", 7 * DAY), ("30d", 30 * DAY))
                if age <= span
            ),
            "older",
        )
        buckets[key] += 1
    return buckets


def stats_object(stats: NetworkStats) -> dict[str, Any]:
    health = stats.health
    fixed = sum(1 for s in stats.servers if s.target_balance <= 0)
    return {
        "time": stats.time,
        "servers": {
            "total": len(stats.servers),
            "active_24h": stats.active_within(DAY),
            "active_7d": stats.active_within(7 * DAY),
            "active_30d": stats.active_within(30 * DAY),
        },
        "circulation": Money(stats.circulation),
        "issued": Money(stats.issued),
        "fees_collected": Money(stats.fees_collected),
        "transactions": {"total": stats.transactions_total, "last_24h": stats.transactions_24h},
        "volume": {"last_24h": Money(stats.volume_24h), "last_30d": Money(stats.volume_30d)},
        "pending": {"count": stats.pending, "oldest_age": health.oldest_pending_age},
        "richest": [
            {"rank": rank, "name": s.name, "uid": s.uid, "balance": Money(s.balance)}
            for rank, s in enumerate(stats.servers[:RICHEST], 1)
        ],
        "distributions": {
            "balance_bands": _bands(stats),
            "exchange_rates": {"fixed": fixed, "floating": len(stats.servers) - fixed},
            "activity": _activity(stats),
        },
        "network_health": {
            "webhook_deliveries_24h": health.webhook_attempted,
            "webhook_success_24h": None
            if not health.webhook_attempted
            else _decimal(health.webhook_succeeded / health.webhook_attempted),
            "median_acknowledgement_seconds": health.median_ack_seconds,
            "failed_refunds": health.failed_refunds,
            "health_score": _decimal(health.score),
        },
        "historical_data": [snapshot_object(s) for s in stats.history],
    }


async def stats(request: web.Request) -> web.StreamResponse:
    read_query(request, {})
    result = stats_object(await network_stats(request.app[LEDGER_KEY]))
    response = success(result)
    response.headers["Cache-Control"] = PUBLIC_CACHE
    return response


async def history(request: web.Request) -> web.StreamResponse:
    """Daily snapshots from ``since`` to ``until`` (default: the last 30 days), 366 at most."""
    values = read_query(request, {"since": moment, "until": moment})
    today = int(time.time()) // DAY
    last = values["until"] // DAY if "until" in values else today
    first = values["since"] // DAY if "since" in values else last - DEFAULT_DAYS + 1
    if first > last:
        raise invalid("since", "must not be later than until")
    if last - first + 1 > MAX_DAYS:
        raise invalid("since", f"the range is at most {MAX_DAYS} days, got {last - first + 1}")
    snapshots = await daily_history(request.app[LEDGER_KEY], first, last)
    response = success({"days": [snapshot_object(s) for s in snapshots]})
    response.headers["Cache-Control"] = PUBLIC_CACHE
    return response
