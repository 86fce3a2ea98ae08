"""Regression tests for ledger bugs found in review: each one lost, created or
misdirected money, or hid that it had, before its fix."""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import threading
from pathlib import Path

import pytest

from lurkcoin.config import Config
from lurkcoin.core.errors import LurkcoinError
from lurkcoin.ledger import Ledger

# -- check() relates every entry to what it belongs to ---------------------------


async def _setup(tmp_path: Path):
    c = Config()
    c.database.path = str(tmp_path / "c.db")
    ledger = await Ledger.open(c)
    alpha, _ = await ledger.create_server("Alpha", balance=10_000)
    await ledger.create_server("Bravo")
    await ledger.create_server("Charlie")
    t = await ledger.pay(
        alpha,
        source_user="a",
        target_user="b",
        target_server="Bravo",
        amount=1_000,
        local_currency=False,
    )
    return c, ledger, t


def _tamper(path: str, *statements: tuple[str, tuple]) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN")
    for sql, params in statements:
        db.execute(sql, params)
    db.execute("COMMIT")
    db.close()


@pytest.mark.sqlite_only  # reads or edits the SQLite file, or SQLite's own machinery
@pytest.mark.parametrize(
    "case",
    [
        "payment_without_entries",
        "credited_wrong_server",
        "amount_differs_from_entries",
        "rejected_refund_dropped",
    ],
)
async def test_check_flags_inconsistent_money(tmp_path: Path, case: str) -> None:
    c, ledger, t = await _setup(tmp_path)
    try:
        ids = {s.uid: s.id for s in ledger.servers()}
        if case == "payment_without_entries":
            # The payment row says 10.00 moved; no money moved at all.
            _tamper(
                c.database.path,
                ("DELETE FROM entries WHERE txn_seq = ?", (t.seq,)),
                ("UPDATE servers SET balance = balance + 1000 WHERE id = ?", (ids["alpha"],)),
                ("UPDATE servers SET balance = balance - 1000 WHERE id = ?", (ids["bravo"],)),
            )
        elif case == "credited_wrong_server":
            # Alpha -> Bravo, but Charlie got the money.
            _tamper(
                c.database.path,
                (
                    "UPDATE entries SET server_id = ? WHERE txn_seq = ? AND delta > 0",
                    (ids["charlie"], t.seq),
                ),
                ("UPDATE servers SET balance = balance - 1000 WHERE id = ?", (ids["bravo"],)),
                ("UPDATE servers SET balance = balance + 1000 WHERE id = ?", (ids["charlie"],)),
            )
        elif case == "amount_differs_from_entries":
            _tamper(
                c.database.path,
                (
                    "UPDATE transactions SET amount = 5, sent_amount = 5, received_amount = 5 "
                    "WHERE seq = ?",
                    (t.seq,),
                ),
            )
        else:
            # Rejected, revertable, yet neither refunded nor recorded as a failed refund.
            _tamper(
                c.database.path,
                ("UPDATE transactions SET status = 'rejected' WHERE seq = ?", (t.seq,)),
            )
        await ledger.refresh_if_changed()
        report = await ledger.check()
        assert not report.ok, f"{case}: check reports a clean ledger"
    finally:
        await ledger.close()


# -- read-only keys revoked by the CLI stop working in the server --------------


async def test_cli_revoked_api_key_keeps_working(tmp_path: Path) -> None:
    c = Config()
    c.database.path = str(tmp_path / "k.db")
    server_side = await Ledger.open(c)
    try:
        alpha, _ = await server_side.create_server("Alpha", balance=10_000)
        await server_side.create_server("Bravo")
        key, secret = await server_side.create_api_key(alpha, {"balance"})
        assert server_side.authenticate_key(secret) is not None

        cli_side = await Ledger.open(c)  # `lurkcoin api-key revoke Alpha <id>`
        await cli_side.revoke_api_key(cli_side.require_server("alpha"), key.id)
        await cli_side.close()

        # Ordinary traffic reaches the writer before the 1 s maintenance probe.
        await server_side.pay(
            alpha,
            source_user="a",
            target_user="b",
            target_server="Bravo",
            amount=1,
            local_currency=False,
        )
        await server_side.refresh_if_changed()  # the maintenance probe
        assert server_side.authenticate_key(secret) is None, (
            "a key revoked with the CLI still authenticates"
        )
    finally:
        await server_side.close()


# -- a refund never goes to a newer server that took a deleted sender's name ---


async def test_refund_of_deleted_sender_goes_to_new_owner_of_the_name(tmp_path: Path) -> None:
    c = Config()
    c.database.path = str(tmp_path / "r.db")
    ledger = await Ledger.open(c)
    try:
        alpha, _ = await ledger.create_server("Alpha", balance=100_000)
        await ledger.create_server("Bravo")
        # Alpha pays everything it has to a player on Bravo and is closed down.
        t = await ledger.pay(
            alpha,
            source_user="alice",
            target_user="bob",
            target_server="Bravo",
            amount=100_000,
            local_currency=False,
        )
        await ledger.delete_server("Alpha")
        # Someone else registers the freed name.
        await ledger.create_server("ALPHA")
        # Bravo rejects the old payment.
        await ledger.reject(ledger.require_server("bravo"), [t.id])
        newcomer = ledger.require_server("alpha")
        assert newcomer.id != alpha.id
        assert newcomer.balance == 0, (
            f"an unrelated new server received the deleted sender's refund: "
            f"{newcomer.balance} cents"
        )
    finally:
        await ledger.close()


# -- imports refuse amounts no payment can have ----------------------------------


def txn(amount: float) -> dict:
    return {
        "id": "T5E1816DE-0000BEEF",
        "source": "mallory",
        "source_server": "Victim",
        "target": "mallory",
        "target_server": "Thief",
        "amount": amount,
        "sent_amount": amount,
        "received_amount": amount,
        "time": 1578637022,
        "revertable": True,
    }


async def test_import_refuses_negative_amounts_or_reject_steals(tmp_path: Path) -> None:
    c = Config()
    c.database.path = str(tmp_path / "i.db")
    ledger = await Ledger.open(c)
    try:
        backup = [
            {
                "version": 0,
                "name": "Victim",
                "balance": 50_000,
                "target_balance": 0,
                "history": [],
                "pending_transactions": [],
                "token": "v",
                "webhook_url": "",
            },
            {
                "version": 0,
                "name": "Thief",
                "balance": 0,
                "target_balance": 0,
                "history": [],
                "pending_transactions": [txn(-500.0)],
                "token": "t",
                "webhook_url": "",
            },
        ]
        with pytest.raises(LurkcoinError, match="positive amount"):
            await ledger.import_backup(json.dumps(backup))
        assert ledger.servers() == []  # nothing of the backup was imported
    finally:
        await ledger.close()


# -- another process's commits are never lost to the cache ----------------------


def cfg(tmp_path: Path) -> Config:
    c = Config()
    c.database.path = str(tmp_path / "race.db")
    return c


@pytest.mark.sqlite_only  # reads or edits the SQLite file, or SQLite's own machinery
async def test_every_concurrent_cli_write_reaches_the_cache(tmp_path: Path) -> None:
    """No patching: in each round a 'CLI' thread commits one target-balance change
    at a random moment while payments flow; once everything is quiet and the
    maintenance probe has run, the cache must show it."""
    config = cfg(tmp_path)
    config.database.synchronous = "NORMAL"  # only to make rounds quick
    ledger = await Ledger.open(config)
    missed = 0
    try:
        alpha, _ = await ledger.create_server("Alpha", balance=10_000_000)
        await ledger.create_server("Bravo")
        await ledger.create_server("Charlie")
        conn = sqlite3.connect(
            config.database.path, isolation_level=None, timeout=30, check_same_thread=False
        )
        for n in range(1, 101):
            delay = random.uniform(0, 0.003)
            worker = threading.Timer(
                delay,
                lambda n=n: conn.execute(
                    "UPDATE servers SET target_balance = ? WHERE uid = 'charlie'", (n,)
                ),
            )
            worker.start()
            for _ in range(6):
                await asyncio.gather(
                    *(
                        ledger.pay(
                            alpha,
                            source_user="a",
                            target_user="",
                            target_server="Bravo",
                            amount=1,
                            local_currency=False,
                        )
                        for _ in range(4)
                    )
                )
            worker.join()
            await ledger.refresh_if_changed()
            if ledger.require_server("charlie").target_balance != n:
                missed += 1
        conn.close()
        assert missed == 0, f"{missed} of 100 CLI commits never reached the cache"
    finally:
        await ledger.close()


# -- a committed batch is answered as committed -----------------------------------


@pytest.mark.sqlite_only  # reads or edits the SQLite file, or SQLite's own machinery
async def test_a_failure_after_commit_still_answers_success(tmp_path: Path) -> None:
    c = Config()
    c.database.path = str(tmp_path / "p.db")
    ledger = await Ledger.open(c)
    try:
        alpha, _ = await ledger.create_server("Alpha", balance=10_000)
        await ledger.create_server("Bravo")
        store = ledger.store
        real_reload = store._reload
        calls = 0

        def flaky_reload(conn, ids):  # type: ignore[no-untyped-def]
            nonlocal calls
            calls += 1
            if calls == 1:  # e.g. SQLITE_IOERR / SQLITE_NOMEM on the first read after COMMIT
                raise sqlite3.OperationalError("disk I/O error")
            return real_reload(conn, ids)

        store._reload = flaky_reload  # type: ignore[method-assign]
        # Fault injection: the only way to get an I/O error right after COMMIT.
        t = await ledger.pay(
            alpha,
            source_user="a",
            target_user="b",
            target_server="Bravo",
            amount=1_000,
            local_currency=False,
        )
        assert t.amount == 1_000  # committed, so the caller hears success
        store._reload = real_reload  # type: ignore[method-assign]
        # The caches were marked stale: the next look reloads everything.
        assert await ledger.refresh_if_changed()
        assert ledger.require_server("alpha").balance == 9_000
        db = sqlite3.connect(c.database.path)
        paid = db.execute("SELECT COUNT(*) FROM transactions WHERE amount = 1000").fetchone()[0]
        db.close()
        assert paid == 1
    finally:
        await ledger.close()
