"""The audit log's hash chain and the daily rollup, on real SQLite files."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest
from cli_helpers import Cli
from test_ledger import make_config, pay

from lurkcoin.core.errors import LurkcoinError
from lurkcoin.ledger import Ledger
from lurkcoin.ledger.audit import Actor
from lurkcoin.store.migrate import available_migrations, migrate

ALICE = Actor("alice", "192.0.2.7")


@pytest.fixture
def cli(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The shared cli, run from tmp_path."""
    monkeypatch.chdir(tmp_path)
    return cli


def _rollup(db: str) -> dict[tuple[int, int], tuple[int, int, int, int]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT * FROM daily_rollup").fetchall()
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


@pytest.mark.sqlite_only  # reads or edits the SQLite file, or SQLite's own machinery
async def test_the_rollup_counts_payments_refunds_and_self_payments(ledger: Ledger) -> None:
    a, _ = await ledger.create_server("Alpha", balance=10_000)
    b, _ = await ledger.create_server("Bravo")
    t = await pay(ledger, "alpha", "bravo", 300)
    await pay(ledger, "alpha", "alpha", 50, user="")
    await ledger.reject(ledger.require_server("bravo"), [t.id])  # refund: bravo pays alpha 300
    day = int(time.time()) // 86400
    rollup = _rollup(ledger.config.database.path)
    # (sent, volume, received, volume, self-payments, change in the pending count):
    # the payment and its refund were made pending, the payment was then rejected.
    assert rollup[(0, day)] == (3, 650, 3, 650, 0, 1)
    assert rollup[(a.id, day)] == (2, 350, 2, 350, 1, 0)
    assert rollup[(b.id, day)] == (1, 300, 1, 300, 0, 0)
    totals = await ledger.daily_totals(0, 30)
    assert len(totals) == 30 and totals[-1].sent_count == 3 and totals[0].sent_count == 0
    assert (await ledger.all_time_totals(a.id)).sent_volume == 350
    assert (await ledger.check()).ok


@pytest.mark.sqlite_only  # reads or edits the SQLite file, or SQLite's own machinery
@pytest.mark.unbalanced_books
async def test_check_reports_a_rollup_that_disagrees(ledger: Ledger) -> None:
    await ledger.create_server("Alpha", balance=10_000)
    await ledger.create_server("Bravo")
    await pay(ledger, "alpha", "bravo", 300)
    with sqlite3.connect(ledger.config.database.path) as conn:
        conn.execute("UPDATE daily_rollup SET sent_volume = sent_volume + 1 WHERE server_id = 0")
    problems = (await ledger.check()).problems
    assert len(problems) == 1 and "daily rollup of all servers" in problems[0]


@pytest.mark.sqlite_only  # reads or edits the SQLite file, or SQLite's own machinery
@pytest.mark.unbalanced_books
@pytest.mark.parametrize(
    ("change", "where"),
    [("pending_change = pending_change - 1", "all servers"), ("self_count = 1", "server #")],
)
async def test_check_reports_wrong_pending_changes_and_self_counts(
    ledger: Ledger, change: str, where: str
) -> None:
    await ledger.create_server("Alpha", balance=10_000)
    b, _ = await ledger.create_server("Bravo")
    t = await pay(ledger, "alpha", "bravo", 300)
    await ledger.acknowledge(ledger.require_server("bravo"), [t.id])
    assert (await ledger.check()).ok
    server_id = 0 if where == "all servers" else b.id
    with sqlite3.connect(ledger.config.database.path) as conn:
        conn.execute(f"UPDATE daily_rollup SET {change} WHERE server_id = ?", (server_id,))
    problems = (await ledger.check()).problems
    assert len(problems) == 1 and f"daily rollup of {where}" in problems[0], problems


@pytest.mark.sqlite_only  # reads or edits the SQLite file, or SQLite's own machinery
async def test_migrating_an_old_ledger_builds_its_rollup(tmp_path: Path) -> None:
    old = tmp_path / "old-migrations"
    old.mkdir()
    for number, path in available_migrations():
        if number <= 3:
            (old / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    config = make_config(tmp_path)
    with sqlite3.connect(config.database.path, isolation_level=None) as conn:
        migrate(conn, old)
        conn.execute(
            "INSERT INTO servers (uid, name, balance, created_at, updated_at) "
            "VALUES ('a', 'A', 0, 0, 0), ('b', 'B', 0, 0, 0)"
        )
        ids = dict(conn.execute("SELECT uid, id FROM servers").fetchall())
        made = (
            (86400 * 5, "a", "b", "settled", None),
            (86400 * 5 + 10, "a", "b", "settled", None),
            (86400 * 9, "a", "b", "settled", None),
            (86400 * 9 + 1, "a", "a", "settled", None),  # a self-payment
            (86400 * 9 + 2, "a", "b", "acknowledged", 86400 * 11 + 5),
            (86400 * 10, "b", "a", "pending", None),
        )
        for n, (when, source, target, status, processed) in enumerate(made):
            conn.execute(
                "INSERT INTO transactions (id, source, source_server, source_server_id, target, "
                "target_server, target_server_id, amount, sent_amount, received_amount, time, "
                "revertable, status, processed_at, imported) "
                "VALUES (?, '', ?, ?, 'x', ?, ?, 100, 100, 100, ?, 0, ?, ?, 1)",
                (
                    f"T{n}",
                    source.upper(),
                    ids[source],
                    target.upper(),
                    ids[target],
                    when,
                    status,
                    processed,
                ),
            )
    ledger = await Ledger.open(config)
    try:
        rollup = _rollup(config.database.path)
        assert rollup[(0, 5)] == (2, 200, 2, 200, 0, 0)
        assert rollup[(0, 9)] == (3, 300, 3, 300, 0, 1)
        assert rollup[(0, 10)] == (1, 100, 1, 100, 0, 1)
        assert rollup[(0, 11)] == (0, 0, 0, 0, 0, -1)  # only the acknowledgement
        assert rollup[(ids["a"], 5)] == (2, 200, 0, 0, 0, 0)
        assert rollup[(ids["a"], 9)] == (3, 300, 1, 100, 1, 0)
        assert rollup[(ids["b"], 9)] == (0, 0, 2, 200, 0, 0)
        assert await ledger.rollup_problems() == []
    finally:
        await ledger.close()


async def test_each_change_writes_one_chained_entry_with_before_and_after(ledger: Ledger) -> None:
    await ledger.create_server("Alpha", actor=ALICE)
    await ledger.adjust_balance("alpha", 500, "welcome bonus", actor=ALICE)
    await ledger.set_target_balance("alpha", 1_000)  # no actor: the local operator
    entries = await ledger.audit_entries()
    assert [e.action for e in entries] == ["set-target-balance", "adjust-balance", "create-server"]
    newest, adjust, create = entries
    assert (adjust.actor, adjust.address, adjust.reason) == ("alice", "192.0.2.7", "welcome bonus")
    assert '"balance": 0' in (adjust.before or "") and '"balance": 500' in (adjust.after or "")
    assert create.before is None and create.subject == "Alpha"
    assert newest.actor.startswith("cli:") and newest.address == "local"
    assert adjust.prev_hash == create.hash and newest.prev_hash == adjust.hash
    assert await ledger.verify_audit() == (3, [])


async def test_a_refused_change_leaves_no_entry(ledger: Ledger) -> None:
    await ledger.create_server("Alpha")
    with pytest.raises(LurkcoinError):
        await ledger.adjust_balance("alpha", -1, "take what is not there", actor=ALICE)
    assert [e.action for e in await ledger.audit_entries()] == ["create-server"]


async def test_force_reject_refunds_and_is_audited(ledger: Ledger) -> None:
    await ledger.create_server("Alpha", balance=1_000)
    bravo, _ = await ledger.create_server("Bravo")
    t = await pay(ledger, "alpha", "bravo", 400)
    with pytest.raises(LurkcoinError):
        await ledger.force_reject(bravo, [t.id], " ", actor=ALICE)
    assert await ledger.force_reject(bravo, [t.id], "server gone", actor=ALICE) == 1
    assert ledger.require_server("alpha").balance == 1_000
    entry = (await ledger.audit_entries(limit=1))[0]
    assert (entry.action, entry.subject, entry.reason) == ("force-reject", "Bravo", "server gone")
    assert t.id in (entry.after or "")
    assert (await ledger.check()).ok


async def test_delete_moving_balance_and_pending_to_issuance(ledger: Ledger) -> None:
    await ledger.create_server("Alpha", balance=1_000)
    await ledger.create_server("Bravo")
    await pay(ledger, "alpha", "bravo", 400)
    with pytest.raises(LurkcoinError):
        await ledger.delete_server("bravo", actor=ALICE)
    await ledger.delete_server("bravo", actor=ALICE, drain_reason="closing down")
    assert ledger.server("bravo") is None
    assert (await ledger.dashboard()).pending == 0
    assert (await ledger.check()).ok


def _tamper(db: Path, sql: str) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(sql)


@pytest.mark.sqlite_only  # reads or edits the SQLite file, or SQLite's own machinery
def test_cli_changes_are_audited_and_tampering_is_named(cli: Cli) -> None:
    cli.create("Alpha")
    cli.ok("adjust", "Alpha", "10", "--reason", "opening")
    cli.ok("set-target-balance", "Alpha", "100")
    assert "OK: 3 audit entries" in cli.ok("audit", "verify")
    shown = cli.ok("audit", "show")
    assert "adjust-balance Alpha (opening)" in shown and "cli:" in shown
    assert "Audit log: 3 entries" in cli.ok("check")
    _tamper(cli.db, "UPDATE audit_log SET reason = 'nothing to see' WHERE id = 2")
    result = cli("audit", "verify")
    assert result.status == 1 and "entry #2: its contents do not match" in result.out
    assert "audit log entry #2" in cli("check").out


@pytest.mark.sqlite_only  # reads or edits the SQLite file, or SQLite's own machinery
def test_a_removed_entry_breaks_the_chain(cli: Cli) -> None:
    cli.create("Alpha")
    cli.ok("set-target-balance", "Alpha", "100")
    cli.ok("set-target-balance", "Alpha", "200")
    _tamper(cli.db, "DELETE FROM audit_log WHERE id = 2")
    result = cli("audit", "verify")
    assert result.status == 1 and "entry #3" in result.out


@pytest.mark.sqlite_only  # reads or edits the SQLite file, or SQLite's own machinery
async def test_sessions_end_on_timeouts_and_removed_accounts(ledger: Ledger) -> None:
    sid = await ledger.open_admin_session("alice", "192.0.2.7")
    found = await ledger.admin_session(sid, users=["alice"], idle=60, max_age=3600)
    assert found is not None and found.user == "alice"
    with sqlite3.connect(ledger.config.database.path) as conn:
        stored = conn.execute("SELECT id_hash FROM admin_sessions").fetchall()
    assert len(stored) == 1 and sid.encode() not in stored[0][0]
    assert await ledger.admin_session(sid + "x", users=["alice"], idle=60, max_age=3600) is None
    assert await ledger.admin_session(sid, users=["bob"], idle=60, max_age=3600) is None
    assert await ledger.admin_session(sid, users=["alice"], idle=60, max_age=3600) is None  # gone
    sid = await ledger.open_admin_session("alice", "192.0.2.7")
    assert await ledger.admin_session(sid, users=["alice"], idle=-1, max_age=3600) is None
    sid = await ledger.open_admin_session("alice", "192.0.2.7")
    await ledger.close_admin_session(sid)
    assert await ledger.admin_session(sid, users=["alice"], idle=60, max_age=3600) is None


async def test_the_streamed_backup_is_the_same_in_any_batch_size(ledger: Ledger) -> None:
    await ledger.create_server("Alpha", balance=10_000)
    await ledger.create_server("Bravo")
    for cents in range(100, 600, 100):
        await pay(ledger, "alpha", "bravo", cents)
    whole = "".join([p async for p in ledger.export_backup_parts(batch=1000)])
    assert "".join([p async for p in ledger.export_backup_parts(batch=2)]) == whole
    assert "".join([p async for p in ledger.export_backup_parts(batch=5)]) == whole
    records = json.loads(whole)
    assert [len(r["history"]) for r in records] == [5, 5]
    assert [len(r["pending_transactions"]) for r in records] == [0, 5]
