"""Pending expiry over HTTP: a short expiry, a restart in the middle, refunds exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from auth_helpers import Client, basic
from live_server import StartServer, make_config

from lurkcoin.cli import main
from lurkcoin.config import Config, ConfigError, load_config
from lurkcoin.ledger import Ledger

EXPIRY = 2  # seconds


def expiring_config(db: Path) -> Config:
    config = make_config(db, formula="integral")
    config.ledger.pending_expiry = f"{EXPIRY}s"
    return config


async def _call(port: int, method: str, path: str, auth: dict[str, str], body: Any = None) -> Any:
    async with Client(port) as client:
        return (await client.call(method, path, auth, body=body)).result


async def test_an_unacknowledged_payment_is_refunded_after_a_restart(
    serve: StartServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "ledger.db"
    first = await serve(expiring_config(db))
    tokens = {}
    for name, cents in (("Alpha", 100_000), ("Bravo", 0)):
        _, tokens[name] = await first.ledger.create_server(name, balance=cents)
    alpha, bravo = basic("Alpha", tokens["Alpha"]), basic("Bravo", tokens["Bravo"])
    pay = {"source": "al", "target": "bob", "target_server": "Bravo", "amount": 10}
    waits = await _call(first.port, "POST", "/v3/pay", alpha, pay)
    acked = await _call(first.port, "POST", "/v3/pay", alpha, pay | {"amount": 1})
    await _call(first.port, "POST", "/v3/pay", alpha, pay | {"target": "", "amount": 2})
    await _call(
        first.port, "POST", "/v3/acknowledge_transactions", bravo, {"transactions": [acked["id"]]}
    )
    # Stop before it can expire; it comes of age while no server runs.
    await first.stop()
    await asyncio.sleep(EXPIRY + 1.1)
    config_file = tmp_path / "lurkcoin.toml"
    config_file.write_text(f'[database]\npath = "{db}"\n[ledger]\npending_expiry = "{EXPIRY}s"\n')
    # The CLI runs its own event loop: in a thread, as from another process.
    cli = ["--config", str(config_file), "expire-pending"]
    assert await asyncio.to_thread(main, [*cli, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert waits["id"] in out and out.endswith("1 would expire.\n")

    second = await serve(expiring_config(db))
    for _ in range(50):  # the task checks twice a second at this expiry
        pending = await _call(second.port, "GET", "/v3/pending_transactions", bravo)
        if not pending:
            break
        await asyncio.sleep(0.1)
    assert pending == []
    # The refund waits in Alpha's queue, for the user who paid, exactly the amount.
    refunds = await _call(second.port, "GET", "/v3/pending_transactions", alpha)
    assert [(r["target"], r["amount"], r["revertable"]) for r in refunds] == [("al", 10, False)]
    assert await _call(second.port, "GET", "/v3/balance", alpha) == 1000 - 1 - 2
    assert await _call(second.port, "GET", "/v3/balance", bravo) == 3
    ledger = second.ledger
    original = await ledger.transaction(waits["id"])
    assert original is not None and original.status == "rejected"
    assert original.refund_id == refunds[0]["id"]
    report = await ledger.check()
    assert report.ok, report.problems
    assert report.audit_entries >= 1
    # Refunds never expire themselves; running again finds nothing.
    await asyncio.sleep(EXPIRY + 1.1)
    assert await ledger.expire_pending() == []
    assert await asyncio.to_thread(main, cli) == 0
    assert capsys.readouterr().out.endswith("0 expired.\n")


async def test_two_processes_expire_each_transaction_once(tmp_path: Path) -> None:
    config = expiring_config(tmp_path / "ledger.db")
    one, two = await Ledger.open(config), await Ledger.open(config)
    try:
        alpha, _ = await one.create_server("Alpha", balance=100_000)
        await one.create_server("Bravo")
        paid = [
            await one.pay(
                alpha,
                source_user="al",
                target_user=f"u{i}",
                target_server="Bravo",
                amount=100 + i,
                local_currency=False,
            )
            for i in range(30)
        ]
        await asyncio.sleep(EXPIRY + 1.1)
        a, b = await asyncio.gather(one.expire_pending(), two.expire_pending())
        assert sorted(t.id for t in a + b) == sorted(t.id for t in paid)
        assert not {t.id for t in a} & {t.id for t in b}
        report = await one.check()
        assert report.ok, report.problems
        await one.refresh_if_changed()
        assert one.require_server("Alpha").balance == 100_000
    finally:
        await one.close()
        await two.close()


def test_expiry_is_off_by_default_and_checked(tmp_path: Path) -> None:
    assert Config().ledger.pending_expiry_seconds == 0
    for text, seconds in (("30d", 30 * 86400), ("12h", 43200), ("90m", 5400), ("45", 45)):
        path = tmp_path / "c.toml"
        path.write_text(f'[ledger]\npending_expiry = "{text}"\n')
        assert load_config(path, {}).ledger.pending_expiry_seconds == seconds
    path.write_text('[ledger]\npending_expiry = "soon"\n')
    with pytest.raises(ConfigError, match="pending_expiry"):
        load_config(path, {})
