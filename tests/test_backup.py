"""Import and export of lurkcoin-core backups, against the golden initial state."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from golden_files import V3_TRANSCRIPT

from lurkcoin.config import Config
from lurkcoin.core.errors import LurkcoinError
from lurkcoin.ledger import Ledger
from lurkcoin.ledger.tokens import hash_token

GOLDEN = V3_TRANSCRIPT


def initial_backup() -> list[dict]:
    with GOLDEN.open(encoding="utf-8") as f:
        golden = json.load(f, parse_float=Decimal)
    return golden["header"]["initial_state"]["plaintext_db_json"]


def comparable(records: list[dict]) -> dict[str, dict]:
    """A backup keyed by server name, tokens as hashes, URLs as given."""
    out = {}
    for r in records:
        token = r.get("token") or ""
        digest = hash_token(token).hex() if token else r.get("token_sha256", "")
        out[r["name"]] = {
            "balance": r["balance"],
            "target_balance": r["target_balance"],
            "history": r["history"],
            "pending": r["pending_transactions"],
            "token": digest,
            "webhook_url": r.get("webhook_url") or "",
        }
    return out


async def test_import_then_export_gives_back_the_same_data(ledger: Ledger) -> None:
    backup = initial_backup()
    report = await ledger.import_backup(backup)
    assert (report.servers_created, report.transactions_created, report.pending) == (13, 3, 3)
    exported = json.loads(await ledger.export_backup(), parse_float=Decimal)
    assert comparable(exported) == comparable(backup)
    assert (await ledger.check()).ok


async def test_import_is_idempotent_and_keeps_tokens_working(ledger: Ledger) -> None:
    backup = initial_backup()
    await ledger.import_backup(backup)
    again = await ledger.import_backup(json.dumps(backup, default=str))
    assert (again.servers_created, again.servers_skipped, again.transactions_created) == (0, 13, 0)
    assert await ledger.authenticate("rich", "tok:rich:with:colons") is not None
    assert await ledger.authenticate("Echo Server", "tok-echo") is not None
    assert await ledger.authenticate("locked", "") is None  # an empty token never logs in
    alpha = ledger.require_server("alpha")
    assert [t.id for t in await ledger.pending(alpha)] == [
        "T5F5E1000-0000000A",
        "T5F5E1000-0000000B",
        "T5F5E1000-0000000C",
    ]
    assert ledger.require_server("hotel").webhook_url == "http://127.0.0.1:18999/lurkcoin"
    assert ledger.require_server("foxtrot").target_balance == 100_000


@pytest.mark.sqlite_only  # reads or edits the SQLite file, or SQLite's own machinery
async def test_our_export_imports_into_a_fresh_ledger(ledger: Ledger, tmp_path: Path) -> None:
    await ledger.import_backup(initial_backup())
    await ledger.pay(
        ledger.require_server("alpha"),
        source_user="a",
        target_user="b",
        target_server="bravo",
        amount=250,
        local_currency=False,
    )
    text = await ledger.export_backup()
    config = Config()
    config.database.path = str(tmp_path / "second.db")
    second = await Ledger.open(config)
    try:
        await second.import_backup(text)
        assert comparable(json.loads(await second.export_backup())) == comparable(json.loads(text))
        assert await second.authenticate("alpha", "tok-alpha") is not None
        assert (await second.check()).ok
    finally:
        await second.close()


async def test_a_bad_import_changes_nothing(ledger: Ledger) -> None:
    backup = initial_backup()
    backup.append(
        {
            "version": 0,
            "name": "Broken",
            "balance": "lots",
            "target_balance": 0,
            "history": [],
            "pending_transactions": [],
            "token": "x",
            "webhook_url": "",
        }
    )
    with pytest.raises(LurkcoinError, match="balance"):
        await ledger.import_backup(backup)
    assert ledger.servers() == []
    with pytest.raises(LurkcoinError, match="JSON"):
        await ledger.import_backup("[{")


async def test_conflicting_server_stops_the_whole_import(ledger: Ledger) -> None:
    await ledger.create_server("Bravo", balance=5)
    with pytest.raises(LurkcoinError, match="ERR_SERVEREXISTS"):
        await ledger.import_backup(initial_backup())
    assert [s.uid for s in ledger.servers()] == ["bravo"]
    assert (await ledger.check()).ok


@pytest.mark.sqlite_only  # reads or edits the SQLite file, or SQLite's own machinery
async def test_tokens_are_never_stored_in_clear(tmp_path: Path) -> None:
    config = Config()
    config.database.path = str(tmp_path / "clear.db")
    ledger = await Ledger.open(config)
    await ledger.import_backup(initial_backup())
    _, token = await ledger.create_server("Fresh")
    await ledger.regenerate_token("alpha")
    await ledger.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("clear.db*"))
    for secret in (b"tok-alpha", b"tok:rich:with:colons", token.encode()):
        assert secret not in raw
    conn = sqlite3.connect(config.database.path)
    stored = conn.execute("SELECT COUNT(*) FROM servers WHERE token_hash IS NOT NULL")
    assert stored.fetchone()[0] == 13  # 12 imported with a token, plus Fresh
    conn.close()


async def test_export_and_check_run_side_by_side_with_payments(ledger: Ledger) -> None:
    """Each snapshot has its own connection: overlapping ones must not collide."""
    await ledger.import_backup(initial_backup())
    alpha = ledger.require_server("alpha")
    pays = [
        ledger.pay(
            alpha,
            source_user="a",
            target_user="b",
            target_server="echoserver",
            amount=1,
            local_currency=False,
        )
        for _ in range(20)
    ]
    results = await asyncio.gather(
        ledger.export_backup(), ledger.check(), ledger.check(), ledger.export_backup(), *pays
    )
    assert all(report.ok for report in results[1:3])
    assert json.loads(results[0]) and json.loads(results[3])


def _record(name: str, balance: int, history: list[dict], pending: list[dict]) -> dict:
    return {
        "version": 0,
        "name": name,
        "balance": balance,
        "target_balance": 0,
        "history": history,
        "pending_transactions": pending,
        "token": f"tok-{name}",
        "webhook_url": "",
    }


async def test_a_pending_payment_stays_with_the_server_that_lists_it(ledger: Ledger) -> None:
    """ "Harbour" was called "Dock" when it was paid; a new server took the name "Dock"."""
    paid = {
        "id": "T5F5E1000-000000AA",
        "source": "bob",
        "source_server": "Payer",
        "target": "alice",
        "target_server": "Dock",
        "amount": "3.0",
        "sent_amount": "3.0",
        "received_amount": "3.0",
        "time": 1600000000,
        "revertable": True,
    }
    backup = [
        _record("Payer", 700, [paid], []),
        _record("Harbour", 300, [paid], [paid]),
        _record("Dock", 0, [], []),
    ]
    report = await ledger.import_backup(backup)
    assert (report.transactions_created, report.pending) == (1, 1)
    harbour, dock = ledger.require_server("harbour"), ledger.require_server("dock")
    assert [t.id for t in await ledger.pending(harbour)] == [paid["id"]]
    assert await ledger.pending(dock) == []
    assert await ledger.acknowledge(dock, [paid["id"]]) == 0  # not Dock's to acknowledge
    assert await ledger.acknowledge(harbour, [paid["id"]]) == 1
    assert await ledger.pending(harbour) == []
    assert (await ledger.check()).ok
