"""/api/stats.json and /api/history.json: figures from the rollup agree with the transactions."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from explorer_helpers import BASE_TIME, Api, fill
from live_server import StartServer, make_config

from lurkcoin.ledger.explorer_stats import health_score

DAY = 86400


@pytest.fixture
async def api(serve: StartServer, tmp_path: Path) -> AsyncIterator[Api]:
    config = make_config(tmp_path / "stats.db", formula="integral")
    config.explorer.public_transactions = True
    config.explorer.rate_limit = 1_000_000
    server = await serve(config)
    await fill(server.ledger)
    async with aiohttp.ClientSession() as session:
        yield Api(server, session)


async def test_stats_agree_with_the_ledger(api: Api) -> None:
    everything = await api.walk(limit=500)
    pending = await api.walk(limit=500, status="pending")
    today = [t for t in everything if t["time"] >= int(time.time()) // DAY * DAY]
    stats = await api.ok("/api/stats.json")
    servers = (await api.ok("/api/servers.json"))["servers"]

    assert stats["servers"] == {"total": 3, "active_24h": 3, "active_7d": 3, "active_30d": 3}
    assert stats["transactions"] == {"total": len(everything), "last_24h": len(today)}
    assert stats["volume"]["last_24h"] == pytest.approx(sum(t["amount"] for t in today))
    assert stats["pending"]["count"] == len(pending) > 0
    assert stats["circulation"] == pytest.approx(sum(s["balance"] for s in servers))
    assert stats["issued"] == stats["circulation"]  # every cent came from opening balances
    assert [r["name"] for r in stats["richest"]] == [s["name"] for s in servers]
    distributions = stats["distributions"]
    assert sum(b["servers"] for b in distributions["balance_bands"]) == 3
    assert distributions["exchange_rates"] == {"fixed": 1, "floating": 2}
    assert distributions["activity"]["24h"] == 3
    health = stats["network_health"]
    assert health["median_acknowledgement_seconds"] is not None
    assert health["failed_refunds"] == 0 and health["webhook_success_24h"] is None
    assert 0 <= health["health_score"] <= 100
    history = stats["historical_data"]
    assert len(history) == 7
    assert history[-1]["transactions"] == len(today)
    assert history[-1]["circulation"] == pytest.approx(stats["circulation"])


async def test_a_payment_moves_the_statistics_at_once(api: Api) -> None:
    before = await api.ok("/api/stats.json")
    ledger = api.server.ledger
    alpha = ledger.server("Alpha")
    assert alpha is not None
    await ledger.pay(
        alpha,
        source_user="ann",
        target_user="",
        target_server="Bravo",
        amount=250,
        local_currency=False,
    )
    after = await api.ok("/api/stats.json")
    assert after["transactions"]["total"] == before["transactions"]["total"] + 1
    assert after["volume"]["last_30d"] == pytest.approx(before["volume"]["last_30d"] + 2.5)


async def test_history_days_match_the_transactions(api: Api) -> None:
    everything = await api.walk(limit=500)
    first, last = BASE_TIME // DAY, BASE_TIME // DAY + 20
    since = datetime.fromtimestamp(first * DAY, UTC).strftime("%Y-%m-%d")
    result = await api.ok("/api/history.json", since=since, until=last * DAY + 5)
    days = result["days"]
    assert [d["time"] for d in days] == [day * DAY for day in range(first, last + 1)]
    for snapshot in days:
        on_day = [t for t in everything if t["time"] // DAY * DAY == snapshot["time"]]
        assert snapshot["transactions"] == len(on_day)
        assert snapshot["volume"] == pytest.approx(sum(t["amount"] for t in on_day))
        servers = {s for t in on_day for s in (t["source_server"], t["target_server"])}
        assert snapshot["active_servers"] == len(servers)
        assert snapshot["new_servers"] == 0 and snapshot["circulation"] == 0
        assert snapshot["pending"] == 0  # the imported history is all settled
    default = (await api.ok("/api/history.json"))["days"]
    assert len(default) == 30 and default[-1]["new_servers"] == 3
    pending = await api.walk(limit=500, status="pending")
    assert default[-1]["pending"] == len(pending) > 0 and default[-2]["pending"] == 0


@pytest.mark.parametrize(
    ("params", "details"),
    [
        ({"since": "2026-01-01", "until": "2025-01-01"}, "since: must not be later than until"),
        ({"since": "2020-01-01", "until": "2026-01-01"}, "since: the range is at most 366 days"),
        ({"until": "tomorrow"}, "until: expected Unix seconds"),
        ({"days": "7"}, "days: unknown parameter; expected one of: since, until"),
    ],
)
async def test_history_parameters_are_checked(
    api: Api, params: dict[str, str], details: str
) -> None:
    body = await api.error("/api/history.json", 400, **params)
    assert body["details"].startswith(details)


def test_health_score_formula() -> None:
    assert health_score(0, 0, None, None, 0) == 100.0
    assert health_score(4, 3, 60, 300, 0) == 90.0  # only webhooks lose: 40 * 3/4
    assert health_score(1, 1, 3600, 86400, 1) == 45.0  # 40 + 0 + 0 + 10/2
    assert health_score(2, 0, 1830, None, 0) == 47.5  # 0 + 12.5 + 25 + 10
