"""Balances in time over HTTP: /v3/balance?at= and /v3/history?since=&until=.

Payments are made one second apart (real time: the ledger stamps them with
the clock), and every past balance must be what /v3/balance answered then.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from decimal import Decimal
from importlib.resources import as_file
from pathlib import Path
from typing import Any

import pytest
from auth_helpers import Bank, start_bank
from live_server import StartServer, make_config

from lurkcoin.ledger import Ledger
from lurkcoin.store.migrate import available_migrations, migrate


async def _next_second() -> int:
    """Sleep into the next whole second; returns it."""
    now = time.time()
    await asyncio.sleep(int(now) + 1 - now + 0.01)
    return int(time.time())


@pytest.fixture
async def timeline(serve: StartServer, tmp_path: Path) -> tuple[Bank, list[tuple[int, Any, Any]]]:
    """Three seconds, each with one payment from Alpha to Bravo (or back), and what the
    balance endpoint answered at the end of each."""
    bank = await start_bank(serve, tmp_path)
    seen: list[tuple[int, Any, Any]] = []
    async with bank.client() as client:
        for payer, payee, amount in (
            ("Alpha", "Bravo", 10),
            ("Bravo", "Alpha", 3),
            ("Alpha", "Bravo", 1.5),
        ):
            second = await _next_second()
            paid = await client.call(
                "POST",
                "/v3/pay",
                bank.auth(payer),
                body={"target": "x", "target_server": payee, "amount": amount},
            )
            assert paid.result["time"] == second
            alpha = (await client.call("GET", "/v3/balance", bank.auth("Alpha"))).result
            bravo = (await client.call("GET", "/v3/balance", bank.auth("Bravo"))).result
            seen.append((second, alpha, bravo))
    await _next_second()
    return bank, seen


async def test_balance_at_each_past_second_is_what_was_answered_then(
    timeline: tuple[Bank, list[tuple[int, Any, Any]]],
) -> None:
    bank, seen = timeline
    async with bank.client() as client:
        for second, alpha, bravo in seen:
            for name, expected in (("Alpha", alpha), ("Bravo", bravo)):
                for method in ("GET", "POST"):
                    got = await client.call(method, f"/v3/balance?at={second}", bank.auth(name))
                    assert got.result == expected, (name, second)
        # Before the first payment: the opening balances; before the servers: nothing.
        first = seen[0][0]
        before = await client.call("GET", f"/v3/balance?at={first - 1}", bank.auth("Alpha"))
        assert before.result == 1000
        assert (await client.call("GET", "/v3/balance?at=0", bank.auth("Alpha"))).result == 0
        future = await client.call("GET", "/v3/balance?at=99999999999", bank.auth("Bravo"))
        assert future.result == seen[-1][2]
        assert Decimal(str(seen[-1][1])) == Decimal("1000") - 10 + 3 - Decimal("1.5")
    assert (await bank.server.ledger.check()).ok


async def test_history_since_and_until(timeline: tuple[Bank, list[tuple[int, Any, Any]]]) -> None:
    bank, seen = timeline
    (t1, _, _), (t2, _, _), (t3, _, _) = seen

    async def history(query: str, body: Any = None) -> list[int]:
        async with bank.client() as client:
            method = "POST" if body is not None else "GET"
            reply = await client.call(method, "/v3/history" + query, bank.auth("Alpha"), body=body)
            return [t["time"] for t in reply.result]

    assert await history(f"?since={t2}") == [t3, t2]
    assert await history(f"?until={t2}") == [t2, t1]
    assert await history(f"?since={t2}&until={t2}") == [t2]
    assert await history(f"?since={t3 + 1}") == []
    assert await history("", {"since": t1, "until": str(t3), "limit": 2}) == [t3, t2]
    # Paging on with `before` inside the window.
    async with bank.client() as client:
        newest = (
            await client.call("GET", f"/v3/history?since={t1}&limit=1", bank.auth("Alpha"))
        ).result
        older = await client.call(
            "GET", f"/v3/history?since={t1}&before={newest[0]['id']}", bank.auth("Alpha")
        )
        assert [t["time"] for t in older.result] == [t2, t1]
        # Without a filter the history is as before.
        plain = await client.call("GET", "/v3/history", bank.auth("Alpha"))
        assert [t["time"] for t in plain.result] == [t3, t2, t1]


@pytest.mark.parametrize(
    "query",
    ["?at=-1", "?at=abc", "?at=1.5", "?at=1&at=2", "?at=", "?at=1234567890123"],
)
async def test_bad_balance_times_are_invalid_requests(
    serve: StartServer, tmp_path: Path, query: str
) -> None:
    bank = await start_bank(serve, tmp_path)
    async with bank.client() as client:
        reply = await client.call("GET", "/v3/balance" + query, bank.auth("Alpha"))
    assert reply.status == 400 and reply.error == "ERR_INVALIDREQUEST"


@pytest.mark.parametrize("query", ["?since=x", "?until=-5", "?since=1&since=2"])
async def test_bad_history_times_are_invalid_requests(
    serve: StartServer, tmp_path: Path, query: str
) -> None:
    bank = await start_bank(serve, tmp_path)
    async with bank.client() as client:
        reply = await client.call("GET", "/v3/history" + query, bank.auth("Alpha"))
        both = await client.call(
            "POST", "/v3/history?since=1", bank.auth("Alpha"), body={"since": 1}
        )
    assert reply.status == 400 and reply.error == "ERR_INVALIDREQUEST"
    assert both.status == 400 and both.error == "ERR_INVALIDREQUEST"


@pytest.mark.sqlite_only  # reads or edits the SQLite file, or SQLite's own machinery
async def test_entries_written_before_the_migration_get_their_times(
    serve: StartServer, tmp_path: Path
) -> None:
    """A ledger from before migration 5: its entries are dated from their transactions."""
    db = tmp_path / "old.db"
    old = tmp_path / "migrations"
    old.mkdir()
    for number, path in available_migrations():
        if number <= 4:
            with as_file(path) as real:
                (old / path.name).write_text(Path(real).read_text())
    conn = sqlite3.connect(db, isolation_level=None)
    migrate(conn, old)  # type: ignore[arg-type]
    conn.executescript(
        """
        INSERT INTO servers (uid, name, created_at, updated_at, balance) VALUES
            ('a', 'A', 100, 100, 700), ('b', 'B', 100, 100, 300);
        UPDATE servers SET balance = -1000 WHERE uid = '@issuance';
        INSERT INTO adjustments (server_id, amount, reason, created_at)
            VALUES (2, 1000, 'open', 100);
        INSERT INTO entries (server_id, delta, adjustment_id) VALUES (1, -1000, 1), (2, 1000, 1);
        INSERT INTO transactions (id, source, source_server, source_server_id, target,
            target_server, target_server_id, amount, sent_amount, received_amount, time,
            revertable, status)
            VALUES ('T1', '', 'A', 2, '', 'B', 3, 300, 300, 300, 200, 1, 'settled');
        INSERT INTO entries (server_id, delta, txn_seq) VALUES (2, -300, 1), (3, 300, 1);
        INSERT INTO history (server_id, pos, seq) VALUES (2, 1, 1), (3, 1, 1);
        INSERT INTO daily_rollup VALUES (0, 0, 1, 300, 1, 300), (2, 0, 1, 300, 0, 0),
            (3, 0, 0, 0, 1, 300);
        """
    )
    conn.close()
    ledger = await Ledger.open(make_config(db))
    try:
        a, b = ledger.require_server("A"), ledger.require_server("B")
        assert [await ledger.balance_at(a, t) for t in (99, 100, 199, 200)] == [0, 1000, 1000, 700]
        assert [await ledger.balance_at(b, t) for t in (199, 200)] == [0, 300]
        assert [t.id for t in await ledger.history_between(b, 200, 200)] == ["T1"]
        assert await ledger.history_between(b, 0, 199) == []
        assert (await ledger.check()).ok
    finally:
        await ledger.close()
    # The check notices an entry that is not dated as its transaction.
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("UPDATE entries SET time = 150 WHERE txn_seq = 1 AND delta > 0")
    conn.close()
    ledger = await Ledger.open(make_config(db))
    try:
        problems = (await ledger.check()).problems
        assert problems == [
            "1 ledger entries or history rows are not dated as the transaction or "
            "adjustment they record"
        ]
    finally:
        await ledger.close()
