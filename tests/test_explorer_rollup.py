"""The explorer's figures kept in the daily rollup, against what the ledger shows.

Transaction counts per server against /v3/history; the pending count at the
end of each day against what was pending when that day ended; the last 24 h
against the transactions' own times, at day boundaries. The clock is the
ledger's (``base.unix_now``), set by each test to walk through days.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from auth_helpers import basic
from explorer_helpers import Api, fill
from live_server import StartServer, make_config

from lurkcoin.ledger import Ledger, base
from lurkcoin.ledger.explorer_stats import daily_history, network_stats
from lurkcoin.models import Server, Transaction

DAY = 86400
FIRST_DAY = 20_000  # 2024-10-04: far from today, so the real clock never mixes in


class Clock:
    """The ledger's clock, moved by the test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = FIRST_DAY * DAY + 3600
        monkeypatch.setattr(base, "unix_now", lambda: self.now)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


@pytest.fixture
async def api(serve: StartServer, tmp_path: Path) -> AsyncIterator[Api]:
    config = make_config(tmp_path / "counts.db", formula="integral")
    config.explorer.public_transactions = True
    config.explorer.rate_limit = 1_000_000
    server = await serve(config)
    await fill(server.ledger)
    async with aiohttp.ClientSession() as session:
        yield Api(server, session)


def _server(ledger: Ledger, name: str) -> Server:
    found = ledger.server(name)
    assert found is not None
    return found


async def _pay(
    ledger: Ledger, source: str, target: str, cents: int, user: str = "bob"
) -> Transaction:
    return await ledger.pay(
        _server(ledger, source),
        source_user="ann",
        target_user=user,
        target_server=target,
        amount=cents,
        local_currency=False,
    )


async def _history_length(api: Api, name: str) -> int:
    """How many transactions /v3/history shows the server, paging with before."""
    seen: list[str] = []
    params = {"limit": "500"}
    for _ in range(100):
        async with api.session.get(
            api.server.url + "/v3/history", params=params, headers=basic(name, f"token-of-{name}")
        ) as response:
            body = await response.json()
        assert body["success"] is True, body
        seen += [t["id"] for t in body["result"]]
        if len(body["result"]) < 500:
            assert len(seen) == len(set(seen))
            return len(seen)
        params["before"] = seen[-1]
    raise AssertionError("the history never ended")


# -- transaction_count ------------------------------------------------------------------


async def test_transaction_count_is_the_length_of_each_history(api: Api) -> None:
    ledger = api.server.ledger
    # Beyond the fixture's imported self-payments, live payments and refunds: a
    # live self-payment with a player (pending, then rejected: its refund is a
    # second self-payment) and one without.
    own = await _pay(ledger, "Bravo", "Bravo", 150)
    await _pay(ledger, "Bravo", "Bravo", 50, user="")
    await ledger.reject(_server(ledger, "Bravo"), [own.id])
    rows = (await api.ok("/api/servers.json"))["servers"]
    counts = {r["name"]: r["transaction_count"] for r in rows}
    for name in ("Alpha", "Bravo", "Charlie"):
        assert counts[name] == await _history_length(api, name), name
        one = await api.ok(f"/api/servers/{name}.json")
        assert one["server"]["transaction_count"] == counts[name]
    assert len(set(counts.values())) == 3  # distinct, so the sort below means something

    ranked = sorted(counts, key=lambda n: counts[n])
    ascending = await api.ok("/api/servers.json", sort="transaction_count:asc")
    assert [r["name"] for r in ascending["servers"]] == ranked
    descending = await api.ok("/api/servers.json", sort="transaction_count", order="desc")
    assert [r["name"] for r in descending["servers"]] == ranked[::-1]
    middle = counts[ranked[1]]
    at_least = await api.ok("/api/servers.json", min_transactions=middle)
    assert {r["name"] for r in at_least["servers"]} == set(ranked[1:])
    at_most = await api.ok("/api/servers.json", max_transactions=middle, sort="name")
    assert [r["name"] for r in at_most["servers"]] == sorted(ranked[:2])
    exactly = await api.ok("/api/servers.json", min_transactions=middle, max_transactions=middle)
    assert [r["name"] for r in exactly["servers"]] == [ranked[1]]


@pytest.mark.parametrize(
    ("params", "details"),
    [
        ({"min_transactions": "-1"}, "min_transactions: expected a whole number from 0"),
        ({"max_transactions": "many"}, "max_transactions: expected a whole number from 0"),
        (
            {"min_transactions": "5", "max_transactions": "4"},
            "min_transactions: must not exceed max_transactions",
        ),
        (
            {"sort": "transactions"},
            "sort: invalid field; expected 'rank' | 'name' | 'balance' | 'target_balance' | "
            "'exchange_rate' | 'pending_count' | 'transaction_count' | 'last_activity'",
        ),
    ],
)
async def test_transaction_count_parameters_are_checked(
    api: Api, params: dict[str, str], details: str
) -> None:
    body = await api.error("/api/servers.json", 400, **params)
    assert body["details"].startswith(details), body["details"]


# -- pending at the end of each day --------------------------------------------------------


async def _pending_now(ledger: Ledger) -> int:
    return sum([len(await ledger.pending(s)) for s in ledger.servers()])


async def test_pending_at_the_end_of_each_day_follows_the_queues(
    ledger: Ledger, clock: Clock
) -> None:
    ledger.config.ledger.pending_expiry = "3d"
    await ledger.create_server("Alpha", balance=1_000_000)
    await ledger.create_server("Bravo", balance=1_000_000)
    ended: dict[int, int] = {}  # day: pending when it ended, as the queues show it
    made: list[Transaction] = []

    async def end_of(day: int) -> None:
        ended[day] = await _pending_now(ledger)

    # Day 0: three payments wait at Bravo, one settles at once.
    for cents in (100, 200, 300):
        made.append(await _pay(ledger, "Alpha", "Bravo", cents))
    await _pay(ledger, "Alpha", "Bravo", 400, user="")
    await end_of(FIRST_DAY)
    # Day 1: one acknowledged, two more wait (one at Alpha).
    clock.now = (FIRST_DAY + 1) * DAY + 10
    await ledger.acknowledge(_server(ledger, "Bravo"), [made[0].id])
    made.append(await _pay(ledger, "Alpha", "Bravo", 500))
    back = await _pay(ledger, "Bravo", "Alpha", 600)
    await end_of(FIRST_DAY + 1)
    # Day 2: nothing happens.
    await end_of(FIRST_DAY + 2)
    # Day 3: no payment; one rejection (its refund waits at Alpha in its place)
    # and V2's drop of the oldest.
    clock.now = (FIRST_DAY + 3) * DAY + 7200
    await ledger.reject(_server(ledger, "Bravo"), [made[1].id])
    await ledger.drop_oldest_pending(_server(ledger, "Bravo"), 1)
    await end_of(FIRST_DAY + 3)
    # Day 4: Alpha acknowledges its payment; Bravo's last one expires (3 days
    # old) and its refund waits at Alpha.
    clock.now = (FIRST_DAY + 4) * DAY + 60
    await ledger.acknowledge(_server(ledger, "Alpha"), [back.id])
    expired = await ledger.expire_pending()
    assert [t.id for t in expired] == [made[3].id]
    await end_of(FIRST_DAY + 4)
    # Day 6 (day 5 quiet): Alpha rejects one of the two refunds it holds (a
    # refund is not refunded again).
    clock.now = (FIRST_DAY + 6) * DAY + 5
    waiting = [t.id for t in await ledger.pending(_server(ledger, "Alpha"))]
    assert len(waiting) == 2
    await ledger.reject(_server(ledger, "Alpha"), waiting[:1])
    await end_of(FIRST_DAY + 6)
    ended[FIRST_DAY + 5] = ended[FIRST_DAY + 4]
    ended[FIRST_DAY - 1] = 0

    first, last = FIRST_DAY - 1, FIRST_DAY + 7
    days = await daily_history(ledger, first, last)
    ended[last] = ended[FIRST_DAY + 6]
    assert [d.pending for d in days] == [ended[day] for day in range(first, last + 1)]
    assert [d.pending for d in days] == [0, 3, 4, 4, 3, 2, 2, 1, 1]
    # A range starting after the changes still counts what was pending before it.
    assert [d.pending for d in await daily_history(ledger, FIRST_DAY + 5, FIRST_DAY + 5)] == [2]
    assert (await ledger.check()).ok


# -- the last 24 hours ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "now",
    [
        FIRST_DAY * DAY + 100,  # just past midnight: most of yesterday is inside
        FIRST_DAY * DAY + 80_000,  # late: most of yesterday is outside
        FIRST_DAY * DAY + DAY // 2,  # the two parts of yesterday are equal
        FIRST_DAY * DAY + DAY - 1,  # the day's last second: none of yesterday is inside
    ],
)
async def test_last_24h_is_exact_at_day_boundaries(ledger: Ledger, clock: Clock, now: int) -> None:
    await ledger.create_server("Alpha", balance=10_000_000)
    await ledger.create_server("Bravo")
    start = now - DAY + 1  # the window's first second
    times = sorted(
        {
            (FIRST_DAY - 2) * DAY + 5,
            (FIRST_DAY - 1) * DAY,  # yesterday's first second
            start - 1,  # one second too old
            start,
            start + 1,
            FIRST_DAY * DAY - 1,  # yesterday's last second
            FIRST_DAY * DAY,  # today's first
            now,
        }
    )
    made = []
    for n, when in enumerate(times):
        clock.now = when
        made.append(await _pay(ledger, "Alpha", "Bravo", 100 + n, user=""))
    stats = await network_stats(ledger, now=now)
    inside = [t for t in made if now - DAY < t.time <= now]
    assert stats.transactions_24h == len(inside)
    assert stats.volume_24h == sum(t.amount for t in inside)
    assert stats.transactions_total == len(made)
