"""The ledger engine on real SQLite files: money rules, atomicity, invariants."""

from __future__ import annotations

import asyncio
import logging
import random
import re
import sqlite3
import time
from pathlib import Path

import pytest

from lurkcoin.config import Config
from lurkcoin.core.errors import LurkcoinError
from lurkcoin.ledger import Ledger, payments
from lurkcoin.ledger.payments import PaymentRequest
from lurkcoin.store.migrate import SchemaTooNew


def make_config(tmp_path: Path, formula: str = "integral") -> Config:
    config = Config()
    config.database.path = str(tmp_path / "ledger.db")
    config.exchange.formula = formula
    return config


async def pay(
    ledger: Ledger,
    source: str,
    target: str,
    cents: int,
    *,
    user: str = "bob",
    local: bool = False,
    key: str | None = None,
):
    return await ledger.pay(
        ledger.require_server(source),
        source_user="alice",
        target_user=user,
        target_server=target,
        amount=cents,
        local_currency=local,
        idempotency_key=key,
    )


async def assert_clean(ledger: Ledger) -> None:
    report = await ledger.check()
    assert report.ok, report.problems


async def test_payment_moves_money_and_queues_it(ledger: Ledger) -> None:
    await ledger.create_server("Alpha", balance=10_000)
    await ledger.create_server("Bravo")
    t = await pay(ledger, "alpha", "BRAVO", 1_234)
    assert (t.amount, t.sent_amount, t.received_amount, t.status) == (1234, 1234, 1234, "pending")
    assert t.source_server == "Alpha" and t.target_server == "Bravo" and t.revertable
    assert ledger.require_server("alpha").balance == 8_766
    assert ledger.require_server("bravo").balance == 1_234
    assert [p.id for p in await ledger.pending(ledger.require_server("bravo"))] == [t.id]
    assert [h.id for h in await ledger.history(ledger.require_server("alpha"))] == [t.id]
    await assert_clean(ledger)


async def test_payment_to_empty_user_is_not_queued(ledger: Ledger) -> None:
    await ledger.create_server("Alpha", balance=500)
    await ledger.create_server("Bravo")
    t = await pay(ledger, "alpha", "bravo", 100, user="")
    assert t.status == "settled"
    assert await ledger.pending(ledger.require_server("bravo")) == []


async def test_concurrent_payments_never_overdraw(ledger: Ledger) -> None:
    """200 concurrent payments from a server that can afford exactly 100."""
    await ledger.create_server("Payer", balance=100 * 250)
    await ledger.create_server("Payee")
    results = await asyncio.gather(
        *(pay(ledger, "payer", "payee", 250) for _ in range(200)), return_exceptions=True
    )
    ok = [r for r in results if not isinstance(r, BaseException)]
    failed = [r for r in results if isinstance(r, BaseException)]
    assert len(ok) == 100
    assert {getattr(e, "code", repr(e)) for e in failed} == {"ERR_CANNOTAFFORD"}
    assert len(failed) == 100
    assert ledger.require_server("payer").balance == 0
    assert ledger.require_server("payee").balance == 25_000
    assert len({t.id for t in ok}) == 100
    assert ledger.store.batches < 200  # group commit actually grouped
    await assert_clean(ledger)


@pytest.mark.parametrize(
    "cents, code",
    [
        (0, "ERR_CANNOTPAYNOTHING"),
        (-5, "ERR_INVALIDAMOUNT"),
        (1_000_001, "ERR_TRANSACTIONLIMIT"),
        (600, "ERR_CANNOTAFFORD"),
    ],
)
async def test_money_rules_refuse_and_change_nothing(ledger: Ledger, cents: int, code: str) -> None:
    await ledger.create_server("Alpha", balance=500)
    await ledger.create_server("Bravo")
    with pytest.raises(LurkcoinError) as err:
        await pay(ledger, "alpha", "bravo", cents)
    assert err.value.code == code
    assert ledger.require_server("alpha").balance == 500
    assert await ledger.history(ledger.require_server("alpha")) == []
    await assert_clean(ledger)


async def test_unknown_target_and_long_names(ledger: Ledger) -> None:
    await ledger.create_server("Alpha", balance=500)
    with pytest.raises(LurkcoinError, match="ERR_SERVERNOTFOUND"):
        await pay(ledger, "alpha", "nowhere", 100)
    with pytest.raises(LurkcoinError) as err:
        await ledger.pay(
            ledger.require_server("alpha"),
            source_user="s" * 49,
            target_user="t" * 49,
            target_server="alpha",
            amount=1,
            local_currency=False,
        )
    assert err.value.code == "ERR_SOURCEUSERNAMETOOLONG"


async def test_self_payment_matched_by_uid_appears_once(ledger: Ledger) -> None:
    await ledger.create_server("Alpha", balance=500)
    t = await pay(ledger, "alpha", "ALPHA", 300)
    assert t.received_amount == 300
    assert ledger.require_server("alpha").balance == 500
    assert [h.id for h in await ledger.history(ledger.require_server("alpha"))] == [t.id]
    with pytest.raises(LurkcoinError, match="ERR_CANNOTAFFORD"):
        await pay(ledger, "alpha", "alpha", 501)
    await assert_clean(ledger)


async def test_reject_refunds_exactly_what_moved_in_one_step(tmp_path: Path) -> None:
    ledger = await Ledger.open(make_config(tmp_path, formula="reference"))
    try:
        await ledger.create_server("Alpha", balance=100_000)
        await ledger.create_server("Bravo", balance=50_000_000, target_balance=50_000_000)
        t = await pay(ledger, "alpha", "bravo", 10_000)
        assert t.received_amount == 9_999
        # Someone moves Bravo's rate before it rejects: the refund is not re-priced.
        await ledger.adjust_balance("bravo", -40_000_000, "rate move")
        bravo = ledger.require_server("bravo")
        assert await ledger.reject(bravo, [t.id, t.id, "T0-00000000"]) == 1
        assert ledger.require_server("alpha").balance == 100_000
        (refund,) = await ledger.pending(ledger.require_server("alpha"))
        assert (refund.amount, refund.sent_amount, refund.received_amount) == (
            10_000,
            9_999,
            10_000,
        )
        assert (refund.source, refund.target, refund.revertable) == ("bob", "alice", False)
        assert refund.refund_of == t.id
        stored = await ledger.transaction(t.id)
        assert stored is not None and stored.status == "rejected"
        assert stored.refund_id == refund.id
        # Rejecting again, or the refund itself by the wrong server, changes nothing.
        assert await ledger.reject(ledger.require_server("bravo"), [t.id, refund.id]) == 0
        await assert_clean(ledger)
    finally:
        await ledger.close()


async def test_refund_that_cannot_be_paid_is_recorded(ledger: Ledger) -> None:
    await ledger.create_server("Alpha", balance=1_000)
    await ledger.create_server("Poor")
    t = await pay(ledger, "alpha", "poor", 1_000)
    await pay(ledger, "poor", "alpha", 1_000, user="")
    assert await ledger.reject(ledger.require_server("poor"), [t.id]) == 1
    stored = await ledger.transaction(t.id)
    assert stored is not None and stored.status == "rejected" and stored.refund_id is None
    assert stored.refund_failed and "cannot cover" in stored.refund_failed
    report = await ledger.check()
    assert report.ok and [f.id for f in report.failed_refunds] == [t.id]


async def test_acknowledge_ignores_foreign_and_processed_ids(ledger: Ledger) -> None:
    await ledger.create_server("Alpha", balance=1_000)
    await ledger.create_server("Bravo")
    t1 = await pay(ledger, "alpha", "bravo", 100)
    t2 = await pay(ledger, "alpha", "bravo", 100)
    assert await ledger.acknowledge(ledger.require_server("alpha"), [t1.id]) == 0
    assert await ledger.acknowledge(ledger.require_server("bravo"), [t1.id, "nope"]) == 1
    assert await ledger.acknowledge(ledger.require_server("bravo"), [t1.id]) == 0
    assert [p.id for p in await ledger.pending(ledger.require_server("bravo"))] == [t2.id]
    stored = await ledger.transaction(t1.id)
    assert stored is not None and stored.status == "acknowledged"


async def test_drop_oldest_pending_keeps_them_as_acknowledged(ledger: Ledger) -> None:
    """V2's remove_transactions: the oldest ``count`` are done, with no refund."""
    await ledger.create_server("Alpha", balance=1_000)
    await ledger.create_server("Bravo")
    t1, t2, t3 = [await pay(ledger, "alpha", "bravo", 100) for _ in range(3)]
    alpha, bravo = ledger.require_server("alpha"), ledger.require_server("bravo")
    assert await ledger.drop_oldest_pending(alpha, 5) == 0  # only the target's own queue
    assert await ledger.drop_oldest_pending(bravo, 2) == 2
    assert [p.id for p in await ledger.pending(bravo)] == [t3.id]
    for t in (t1, t2):
        stored = await ledger.transaction(t.id)
        assert stored is not None and stored.status == "acknowledged" and stored.refund_id is None
    assert ledger.require_server("alpha").balance == 700  # nothing came back
    assert ledger.require_server("bravo").balance == 300
    assert await ledger.drop_oldest_pending(bravo, 10) == 1  # more than are waiting: all
    assert await ledger.pending(bravo) == []
    await assert_clean(ledger)  # the rollup's pending count went down with them


async def test_history_pages_through_everything(ledger: Ledger) -> None:
    await ledger.create_server("Alpha", balance=100_000)
    await ledger.create_server("Bravo")
    sent = [await pay(ledger, "alpha", "bravo", 10) for _ in range(25)]
    alpha = ledger.require_server("alpha")
    assert [t.id for t in await ledger.history(alpha)] == [t.id for t in sent[::-1][:10]]
    seen, before = [], None
    while True:
        page = await ledger.history(alpha, limit=7, before=before)
        if not page:
            break
        seen += page
        before = page[-1].id
    assert [t.id for t in seen] == [t.id for t in sent[::-1]]
    with pytest.raises(LurkcoinError, match="ERR_TRANSACTIONNOTFOUND"):
        await ledger.history(alpha, before="T1-00000000")


async def test_idempotency_key_pays_once(ledger: Ledger) -> None:
    await ledger.create_server("Alpha", balance=1_000)
    await ledger.create_server("Bravo")
    results = await asyncio.gather(
        *(pay(ledger, "alpha", "bravo", 100, key="k-1") for _ in range(20))
    )
    assert len({t.id for t in results}) == 1
    assert ledger.require_server("alpha").balance == 900
    with pytest.raises(LurkcoinError, match="ERR_IDEMPOTENCYKEYREUSED"):
        await pay(ledger, "alpha", "bravo", 200, key="k-1")
    with pytest.raises(LurkcoinError, match="ERR_INVALIDIDEMPOTENCYKEY"):
        await pay(ledger, "alpha", "bravo", 200, key="tab\there")


async def test_adjustments_go_through_issuance(ledger: Ledger) -> None:
    await ledger.create_server("Alpha", balance=1_000)
    await ledger.adjust_balance("alpha", -400, "chargeback")
    with pytest.raises(LurkcoinError, match="ERR_CANNOTAFFORD"):
        await ledger.adjust_balance("alpha", -700, "too much")
    with pytest.raises(LurkcoinError, match="ERR_INVALIDREQUEST"):
        await ledger.adjust_balance("alpha", 5, "  ")
    assert ledger.require_server("alpha").balance == 600
    report = await ledger.check()
    assert report.ok and report.circulating == 600


async def test_delete_server_only_when_empty(ledger: Ledger) -> None:
    await ledger.create_server("Alpha", balance=1_000)
    await ledger.create_server("Bravo")
    t = await pay(ledger, "alpha", "bravo", 100)
    with pytest.raises(LurkcoinError, match="ERR_SERVERNOTEMPTY"):
        await ledger.delete_server("bravo")
    await ledger.acknowledge(ledger.require_server("bravo"), [t.id])
    with pytest.raises(LurkcoinError, match="ERR_SERVERNOTEMPTY"):
        await ledger.delete_server("bravo")  # still holds 1.00
    await ledger.adjust_balance("bravo", -100, "payout")
    await ledger.delete_server("bravo")
    assert ledger.server("bravo") is None
    # The name is free again; history of the old account is kept.
    await ledger.create_server("Bravo")
    assert (await ledger.transaction(t.id)) is not None
    await assert_clean(ledger)


async def test_create_server_refuses_duplicates_and_bad_names(ledger: Ledger) -> None:
    server, token = await ledger.create_server("My Server!")
    assert server.uid == "myserver_" and server.target_balance == 0
    assert len(token) >= 170 and await ledger.authenticate("myserver_", token) is not None
    assert await ledger.authenticate("my server!", token + "x") is None
    with pytest.raises(LurkcoinError, match="ERR_SERVEREXISTS"):
        await ledger.create_server("myserver_")
    with pytest.raises(LurkcoinError, match="ERR_INVALIDREQUEST"):
        await ledger.create_server("!!!")


async def test_random_operations_keep_every_invariant(ledger: Ledger) -> None:
    rng = random.Random(7)
    names = ["a", "b", "c", "d"]
    for name in names:
        await ledger.create_server(
            name,
            balance=rng.randrange(0, 50_000),
            target_balance=rng.choice([0, 100_000, 5_000_000]),
        )
    ops = []
    for _ in range(300):
        src, dst = rng.choice(names), rng.choice(names)
        ops.append(pay(ledger, src, dst, rng.randrange(1, 20_000), local=rng.random() < 0.5))
    results = await asyncio.gather(*ops, return_exceptions=True)
    assert not [
        r for r in results if isinstance(r, BaseException) and not isinstance(r, LurkcoinError)
    ]
    for name in names:
        server = ledger.require_server(name)
        pending = await ledger.pending(server)
        half = len(pending) // 2
        await ledger.reject(server, [t.id for t in pending[:half]])
        await ledger.acknowledge(server, [t.id for t in pending[half:]])
    await assert_clean(ledger)


@pytest.mark.sqlite_only  # reads the SQLite file; tests/test_postgres.py has the PostgreSQL twin
async def test_a_failed_batch_member_rolls_back_alone(ledger: Ledger) -> None:
    await ledger.create_server("Alpha", balance=1_000)
    await ledger.create_server("Bravo")

    alpha_id = ledger.require_server("alpha").id

    def explode(tx):  # type: ignore[no-untyped-def]
        # Valid writes first (an adjustment and its two entries, alpha's
        # balance +5,000), then the failure: only ROLLBACK TO undoes them.
        adjustment = tx.insert_adjustment(alpha_id, 5_000, "about to fail", 0)
        tx.post(tx.issuance_id, alpha_id, 5_000, adjustment_id=adjustment)
        raise RuntimeError("boom")

    results = await asyncio.gather(
        pay(ledger, "alpha", "bravo", 100),
        ledger.store.write(explode),
        pay(ledger, "alpha", "bravo", 100),
        return_exceptions=True,
    )
    assert isinstance(results[1], LurkcoinError) and results[1].code == "ERR_INTERNALERROR"
    assert not isinstance(results[0], BaseException)
    assert not isinstance(results[2], BaseException)
    assert ledger.require_server("alpha").balance == 800
    # The file, not only the cache: no adjustment, alpha's entries are the two payments.
    conn = sqlite3.connect(ledger.config.database.path)
    try:
        kept = conn.execute("SELECT count(*) FROM adjustments WHERE amount = 5000").fetchone()
        stored = conn.execute(
            "SELECT balance, (SELECT sum(delta) FROM entries WHERE entries.server_id = servers.id) "
            "FROM servers WHERE id = ?",
            (alpha_id,),
        ).fetchone()
    finally:
        conn.close()
    assert kept == (0,) and stored == (800, 800)
    await assert_clean(ledger)


@pytest.mark.sqlite_only  # SQLite's data_version; PostgreSQL notifies (tests/test_postgres.py)
async def test_changes_by_another_process_reach_the_cache(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    server_side = await Ledger.open(config)
    try:
        cli_side = await Ledger.open(config)
        await cli_side.create_server("Late", balance=300)
        await cli_side.close()
        assert server_side.server("late") is None
        assert await server_side.refresh_if_changed()
        assert server_side.require_server("late").balance == 300
    finally:
        await server_side.close()


@pytest.mark.sqlite_only  # PRAGMA user_version; tests/test_postgres.py has the PostgreSQL twin
async def test_schema_version_is_recorded_and_newer_refused(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    ledger = await Ledger.open(config)
    await ledger.close()
    conn = sqlite3.connect(config.database.path)
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    assert version >= 1
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.execute(f"PRAGMA user_version = {version + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaTooNew):
        await Ledger.open(config)


async def test_acknowledging_and_rejecting_record_when(ledger: Ledger) -> None:
    await ledger.create_server("Alpha", balance=1_000)
    await ledger.create_server("Bravo")
    kept, refused = (
        await pay(ledger, "alpha", "bravo", 100),
        await pay(ledger, "alpha", "bravo", 200),
    )
    bravo = ledger.require_server("bravo")
    assert await ledger.acknowledge(bravo, [kept.id]) == 1
    assert await ledger.reject(bravo, [refused.id]) == 1
    for done, status in ((kept, "acknowledged"), (refused, "rejected")):
        stored = await ledger.transaction(done.id)
        assert stored is not None and stored.status == status
        assert stored.processed_at is not None and stored.processed_at >= done.time


async def test_a_rejecter_holding_exactly_the_amount_refunds_it(ledger: Ledger) -> None:
    # Alpha has a webhook: the refund queues a notification for it.
    await ledger.create_server("Alpha", balance=1_000, webhook_url="https://alpha.example/hook")
    await ledger.create_server("Bravo")
    t = await pay(ledger, "alpha", "bravo", 300)
    assert ledger.require_server("bravo").balance == 300
    assert await ledger.reject(ledger.require_server("bravo"), [t.id]) == 1
    rejected = await ledger.transaction(t.id)
    assert rejected is not None and rejected.refund_failed is None
    assert rejected.refund_id is not None
    refund = await ledger.transaction(rejected.refund_id)
    assert refund is not None and (refund.status, refund.amount) == ("pending", 300)
    assert [p.id for p in await ledger.pending(ledger.require_server("alpha"))] == [refund.id]
    assert (ledger.require_server("alpha").balance, ledger.require_server("bravo").balance) == (
        1_000,
        0,
    )
    await assert_clean(ledger)


async def test_the_refund_of_a_payment_without_a_sender_is_settled(ledger: Ledger) -> None:
    """Nobody to hand it to: the refund goes back to the server but is not queued."""
    alpha, _ = await ledger.create_server("Alpha", balance=1_000)
    await ledger.create_server("Bravo")
    t = await ledger.pay(
        alpha,
        source_user="",
        target_user="bob",
        target_server="Bravo",
        amount=300,
        local_currency=False,
    )
    assert await ledger.reject(ledger.require_server("bravo"), [t.id]) == 1
    rejected = await ledger.transaction(t.id)
    assert rejected is not None and rejected.refund_id is not None
    refund = await ledger.transaction(rejected.refund_id)
    assert refund is not None and refund.status == "settled"
    assert await ledger.pending(ledger.require_server("alpha")) == []
    assert ledger.require_server("alpha").balance == 1_000
    await assert_clean(ledger)


@pytest.mark.sqlite_only  # SQLite's data_version; PostgreSQL notifies (tests/test_postgres.py)
async def test_a_server_deleted_by_another_process_leaves_the_cache(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    server_side = await Ledger.open(config)
    try:
        await server_side.create_server("Gone")
        assert not await server_side.refresh_if_changed()  # nobody else wrote
        cli_side = await Ledger.open(config)
        await cli_side.delete_server("Gone")
        await cli_side.close()
        assert await server_side.refresh_if_changed()
        assert server_side.server("gone") is None
        assert not await server_side.refresh_if_changed()  # seen once, not again
    finally:
        await server_side.close()


async def test_paying_in_local_currency_converts_what_was_sent(tmp_path: Path) -> None:
    """Foxtrot (¤100,000 held, target ¤1,000) spends its own currency, reference formula."""
    ledger = await Ledger.open(make_config(tmp_path, formula="reference"))
    try:
        await ledger.create_server("Foxtrot", balance=10_000_000)
        await ledger.set_target_balance("Foxtrot", 100_000)
        await ledger.create_server("Bravo")
        hundred = await pay(ledger, "foxtrot", "bravo", 10_000, local=True)
        assert (hundred.sent_amount, hundred.amount) == (10_000, 947_368)  # the spec's example
        # Now b = 9,052,632: base = G / b; 1 / base = 90.5 -> b2 = b - 90; 1 / rate -> 90.
        one_cent = await pay(ledger, "foxtrot", "bravo", 1, local=True)
        assert (one_cent.sent_amount, one_cent.amount) == (1, 90)
        assert ledger.require_server("bravo").balance == 947_368 + 90
        await assert_clean(ledger)
    finally:
        await ledger.close()


async def test_only_a_pending_payment_notifies_the_webhook(ledger: Ledger) -> None:
    await ledger.create_server("Alpha", balance=1_000)
    await ledger.create_server("Bravo", webhook_url="https://bravo.example/hook")
    settled = await pay(ledger, "alpha", "bravo", 100, user="")  # no user: nothing to hand over
    assert settled.status == "settled"
    [state] = await ledger.outbox.delivery_states()
    assert not state.pending
    await pay(ledger, "alpha", "bravo", 100)
    [state] = await ledger.outbox.delivery_states()
    assert state.pending


async def test_transaction_ids_are_time_and_eight_hex_digits(ledger: Ledger) -> None:
    await ledger.create_server("Alpha", balance=1_000)
    await ledger.create_server("Bravo")
    ids = [(await pay(ledger, "alpha", "bravo", 1)).id for _ in range(24)]
    assert len(set(ids)) == len(ids)
    for txn_id in ids:
        assert re.fullmatch(r"T[0-9A-F]{8}-[0-9A-F]{8}", txn_id), txn_id


async def test_a_failed_operation_leaves_nothing_in_the_batch_rollup(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    """The daily rollup is written once per batch, before COMMIT: an operation that fails
    after recording a payment takes its increments back with its SAVEPOINT."""
    await ledger.create_server("Alpha", balance=10_000)
    await ledger.create_server("Bravo")
    request = PaymentRequest(
        ledger.require_server("alpha").id, "ann", "bob", "Bravo", 700, False, None
    )

    def pay_then_fail(tx):  # type: ignore[no-untyped-def]
        payments.pay(tx, req=request, rules=ledger.rules, now=int(time.time()))
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="lurkcoin"):
        results = await asyncio.gather(
            pay(ledger, "alpha", "bravo", 100),
            ledger.store.write(pay_then_fail),
            pay(ledger, "alpha", "bravo", 200),
            return_exceptions=True,
        )
    # A bug in an operation: the caller gets a 500, the log the traceback.
    assert isinstance(results[1], LurkcoinError) and results[1].code == "ERR_INTERNALERROR"
    [record] = [r for r in caplog.records if r.name.startswith("lurkcoin")]
    assert record.getMessage() == "operation failed"
    assert record.exc_info is not None and str(record.exc_info[1]) == "boom"
    assert ledger.require_server("bravo").balance == 300
    report = await ledger.check()
    assert report.ok, report.problems  # the rollup counts two payments, not three


async def test_the_writer_checks_again_what_may_have_changed_since_the_request_was_checked(
    ledger: Ledger,
) -> None:
    """A payment is checked in memory, then again inside its transaction: a server
    deleted in between (source or target) refuses it there, and nothing moves."""
    await ledger.create_server("Alpha", balance=10_000)
    await ledger.create_server("Bravo")
    alpha_id = ledger.require_server("alpha").id

    async def pay_in_writer(source_id: int, target: str) -> None:
        request = PaymentRequest(source_id, "ann", "bob", target, 700, False, None)
        await ledger.store.write(
            lambda tx: payments.pay(tx, req=request, rules=ledger.rules, now=int(time.time()))
        )

    for source_id, target, code in (
        (alpha_id, "Gone", "ERR_SERVERNOTFOUND"),
        (10_000, "Bravo", "ERR_INVALIDLOGIN"),
    ):
        with pytest.raises(LurkcoinError) as refused:
            await pay_in_writer(source_id, target)
        assert refused.value.code == code
    assert ledger.require_server("alpha").balance == 10_000
    await pay_in_writer(alpha_id, "bravo")  # found by uid, whatever the spelling
    assert ledger.require_server("bravo").balance == 700
    await assert_clean(ledger)
