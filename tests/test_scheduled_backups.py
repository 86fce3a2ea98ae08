"""Scheduled online backups ([backup] directory, interval, keep) taken by a real running server.

A short interval ("1s") lets the tests watch several backups: copies appear
under sortable names, are SQLite files holding what the ledger held, the
oldest beyond ``keep`` are pruned, and a broken folder is reported in the log
and /metrics while payments go on and /readyz stays ready.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from pathlib import Path

import pytest
from auth_helpers import Bank, Reply, bank_config
from live_server import StartServer

from lurkcoin.api.backup_task import first_due
from lurkcoin.api.metrics import parse_metrics
from lurkcoin.ledger.scheduled_backups import backup_name, existing_backups, prune

# SQLite online copies; a PostgreSQL ledger is backed up with its own tools (README).
pytestmark = pytest.mark.sqlite_only

WAIT = 60.0  # seconds a test waits for the backups it expects (a busy machine is slow)


async def start(serve: StartServer, tmp_path: Path, directory: Path, keep: int = 2) -> Bank:
    """A server with Alpha (¤1,000.00) and Bravo (¤500.00), backing up every second."""
    config = bank_config(tmp_path / "bank.db")
    config.backup.directory = str(directory)
    config.backup.interval = "1s"
    config.backup.keep = keep
    server = await serve(config)
    tokens = {}
    for name, cents in (("Alpha", 100_000), ("Bravo", 50_000)):
        _, tokens[name] = await server.ledger.create_server(name, balance=cents)
    return Bank(server, tokens)


async def pay(bank: Bank, cents: int = 150) -> Reply:
    """Alpha pays Bravo over HTTP."""
    async with bank.client() as client:
        body = {"source": "a", "target": "b", "target_server": "Bravo", "amount": cents / 100}
        return await client.call("POST", "/v3/pay", bank.auth("Alpha"), body=body)


async def metrics(bank: Bank) -> dict[str, float]:
    async with bank.client() as client:
        reply = await client.call("GET", "/metrics")
    assert reply.status == 200
    return parse_metrics(reply.body)


async def wait_for(bank: Bank, outcome: str, count: int) -> dict[str, float]:
    """Metrics once ``count`` backups ended with ``outcome`` ("ok" or "failed")."""
    deadline = time.monotonic() + WAIT
    while True:
        values = await metrics(bank)
        if values.get(f'lurkcoin_backups_total{{outcome="{outcome}"}}', 0) >= count:
            return values
        assert time.monotonic() < deadline, f"no {count} {outcome} backups in {WAIT} s: {values}"
        await asyncio.sleep(0.2)


def balances(copy: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return dict(conn.execute("SELECT uid, balance FROM servers WHERE kind = 'server'"))
    finally:
        conn.close()


async def test_copies_appear_hold_the_ledger_and_only_keep_are_kept(
    serve: StartServer, tmp_path: Path
) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a backup", encoding="utf-8")
    bank = await start(serve, tmp_path, folder, keep=2)
    assert (await pay(bank, 150)).result["amount"] == 1.5
    await wait_for(bank, "ok", 1)
    assert (await pay(bank, 250)).result["amount"] == 2.5
    await bank.server.ledger.wait_idle()
    values = await wait_for(bank, "ok", 4)  # more than keep: some were pruned
    assert values["lurkcoin_backup_last_failed"] == 0
    assert values["lurkcoin_backup_last_success_timestamp_seconds"] > 0
    assert values["lurkcoin_backup_last_size_bytes"] > 0
    await bank.server.stop()

    kept = existing_backups(folder)
    assert len(kept) == 2 and kept == sorted(kept)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [*(p.name for p in kept), "notes.txt"]
    )
    for copy in kept:
        assert copy.stat().st_mode & 0o077 == 0  # token hashes: the owner's eyes only
        assert not Path(f"{copy}-wal").exists()  # one self-contained file
    # The newest copy was taken after both payments: it holds what the ledger holds.
    assert balances(kept[-1]) == {"alpha": 100_000 - 400, "bravo": 50_000 + 400}


async def test_a_missing_folder_is_reported_and_payments_go_on(
    serve: StartServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "not-yet"
    caplog.set_level(logging.ERROR, logger="lurkcoin.api.backup_task")
    bank = await start(serve, tmp_path, folder)
    values = await wait_for(bank, "failed", 2)
    assert values["lurkcoin_backup_last_failed"] == 1
    assert values['lurkcoin_backups_total{outcome="ok"}'] == 0
    assert f"scheduled backup failed: the backup directory {folder} does not exist" in caplog.text
    assert (await pay(bank)).result["amount"] == 1.5
    async with bank.client() as client:
        assert (await client.call("GET", "/readyz")).status == 200
    folder.mkdir()  # the operator fixes it: the next backup works
    values = await wait_for(bank, "ok", 1)
    assert len(existing_backups(folder)) >= 1
    await bank.server.stop()
    assert balances(existing_backups(folder)[-1])["bravo"] == 50_000 + 150


@pytest.mark.parametrize("kind", ["a file", "unwritable"])
async def test_a_folder_that_cannot_be_written_is_reported(
    serve: StartServer, tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    if kind == "a file":
        folder = tmp_path / "plain-file"
        folder.write_text("", encoding="utf-8")
        why = "is not a directory"
    else:
        # /proc is a folder no process may create files in, root included.
        folder, why = Path("/proc"), "cannot write in /proc"
        if not folder.is_dir():
            pytest.skip("needs /proc")
    caplog.set_level(logging.ERROR, logger="lurkcoin.api.backup_task")
    bank = await start(serve, tmp_path, folder)
    values = await wait_for(bank, "failed", 1)
    assert values["lurkcoin_backup_last_failed"] == 1
    assert why in caplog.text
    assert (await pay(bank)).result["amount"] == 1.5


@pytest.mark.unbalanced_books
async def test_a_copy_that_fails_the_check_is_not_kept_and_prunes_nothing(
    serve: StartServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    bank = await start(serve, tmp_path, folder, keep=1)
    await wait_for(bank, "ok", 1)
    good = existing_backups(folder)
    with sqlite3.connect(bank.server.ledger.config.database.path) as conn:  # money from nowhere
        conn.execute("UPDATE servers SET balance = balance + 1 WHERE uid = 'alpha'")
    caplog.set_level(logging.ERROR, logger="lurkcoin.api.backup_task")
    values = await wait_for(bank, "failed", 1)
    assert "the copy fails the ledger check: alpha: stored balance" in caplog.text
    assert values["lurkcoin_backup_last_failed"] == 1
    await bank.server.stop()
    assert existing_backups(folder) == good  # the verified copy from before is still there
    assert [p.name for p in folder.iterdir()] == [p.name for p in good]  # no partial left


# -- naming and the schedule ----------------------------------------------------------------


def test_names_sort_by_time_and_pruning_keeps_the_newest(tmp_path: Path) -> None:
    times = [1_700_000_000 + d for d in (0, 59, 3600, 86400 * 40)]
    names = [backup_name(t) for t in times]
    assert names[0] == "lurkcoin-20231114-221320.sqlite3"
    assert sorted(names) == names
    for name in reversed(names):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "lurkcoin-latest.sqlite3").write_bytes(b"")  # not ours: never touched
    removed = prune(tmp_path, 2)
    assert [p.name for p in removed] == names[:2]
    assert [p.name for p in existing_backups(tmp_path)] == names[2:]
    assert (tmp_path / "lurkcoin-latest.sqlite3").exists()


def test_after_a_restart_the_next_backup_is_an_interval_after_the_newest(tmp_path: Path) -> None:
    now = 1_700_000_000.0
    assert first_due(tmp_path, 3600, now) == now  # none yet: at once
    (tmp_path / backup_name(now - 600)).write_bytes(b"")
    assert first_due(tmp_path, 3600, now) == now - 600 + 3600
    assert first_due(tmp_path, 300, now) == now  # overdue: at once
    (tmp_path / backup_name(now + 86400)).write_bytes(b"")  # the clock went back
    assert first_due(tmp_path, 3600, now) == now + 3600


def test_the_interval_must_be_a_positive_duration(tmp_path: Path) -> None:
    from lurkcoin.config import ConfigError, load_config

    config = tmp_path / "c.toml"
    for bad in ('"0"', '"soon"', '""'):
        config.write_text(f"[backup]\ninterval = {bad}\n", encoding="utf-8")
        with pytest.raises(ConfigError, match=r"\[backup\] interval"):
            load_config(config, environ={})
    config.write_text('[backup]\ninterval = "6h"\nkeep = 3\n', encoding="utf-8")
    loaded = load_config(config, environ={})
    assert (loaded.backup.interval_seconds, loaded.backup.keep, loaded.backup.directory) == (
        21600,
        3,
        "",
    )
