"""Several processes on one PostgreSQL ledger: each Ledger here is what one `lurkcoin serve` runs.

Two Ledgers opened on the same database share nothing but PostgreSQL (each
has its own writer connection, readers, caches and change listener), exactly
as two processes do. These run in the PostgreSQL half (`pytest --backend
postgresql`), where every test has a fresh database of its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from importlib.resources import files
from pathlib import Path

import pytest
from webhook_helpers import Receiver, webhook_config

from lurkcoin.config import Config
from lurkcoin.core.errors import LurkcoinError
from lurkcoin.ledger import Ledger
from lurkcoin.models import Transaction
from lurkcoin.store.migrate import SchemaTooNew, available_migrations, migrations_dir
from lurkcoin.store.pg_connection import PgConnection, to_postgres
from lurkcoin.webhooks.dispatcher import WebhookDispatcher

postgresql = pytest.mark.postgresql_only


def test_both_engines_have_the_same_numbered_migrations() -> None:
    sqlite = [p.name for _, p in available_migrations(migrations_dir())]
    postgres = [p.name for _, p in available_migrations(migrations_dir("postgresql"))]
    assert sqlite == postgres
    assert files("lurkcoin.store").joinpath("migrations", "postgresql").is_dir()


@pytest.mark.parametrize(
    "sqlite, postgres",
    [
        ("SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = %s AND c = %s"),
        ("SELECT a FROM t INDEXED BY t_b WHERE b = ?", "SELECT a FROM t WHERE b = %s"),
        ("WHERE e.n IS NOT 2 AND x IS NOT NULL", "WHERE e.n IS DISTINCT FROM 2 AND x IS NOT NULL"),
        ("WHERE a IS b AND c IS NULL", "WHERE a IS NOT DISTINCT FROM b AND c IS NULL"),
        ("ORDER BY s.name COLLATE NOCASE, s.id", "ORDER BY lower(s.name), s.id"),
        ("WHERE name LIKE 'a%'", "WHERE name LIKE 'a%%'"),
    ],
)
def test_statements_are_translated_for_postgresql(sqlite: str, postgres: str) -> None:
    assert to_postgres(sqlite) == postgres


def test_named_parameters_are_translated() -> None:
    assert to_postgres("WHERE id = :issuance OR x::text = ''", named=True) == (
        "WHERE id = %(issuance)s OR x::text = ''"
    )


def _config(tmp_path: Path) -> Config:
    config = Config()
    config.database.path = str(tmp_path / "unused.db")
    assert config.database.url, "the PostgreSQL half gives every test a database URL"
    return config


@pytest.fixture
async def two(tmp_path: Path) -> AsyncIterator[tuple[Ledger, Ledger]]:
    """Two processes' Ledgers on one database; the books are checked after the test."""
    first = await Ledger.open(_config(tmp_path))
    second = await Ledger.open(_config(tmp_path))
    try:
        yield first, second
        report = await first.check()
        assert report.ok, report.problems
    finally:
        await second.close()
        await first.close()


async def _eventually(condition: Callable[[], bool], within: float = 2.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "the other process never saw the change"
        await asyncio.sleep(0.01)


async def _pay(
    ledger: Ledger, source: str, target: str, cents: int, key: str | None = None
) -> Transaction:
    return await ledger.pay(
        ledger.require_server(source),
        source_user="alice",
        target_user="bob",
        target_server=target,
        amount=cents,
        local_currency=False,
        idempotency_key=key,
    )


@postgresql
async def test_two_processes_never_overdraw(two: tuple[Ledger, Ledger]) -> None:
    """200 concurrent payments through two processes from a server that affords exactly 100."""
    a, b = two
    await a.create_server("Payer", balance=100 * 250)
    await a.create_server("Payee")
    await _eventually(lambda: b.server("payee") is not None)
    results = await asyncio.gather(
        *(_pay((a, b)[i % 2], "payer", "payee", 250) for i in range(200)),
        return_exceptions=True,
    )
    ok = [r for r in results if isinstance(r, Transaction)]
    failed = [r for r in results if not isinstance(r, Transaction)]
    assert len(ok) == 100, failed[:3]
    assert {getattr(e, "code", repr(e)) for e in failed} == {"ERR_CANNOTAFFORD"}
    # Each process's cache learns the other's payments by NOTIFY, a moment later.
    await _eventually(lambda: b.require_server("payer").balance == 0)
    await _eventually(lambda: a.require_server("payee").balance == 25_000)
    await _eventually(lambda: a.require_server("payer").balance == 0)


@postgresql
async def test_opposite_payments_from_two_processes_all_land(two: tuple[Ledger, Ledger]) -> None:
    """Alpha pays Bravo in one process while Bravo pays Alpha in the other: without the
    batch's locks taken in id order first, their row locks would deadlock."""
    a, b = two
    await a.create_server("Alpha", balance=100_000)
    await a.create_server("Bravo", balance=100_000)
    await _eventually(lambda: b.server("bravo") is not None)
    results = await asyncio.gather(
        *(_pay(a, "alpha", "bravo", 100) for _ in range(60)),
        *(_pay(b, "bravo", "alpha", 100) for _ in range(60)),
        return_exceptions=True,
    )
    assert all(isinstance(r, Transaction) for r in results), results
    await _eventually(lambda: b.require_server("alpha").balance == 100_000)
    # Each batch locks its payments' servers first, in id order: no deadlock, no retry.
    assert a.store.retried_batches == 0 and b.store.retried_batches == 0  # type: ignore[attr-defined]


@postgresql
async def test_an_idempotency_key_raced_from_two_processes_pays_once(
    two: tuple[Ledger, Ledger],
) -> None:
    a, b = two
    await a.create_server("Alpha", balance=100_000)
    await a.create_server("Bravo")
    await _eventually(lambda: b.server("bravo") is not None)
    for round_ in range(20):
        key = f"race-{round_}"
        first, second = await asyncio.gather(
            _pay(a, "alpha", "bravo", 100, key), _pay(b, "alpha", "bravo", 100, key)
        )
        assert first.id == second.id
    await _eventually(lambda: a.require_server("alpha").balance == 100_000 - 20 * 100)
    assert len(await a.history(a.require_server("alpha"), limit=100)) == 20


@postgresql
async def test_a_rejection_raced_from_two_processes_refunds_once(
    two: tuple[Ledger, Ledger],
) -> None:
    a, b = two
    await a.create_server("Alpha", balance=100_000)
    await a.create_server("Bravo")
    paid = [await _pay(a, "alpha", "bravo", 100) for _ in range(30)]
    await _eventually(lambda: b.server("bravo") is not None)
    ids = [t.id for t in paid]
    counts = await asyncio.gather(
        a.reject(a.require_server("bravo"), ids),
        b.reject(b.require_server("bravo"), ids),
        b.acknowledge(b.require_server("bravo"), ids),
    )
    assert sum(counts) == 30  # each payment settled by exactly one of the three
    refunds = await a.pending(a.require_server("alpha"))
    rejected = [t for t in [await a.transaction(i) for i in ids] if t and t.status == "rejected"]
    assert len(refunds) == len(rejected) == sum(counts[:2])


@postgresql
async def test_changes_reach_the_other_process_within_a_second(
    two: tuple[Ledger, Ledger],
) -> None:
    a, b = two
    _, token = await a.create_server("Late", balance=300)
    await _eventually(lambda: b.server("late") is not None, within=1.0)
    assert b.require_server("late").balance == 300
    assert await b.authenticate("Late", token) is not None
    new_token = await a.regenerate_token("late")
    await _eventually(lambda: b.require_server("late").next_token_hash is not None, within=1.0)
    assert await b.authenticate("Late", new_token) is not None  # first use promotes it
    await _eventually(lambda: a.require_server("late").next_token_hash is None, within=1.0)
    assert await a.authenticate("Late", token) is None  # everywhere, the old one is gone
    api_key, secret = await a.create_api_key(a.require_server("late"), ["balance"])
    await _eventually(lambda: b.authenticate_key(secret) is not None, within=1.0)
    await a.revoke_api_key(a.require_server("late"), api_key.id)
    await _eventually(lambda: b.authenticate_key(secret) is None, within=1.0)


@postgresql
async def test_the_schema_version_is_recorded_and_a_newer_one_refused(tmp_path: Path) -> None:
    config = _config(tmp_path)
    ledger = await Ledger.open(config)
    await ledger.close()
    conn = PgConnection.connect(config.database.url)
    try:
        (version,) = conn.execute("SELECT version FROM lurkcoin_schema").fetchone() or (0,)
        assert version == len(available_migrations(migrations_dir("postgresql")))
        conn.execute("UPDATE lurkcoin_schema SET version = version + 1")
    finally:
        conn.close()
    with pytest.raises(SchemaTooNew):
        await Ledger.open(config)


@postgresql
async def test_a_failed_operation_rolls_back_alone(two: tuple[Ledger, Ledger]) -> None:
    a, _ = two
    await a.create_server("Alpha", balance=1_000)
    await a.create_server("Bravo")
    alpha_id = a.require_server("alpha").id

    def explode(tx):  # type: ignore[no-untyped-def]
        adjustment = tx.insert_adjustment(alpha_id, 5_000, "about to fail", 0)
        tx.post(tx.issuance_id, alpha_id, 5_000, time=0, adjustment_id=adjustment)
        raise RuntimeError("boom")

    results = await asyncio.gather(
        _pay(a, "alpha", "bravo", 100),
        a.store.write(explode),
        _pay(a, "alpha", "bravo", 100),
        return_exceptions=True,
    )
    assert isinstance(results[1], LurkcoinError) and results[1].code == "ERR_INTERNALERROR"
    assert isinstance(results[0], Transaction) and isinstance(results[2], Transaction)
    assert a.require_server("alpha").balance == 800


@postgresql
def test_the_bench_runs_two_workers_on_postgresql(capsys: pytest.CaptureFixture[str]) -> None:
    """`lurkcoin bench --database-url --workers 2`: payments through both, books checked."""
    from lurkcoin.cli import main

    status = main(
        [
            "bench",
            "--spawn",
            "--database-url",
            Config().database.url,
            "--workers",
            "2",
            "--scenario",
            "pay",
            "--duration",
            "2",
            "--warmup",
            "0.2",
            "--concurrency",
            "8",
            "--json",
        ]
    )
    out, _ = capsys.readouterr()
    result = json.loads(out)
    assert status == 0 and result["ok"], result["conservation"]
    assert result["traffic"]["all"]["requests"] > 0 and not result["traffic"]["errors"]
    # Measured for every worker and for PostgreSQL (a second on a busy machine may round to 0).
    assert result["cpu"]["server_s"] is not None and result["cpu"]["database_s"] is not None
    assert result["database"]["workers"] == 2


@postgresql
def test_serve_refuses_scheduled_copies_of_a_postgresql_ledger(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from lurkcoin.cli import main

    monkeypatch.setenv("LURKCOIN_BACKUP_DIRECTORY", str(tmp_path))
    assert main(["serve", "--port", "0"]) == 2
    assert "[backup] directory takes copies of a SQLite ledger" in capsys.readouterr().err


@pytest.mark.sqlite_only  # the PostgreSQL half gives every config a database URL
def test_serve_refuses_workers_on_sqlite(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from lurkcoin.cli import main

    monkeypatch.setenv("LURKCOIN_DATABASE_PATH", str(tmp_path / "x.db"))
    assert main(["serve", "--workers", "2", "--port", "5999"]) == 2
    assert "--workers above 1 needs a PostgreSQL ledger" in capsys.readouterr().err


def test_without_postgresql_the_half_passes_and_says_it_was_skipped() -> None:
    """The README's test command on a machine with no PostgreSQL: exit 0, and the reason."""
    tests = Path(__file__).parent
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "LURKCOIN_DATABASE_URL")}
    env["LURKCOIN_TEST_POSTGRES_URL"] = "postgresql://postgres@127.0.0.1:1/postgres"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--backend", "postgresql",
         str(tests / "test_names.py")],
        cwd=tests.parent, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PostgreSQL half SKIPPED: " in done.stdout


@postgresql
async def test_webhook_deliveries_are_made_once_and_survive_a_dead_process(
    tmp_path: Path, receiver: Receiver
) -> None:
    """Two processes' dispatchers share the outbox: each notification is POSTed by one of
    them, and one leased by a process that died is delivered by the other once its lease
    runs out."""
    config = webhook_config(tmp_path)
    a, b = await Ledger.open(config), await Ledger.open(config)
    try:
        await a.create_server("Alpha", balance=100_000)
        await a.create_server("Bravo")
        await a.set_webhook("bravo", receiver.url, sign=True)  # signed: each POST has its id
        await _eventually(lambda: b.require_server("bravo").webhook_url is not None)
        # Process A leases Bravo's notification, as its dispatcher does, then dies.
        await _pay(a, "alpha", "bravo", 100)
        now = time.time()
        leased = await a.outbox.claim_due(
            now=now, lease_until=now + 1.0, limit=10, exclude=(), new_message_id=lambda: "msg_a"
        )
        assert [c.server_id for c in leased.claims] == [a.require_server("bravo").id]
        await a.close()
        dispatcher = WebhookDispatcher(b)
        await dispatcher.start()
        try:
            (first,) = await receiver.wait_for(1, timeout=10)
            assert time.time() >= now + 1.0 - 0.05, "delivered while another process held it"
            # Both processes deliver from now on: every POST is its own notification.
            a = await Ledger.open(config)
            other = WebhookDispatcher(a)
            await other.start()
            try:
                for i in range(20):
                    await _pay((a, b)[i % 2], "alpha", "bravo", 1)
                    await asyncio.sleep(0.05)
                await asyncio.sleep(1.0)
                ids = [r.headers["webhook-id"] for r in receiver.requests]
                assert len(ids) == len(set(ids)) == dispatcher.deliveries + other.deliveries
            finally:
                await other.stop()
        finally:
            await dispatcher.stop()
    finally:
        await b.close()
        await a.close()
