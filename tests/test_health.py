"""/healthz, /readyz, and a database that fills up: 503 with Retry-After, then back by itself."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import pytest
from auth_helpers import Bank, Client, bank_config, start_bank
from live_server import StartServer

from lurkcoin.store.health import storage_problem

pytestmark = pytest.mark.filterwarnings("error")


async def test_healthz_and_readyz_answer_without_login(serve: StartServer, tmp_path: Path) -> None:
    bank = await start_bank(serve, tmp_path)
    async with bank.client() as client:
        alive = await client.call("GET", "/healthz")
        ready = await client.call("GET", "/readyz")
    assert (alive.status, alive.body) == (200, "ok\n")
    assert (ready.status, ready.body) == (200, "ready\n")


async def _pay(client: Client, bank: Bank, key: str) -> tuple[int, dict[str, object], str | None]:
    reply = await client.call(
        "POST",
        "/v3/pay",
        bank.auth("Alpha"),
        body={"target_server": "Bravo", "target": "bob", "amount": 0.01},
        headers={"Idempotency-Key": key},
    )
    return reply.status, reply.body, reply.header("Retry-After")


async def _fill_until_refused(client: Client, bank: Bank) -> tuple[list[str], str]:
    """Pay until the database is full; the ids of the answered payments, the refused key."""
    paid: list[str] = []
    for n in range(5000):
        status, body, retry_after = await _pay(client, bank, f"fill-{n}")
        if status == 503:
            assert body == {
                "error": "ERR_INTERNALERROR",
                "message": "The ledger cannot record changes right now; try again later.",
                "success": False,
            }
            assert retry_after == "1"
            return paid, f"fill-{n}"
        assert status == 200, body
        paid.append(str(body["result"]["id"]))  # type: ignore[index]
    raise AssertionError("the database never filled up")


@pytest.mark.sqlite_only  # reads or edits the SQLite file, or SQLite's own machinery
async def test_a_full_database_answers_503_keeps_reads_and_resumes_by_itself(
    serve: StartServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = bank_config(tmp_path / "bank.db")
    config.database.retry_interval = 0.2
    server = await serve(config)
    tokens = {}
    for name, cents in (("Alpha", 100_000), ("Bravo", 50_000)):
        _, tokens[name] = await server.ledger.create_server(name, balance=cents)
    bank = Bank(server, tokens)
    ledger = server.ledger
    # Room for a few dozen payments beyond what the file holds now.
    page_size = 4096
    with sqlite3.connect(ledger.config.database.path) as conn:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    await ledger.store.set_size_limit((pages + 8) * page_size)

    caplog.set_level(logging.INFO, logger="lurkcoin")
    async with bank.client() as client:
        paid, refused_key = await _fill_until_refused(client, bank)
        assert len(paid) > 5
        for n in range(20):  # many more refusals, one log line
            status, _, _ = await _pay(client, bank, f"more-{n}")
            assert status == 503
        balance = await client.call("GET", "/v3/balance", bank.auth("Bravo"))
        assert balance.status == 200  # reads keep working
        ready = await client.call("GET", "/readyz")
        assert ready.status == 503 and ready.header("Retry-After") == "1"
        assert ready.body.startswith("not ready: the disk is full")
        metrics = await client.call("GET", "/metrics")
        assert "\nlurkcoin_writes_failing 1.0\n" in metrics.body
        # The probe an operator's tooling runs says why, too.
        blocked = await ledger.writes_blocked()
        assert blocked is not None and blocked.startswith("the disk is full"), blocked
        await asyncio.sleep(0.7)  # several failed recovery probes: still one line

        # Space returns: no client writes, yet the server is ready again by itself.
        await ledger.store.set_size_limit(None)
        for _ in range(50):
            if (await client.call("GET", "/readyz")).status == 200:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("/readyz never recovered")
        status, body, _ = await _pay(client, bank, refused_key)  # the client's retry
        assert status == 200, body
        paid.append(str(body["result"]["id"]))  # type: ignore[index]

    messages = [r.getMessage() for r in caplog.records if r.name.startswith("lurkcoin")]
    [failing] = [m for m in messages if "are failing: the disk is full" in m]
    assert "(database or disk is full)" in failing, failing  # with SQLite's own words
    assert len([m for m in messages if "succeed again" in m]) == 1, messages
    assert all(r.exc_info is None for r in caplog.records), "no traceback for a full disk"
    # Nothing acknowledged was lost, nothing refused was half-done.
    for txn_id in paid:
        assert await ledger.transaction(txn_id) is not None
    bravo = ledger.server("Bravo")
    assert bravo is not None and bravo.balance == 50_000 + len(paid)
    assert (await ledger.check()).ok


def test_read_only_and_full_are_conditions_not_bugs(tmp_path: Path) -> None:
    db = tmp_path / "ro.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    ro = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError) as readonly:
        ro.execute("INSERT INTO t VALUES (1)")
    ro.close()
    assert storage_problem(readonly.value) == "the database is read-only"
    with pytest.raises(sqlite3.OperationalError) as bug:
        sqlite3.connect(":memory:").execute("SELECT * FROM missing")
    assert storage_problem(bug.value) is None
