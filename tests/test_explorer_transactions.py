"""/api/transactions.json: every filter, both sort forms, every paging form, against a model.

The model is the whole ledger read once (no filter, walked by cursor) and
filtered and sorted in Python; each query walked page by page must give
exactly the model's rows in the model's order, including when a sparse filter
makes scans stop early (a tiny scan budget) and when rows tie on their sort key.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from explorer_helpers import BASE_TIME, SERVERS, USERS, Api, fill
from live_server import StartServer, make_config

from lurkcoin.ledger import explorer as ledger_explorer

Row = dict[str, Any]


@pytest.fixture
async def api(serve: StartServer, tmp_path: Path) -> AsyncIterator[Api]:
    config = make_config(tmp_path / "explorer.db", formula="integral")
    config.explorer.public_transactions = True
    config.explorer.rate_limit = 1_000_000
    server = await serve(config)
    await fill(server.ledger)
    async with aiohttp.ClientSession() as session:
        yield Api(server, session)


def _cents(value: Any) -> int:
    return int(Decimal(str(value)) * 100)


def _matches(row: Row, filters: dict[str, Any]) -> bool:
    checks: dict[str, Callable[[Any], bool]] = {
        "server": lambda v: (
            v.lower() in (row["source_server"].lower(), row["target_server"].lower())
        ),
        "source_server": lambda v: row["source_server"].lower() == v.lower(),
        "target_server": lambda v: row["target_server"].lower() == v.lower(),
        "user": lambda v: v in (row["source"], row["target"]),
        "source": lambda v: row["source"] == v,
        "target": lambda v: row["target"] == v,
        "amount": lambda v: _cents(row["amount"]) == _cents(v),
        "min_amount": lambda v: _cents(row["amount"]) >= _cents(v),
        "max_amount": lambda v: _cents(row["amount"]) <= _cents(v),
        "status": lambda v: row["status"] == v,
        "since": lambda v: row["time"] >= v,
        "until": lambda v: row["time"] <= v,
    }
    return all(checks[name](value) for name, value in filters.items())


async def _seqs(api: Api) -> dict[str, int]:
    """Each transaction's seq, the tie-breaker of both sort orders, read from the database."""
    reader = api.server.ledger.store.reader
    assert reader is not None
    return {str(r[0]): int(r[1]) for r in await reader.rows("SELECT id, seq FROM transactions")}


def _expected(
    everything: list[Row], seq: dict[str, int], filters: dict[str, Any], sort: str, desc: bool
) -> list[str]:
    rows = [r for r in everything if _matches(r, filters)]
    key = "time" if sort == "time" else "amount"
    rows.sort(key=lambda r: (_cents(r[key]) if key == "amount" else r[key], seq[r["id"]]))
    if desc:
        rows.reverse()
    return [r["id"] for r in rows]


def _random_filters(rng: random.Random) -> dict[str, Any]:
    choices: list[tuple[str, Callable[[], Any]]] = [
        ("server", lambda: rng.choice(SERVERS)),
        ("source_server", lambda: rng.choice(SERVERS).upper()),
        ("target_server", lambda: rng.choice(SERVERS)),
        ("user", lambda: rng.choice(USERS[:3])),
        ("source", lambda: rng.choice(USERS[:3] + ("dee",))),
        ("target", lambda: rng.choice(USERS[:3])),
        ("amount", lambda: rng.choice(("5", "12.5", "3"))),
        ("min_amount", lambda: rng.choice(("2", "5.00", "12.5"))),
        ("max_amount", lambda: rng.choice(("12.5", "100", "4"))),
        ("status", lambda: rng.choice(("settled", "pending", "acknowledged", "rejected"))),
        ("since", lambda: BASE_TIME + rng.randrange(0, 600_000)),
        ("until", lambda: BASE_TIME + rng.randrange(200_000, 900_000)),
    ]
    picked = dict((name, make()) for name, make in rng.sample(choices, rng.randrange(0, 4)))
    if "amount" in picked:
        picked.pop("min_amount", None)
        picked.pop("max_amount", None)
    if "min_amount" in picked and "max_amount" in picked:
        low, high = sorted((picked["min_amount"], picked["max_amount"]), key=_cents)
        picked["min_amount"], picked["max_amount"] = low, high
    if "since" in picked and "until" in picked and picked["since"] > picked["until"]:
        picked["since"], picked["until"] = picked["until"], picked["since"]
    return picked


@pytest.mark.parametrize("slack", [ledger_explorer.SCAN_SLACK, 2])
async def test_every_query_walks_exactly_the_model(
    api: Api, slack: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    everything = await api.walk(limit=7)
    assert len(everything) == len({r["id"] for r in everything}) >= 90
    # A small scan budget makes sparse filters return short pages with cursors.
    monkeypatch.setattr(ledger_explorer, "SCAN_SLACK", slack)
    rng = random.Random(slack)
    seqs = await _seqs(api)
    for _ in range(40):
        filters = _random_filters(rng)
        sort = rng.choice(("time", "amount"))
        desc = rng.random() < 0.5
        order = {"sort": f"{sort}:{'desc' if desc else 'asc'}"}
        if rng.random() < 0.5:
            order = {"sort": sort, "order": "desc" if desc else "asc"}
        got = await api.walk(limit=rng.choice((1, 3, 10)), **filters, **order)
        assert [r["id"] for r in got] == _expected(everything, seqs, filters, sort, desc), (
            filters,
            order,
        )


async def test_default_is_newest_first_and_each_filter_narrows(api: Api) -> None:
    everything = await api.walk(limit=500)
    newest = await api.ok("/api/transactions.json", limit=5)
    assert [r["id"] for r in newest["transactions"]] == [r["id"] for r in everything[:5]]
    for name, value in [
        ("server", "bravo"),
        ("source_server", "Alpha"),
        ("target_server", "Charlie"),
        ("user", "bob"),
        ("source", "dee"),
        ("target", "bob"),
        ("amount", "5"),
        ("min_amount", "12.5"),
        ("max_amount", "2"),
        ("status", "rejected"),
        ("since", BASE_TIME + 500_000),
        ("until", "2023-11-16T00:00:00Z"),
    ]:
        got = await api.walk(limit=500, **{name: value})
        assert got, name
        assert len(got) < len(everything), name
        model_value = 1_700_092_800 if name == "until" else value
        assert all(_matches(r, {name: model_value}) for r in got), name


async def test_refunds_and_statuses_are_shown(api: Api) -> None:
    rejected = await api.walk(status="rejected")
    assert len(rejected) == 3 and all(r["refund_id"] for r in rejected)
    refund = await api.ok(f"/api/transactions/{rejected[0]['refund_id']}.json")
    assert refund["refund_of"] == rejected[0]["id"]
    assert refund["revertable"] is False


async def test_backward_cursor_returns_the_page_before(api: Api) -> None:
    first = await api.ok("/api/transactions.json", limit=4, sort="amount")
    second = await api.ok(
        "/api/transactions.json", limit=4, sort="amount", cursor=first["pagination"]["next_cursor"]
    )
    assert first["pagination"]["prev_cursor"] is None
    back = await api.ok(
        "/api/transactions.json", limit=4, sort="amount", cursor=second["pagination"]["prev_cursor"]
    )
    assert back["transactions"] == first["transactions"]
    assert back["pagination"]["prev_cursor"] is None


async def test_page_and_offset_match_the_cursor_walk(api: Api) -> None:
    everything = await api.walk(limit=500, sort="amount:asc")
    ids = [r["id"] for r in everything]
    page3 = await api.ok("/api/transactions.json", limit=6, page=3, sort="amount:asc")
    assert [r["id"] for r in page3["transactions"]] == ids[12:18]
    assert page3["pagination"]["page"] == 3 and page3["pagination"]["offset"] == 12
    by_offset = await api.ok("/api/transactions.json", limit=5, offset=7, sort="amount:asc")
    assert [r["id"] for r in by_offset["transactions"]] == ids[7:12]
    # A page reached by offset continues by cursor.
    after = await api.ok(
        "/api/transactions.json",
        limit=5,
        sort="amount:asc",
        cursor=by_offset["pagination"]["next_cursor"],
    )
    assert [r["id"] for r in after["transactions"]] == ids[12:17]
    # With filters the index does not answer alone (merged sides, a status), offset is
    # counted over the merged matches.
    for filters in ({"server": "Alpha"}, {"status": "settled", "source": "ann"}):
        walked = [r["id"] for r in await api.walk(limit=500, **filters)]
        skipped = await api.ok("/api/transactions.json", limit=4, offset=3, **filters)
        assert [r["id"] for r in skipped["transactions"]] == walked[3:7], filters


async def test_a_cursor_cannot_page_another_query(api: Api) -> None:
    page = await api.ok("/api/transactions.json", limit=2, server="Alpha")
    cursor = page["pagination"]["next_cursor"]
    for other in ({"server": "Bravo"}, {}, {"server": "Alpha", "sort": "amount"}):
        body = await api.error("/api/transactions.json", 400, limit=2, cursor=cursor, **other)
        assert body["details"].startswith("cursor: belongs to another query")
    # The same query in the other spelling of its (default) sort is the same query.
    same = await api.ok(
        "/api/transactions.json", limit=2, server="alpha", sort="time:desc", cursor=cursor
    )
    assert same["transactions"]


async def test_unknown_server_matches_nothing(api: Api) -> None:
    page = await api.ok("/api/transactions.json", server="Nowhere")
    assert page["transactions"] == [] and page["pagination"]["next_cursor"] is None
