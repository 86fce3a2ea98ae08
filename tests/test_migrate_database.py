"""`lurkcoin migrate-database`: a whole ledger moved between SQLite and PostgreSQL, verified."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lurkcoin.cli import main
from lurkcoin.config import Config, DatabaseSection
from lurkcoin.ledger import Ledger
from lurkcoin.ledger.migration import database_section, migrate_database


def _sqlite(path: Path) -> DatabaseSection:
    return DatabaseSection(path=str(path), url="")


async def _busy_ledger(database: DatabaseSection) -> dict[str, int]:
    """A ledger with payments, a refund, an adjustment, an API key and audit entries."""
    config = Config(database=database)
    ledger = await Ledger.open(config)
    try:
        await ledger.create_server("Alpha", balance=100_000)
        await ledger.create_server("Bravo", balance=5_000, target_balance=10_000)
        alpha = ledger.require_server("alpha")
        paid = [
            await ledger.pay(
                alpha,
                source_user="ann",
                target_user="bob",
                target_server="Bravo",
                amount=1_000 + i,
                local_currency=False,
                idempotency_key=f"key-{i}",
            )
            for i in range(30)
        ]
        await ledger.reject(ledger.require_server("bravo"), [paid[0].id])
        await ledger.acknowledge(ledger.require_server("bravo"), [t.id for t in paid[1:10]])
        await ledger.adjust_balance("bravo", 250, "bonus")
        await ledger.create_api_key(ledger.require_server("alpha"), ["balance"])
        return {s.uid: s.balance for s in ledger.servers()}
    finally:
        await ledger.close()


async def _balances_after_more_work(database: DatabaseSection) -> dict[str, int]:
    """The copy is a working ledger: new rows get ids after the copied ones."""
    ledger = await Ledger.open(Config(database=database))
    try:
        await ledger.create_server("Charlie")
        await ledger.pay(
            ledger.require_server("alpha"),
            source_user="ann",
            target_user="cat",
            target_server="Charlie",
            amount=500,
            local_currency=False,
        )
        report = await ledger.check()
        assert report.ok, report.problems
        return {s.uid: s.balance for s in ledger.servers()}
    finally:
        await ledger.close()


async def test_a_sqlite_ledger_copies_into_a_new_sqlite_file(tmp_path: Path) -> None:
    source, target = _sqlite(tmp_path / "a.db"), _sqlite(tmp_path / "b.db")
    balances = await _busy_ledger(source)
    report = await migrate_database(Config(), source, target)
    assert report.ok, report.problems
    assert report.copied["transactions"] == 31  # 30 payments and one refund
    ledger = await Ledger.open(Config(database=target))
    try:
        assert {s.uid: s.balance for s in ledger.servers()} == balances
        assert (await ledger.transaction("nope")) is None
    finally:
        await ledger.close()
    await _balances_after_more_work(target)


@pytest.mark.postgresql_only
async def test_sqlite_to_postgresql_and_back(tmp_path: Path) -> None:
    source = _sqlite(tmp_path / "a.db")
    postgres = database_section(Config().database.url)  # this test's PostgreSQL database
    back = _sqlite(tmp_path / "back.db")
    balances = await _busy_ledger(source)
    report = await migrate_database(Config(), source, postgres)
    assert report.ok, report.problems
    report = await migrate_database(Config(), postgres, back)
    assert report.ok, report.problems
    for database in (postgres, back):
        ledger = await Ledger.open(Config(database=database))
        try:
            assert {s.uid: s.balance for s in ledger.servers()} == balances
            assert len(await ledger.history(ledger.require_server("alpha"), limit=100)) == 31
            checked, breaks = await ledger.verify_audit()
            assert checked > 0 and breaks == []
        finally:
            await ledger.close()
    assert await _balances_after_more_work(postgres) == await _balances_after_more_work(back)


@pytest.mark.postgresql_only
def test_the_command_refuses_a_target_that_is_not_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = Config().database.url
    asyncio.run(_busy_ledger(database_section(url)))
    asyncio.run(_busy_ledger(_sqlite(tmp_path / "a.db")))
    status = main(["migrate-database", "--from", str(tmp_path / "a.db"), "--to", url])
    out, err = capsys.readouterr()
    assert status == 2 and out == ""
    assert "not copied: the target is not empty" in err


def test_the_command_copies_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(_busy_ledger(_sqlite(tmp_path / "a.db")))
    status = main(
        ["migrate-database", "--from", str(tmp_path / "a.db"), "--to", str(tmp_path / "b.db")]
    )
    out, err = capsys.readouterr()
    assert (status, err) == (0, "")
    assert "transactions: 31 rows" in out and "verified" in out


@pytest.mark.parametrize(
    "source, target, message",
    [
        ("missing.db", "b.db", "no database at"),
        ("a.db", "a.db", "exists: copy into a new file"),
    ],
)
def test_the_command_refuses_bad_places(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], source: str, target: str, message: str
) -> None:
    asyncio.run(_busy_ledger(_sqlite(tmp_path / "a.db")))
    status = main(
        ["migrate-database", "--from", str(tmp_path / source), "--to", str(tmp_path / target)]
    )
    out, err = capsys.readouterr()
    assert status == 2 and message in err
