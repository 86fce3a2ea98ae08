"""Exchange fees: the rounding rule and conservation, in the pure core and in the ledger.

The HTTP API, the CLI and the console's side of fees are in test_fees_api.py.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import tempfile
from importlib.resources import as_file
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lurkcoin.config import Config
from lurkcoin.core.errors import LurkcoinError
from lurkcoin.core.exchange import from_lurkcoin
from lurkcoin.core.fees import (
    MAX_FEE_BPS,
    check_fee_bps,
    describe_fee,
    fee_for,
    payment_postings,
    refund_postings,
)
from lurkcoin.ledger import Ledger
from lurkcoin.ledger.payments import Rules, price_payment
from lurkcoin.models import Server
from lurkcoin.store.migrate import available_migrations, migrate

bps_values = st.integers(0, MAX_FEE_BPS)
amounts = st.integers(0, 10**15)


def _server(server_id: int, balance: int, target_balance: int, fee_bps: int) -> Server:
    return Server(
        server_id, f"s{server_id}", f"S{server_id}", "server", balance, target_balance,
        None, None, None, 0, 0, None, fee_bps,
    )  # fmt: skip


def _net(postings: list[tuple[int, int]]) -> dict[int, int]:
    net: dict[int, int] = {}
    for account, delta in postings:
        net[account] = net.get(account, 0) + delta
    return net


# -- the pure rule -----------------------------------------------------------------


@given(amounts, bps_values)
def test_the_fee_is_rounded_down_and_never_more_than_its_share(amount: int, bps: int) -> None:
    fee = fee_for(amount, bps)
    assert 0 <= fee <= amount
    # floor(amount * bps / 10000): at most the exact share, less than a cent below it.
    assert fee * 10_000 <= amount * bps < (fee + 1) * 10_000


@given(amounts, bps_values)
def test_a_payment_and_its_refund_conserve_every_cent(amount: int, bps: int) -> None:
    fee = fee_for(amount, bps)
    paid = payment_postings(1, 2, 3, amount, fee)
    assert sum(delta for _, delta in paid) == 0
    assert _net(paid) == {1: -amount, 2: amount - fee, 3: fee}
    # The refund (from the target back to the source) undoes the payment account by account.
    returned = refund_postings(2, 1, 3, amount, fee)
    assert sum(delta for _, delta in returned) == 0
    assert set(_net(paid + returned).values()) == {0}


def test_fee_examples() -> None:
    assert [fee_for(a, 250) for a in (39, 40, 80, 1000, 100_000)] == [0, 1, 2, 25, 2500]
    assert fee_for(1000, 0) == 0 and fee_for(0, 10_000) == 0 and fee_for(1000, 10_000) == 1000
    assert fee_for(1, 10_000) == 1  # the smallest amount pays a whole fee too
    assert fee_for(-400, 250) == 0 and fee_for(400, -250) == 0  # never a negative fee
    assert [describe_fee(b) for b in (0, 1, 25, 150, 10_000)] == [
        "0 bp (0%)",
        "1 bp (0.01%)",
        "25 bp (0.25%)",
        "150 bp (1.5%)",
        "10000 bp (100%)",
    ]
    for bad in (-1, MAX_FEE_BPS + 1):
        with pytest.raises(LurkcoinError) as refused:
            check_fee_bps(bad)
        assert refused.value.code == "ERR_INVALIDREQUEST"
        assert refused.value.message == "An exchange fee is 0 to 10000 basis points."
    check_fee_bps(0)
    check_fee_bps(MAX_FEE_BPS)


@given(
    sent=st.integers(1, 1_500_000),
    local_currency=st.booleans(),
    source=st.tuples(st.integers(0, 10**9), st.sampled_from([0, 1, 50_000, 10**8])),
    target=st.tuples(st.integers(0, 10**9), st.sampled_from([0, 1, 50_000, 10**8])),
    bps=bps_values,
    formula=st.sampled_from(["reference", "integral"]),
)
def test_pricing_takes_the_targets_fee_from_what_it_receives(
    sent: int,
    local_currency: bool,
    source: tuple[int, int],
    target: tuple[int, int],
    bps: int,
    formula: str,
) -> None:
    rules = Rules(formula=formula, max_spend=1_000_000)  # type: ignore[arg-type]
    src = _server(1, source[0], source[1], 0)
    tgt = _server(2, target[0], target[1], bps)
    try:
        priced = price_payment(src, tgt, sent, local_currency, rules)
    except LurkcoinError:
        return  # refused: nothing moves
    assert priced.fee == fee_for(priced.amount, bps)
    assert 0 < priced.amount - priced.fee <= priced.amount <= src.balance
    assert priced.received == from_lurkcoin(
        priced.amount - priced.fee, tgt.balance, tgt.target_balance, rules.formula
    )
    # With no fee, the price is exactly the one before fees existed.
    try:
        free = price_payment(src, _server(2, target[0], target[1], 0), sent, local_currency, rules)
    except LurkcoinError as err:
        # Without the fee more arrives, which may exceed what one payment may deliver
        # (hypothesis found: 7 cents into a target whose rate is 167,000 to 1).
        assert err.code == "ERR_TRANSACTIONLIMIT"
    else:
        assert free.fee == 0 and free.amount == priced.amount
        assert free.received >= priced.received
    # A server paying itself converts nothing and pays no fee, whatever its fee.
    own = _server(1, source[0], source[1], bps)
    try:
        assert price_payment(own, own, sent, local_currency, rules).fee == 0
    except LurkcoinError:
        pass


# -- the ledger ----------------------------------------------------------------------

Step = tuple[int, int, int, bool, str]  # source, target, cents, local currency, then


async def _run_ledger(path: Path, fees: list[int], targets: list[int], steps: list[Step]) -> None:
    config = Config()
    config.database.path = str(path)
    ledger = await Ledger.open(config)
    try:
        servers = []
        for index, (bps, target_balance) in enumerate(zip(fees, targets, strict=True)):
            server, _ = await ledger.create_server(
                f"S{index}", balance=100_000, target_balance=target_balance
            )
            await ledger.set_fee(server, bps)
            servers.append(server)
        for source, target, cents, local, then in steps:
            try:
                t = await ledger.pay(
                    ledger.require_server(servers[source].name),
                    source_user="u",
                    target_user="v",
                    target_server=servers[target].name,
                    amount=cents,
                    local_currency=local,
                )
            except LurkcoinError:
                continue
            receiver = servers[target]
            expected = 0 if source == target else fee_for(t.amount, fees[target])
            assert t.fee == expected
            if then == "reject":
                await ledger.reject(ledger.require_server(receiver.name), [t.id])
            elif then == "ack":
                await ledger.acknowledge(ledger.require_server(receiver.name), [t.id])
        report = await ledger.check()
        assert report.ok, report.problems
        # Every cent issued is held by a server or by the fee account.
        held = sum(s.balance for s in ledger.servers())
        assert held + report.fees_collected == ledger.issued() == 100_000 * len(servers)
        assert report.fees_collected >= 0
    finally:
        await ledger.close()


steps = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.integers(0, 2),
        st.integers(1, 60_000),
        st.booleans(),
        st.sampled_from(["keep", "reject", "ack"]),
    ),
    min_size=1,
    max_size=12,
)


@pytest.mark.sqlite_only  # a ledger per example; the PostgreSQL half has a database per test
@settings(max_examples=25, deadline=None)
@given(
    fees=st.lists(st.sampled_from([0, 1, 33, 250, 999, 5000, 10_000]), min_size=3, max_size=3),
    targets=st.lists(st.sampled_from([0, 5_000, 100_000, 10**7]), min_size=3, max_size=3),
    steps=steps,
)
def test_the_books_balance_with_random_fees_rates_and_refunds(
    fees: list[int], targets: list[int], steps: list[Step]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_run_ledger(Path(tmp) / "fees.db", fees, targets, steps))


async def _pay(ledger: Ledger, source: str, target: str, cents: int) -> str:
    t = await ledger.pay(
        ledger.require_server(source),
        source_user="a",
        target_user="b",
        target_server=target,
        amount=cents,
        local_currency=False,
    )
    return t.id


async def test_fee_postings_go_to_the_fee_account_and_back(ledger: Ledger) -> None:
    await ledger.create_server("Alpha", balance=10_000)
    await ledger.create_server("Bravo", balance=0)
    await ledger.set_fee("Bravo", 250)
    txn_id = await _pay(ledger, "Alpha", "Bravo", 1000)
    t = await ledger.transaction(txn_id)
    assert t is not None and (t.amount, t.fee, t.received_amount) == (1000, 25, 975)
    assert ledger.require_server("alpha").balance == 9000
    assert ledger.require_server("bravo").balance == 975
    assert ledger.fees_collected() == 25
    await ledger.reject(ledger.require_server("bravo"), [txn_id])
    t = await ledger.transaction(txn_id)
    assert t is not None and t.refund_id is not None
    refund = await ledger.transaction(t.refund_id)
    assert refund is not None and (refund.amount, refund.fee) == (1000, 25)
    assert (refund.sent_amount, refund.received_amount) == (975, 1000)
    assert ledger.require_server("alpha").balance == 10_000
    assert ledger.require_server("bravo").balance == 0
    assert ledger.fees_collected() == 0


async def test_a_refund_needs_only_what_reached_the_rejecter(ledger: Ledger) -> None:
    await ledger.create_server("Alpha", balance=10_000)
    await ledger.create_server("Bravo", balance=0)
    await ledger.set_fee("Bravo", 1000)
    txn_id = await _pay(ledger, "Alpha", "Bravo", 1000)
    assert ledger.require_server("bravo").balance == 900  # all it holds
    await ledger.reject(ledger.require_server("bravo"), [txn_id])
    t = await ledger.transaction(txn_id)
    assert t is not None and t.refund_failed is None
    assert ledger.require_server("alpha").balance == 10_000


@pytest.mark.sqlite_only  # reads or edits the SQLite file, or SQLite's own machinery
@pytest.mark.unbalanced_books
async def test_check_names_a_fee_posted_to_the_wrong_side(ledger: Ledger) -> None:
    await ledger.create_server("Alpha", balance=10_000)
    await ledger.create_server("Bravo")
    await ledger.set_fee("Bravo", 500)
    txn_id = await _pay(ledger, "Alpha", "Bravo", 1000)
    assert (await ledger.check()).ok
    # Move a cent of the fee to the target: every sum still balances, the split does not.
    with sqlite3.connect(ledger.store.path) as conn:
        seq = conn.execute("SELECT seq FROM transactions WHERE id = ?", (txn_id,)).fetchone()[0]
        for server_id, delta in ((ledger.store.fees_id, -1), (ledger.server("bravo").id, 1)):  # type: ignore[union-attr]
            conn.execute(
                "UPDATE entries SET delta = delta + ? WHERE txn_seq = ? AND server_id = ?",
                (delta, seq, server_id),
            )
            conn.execute(
                "UPDATE servers SET balance = balance + ? WHERE id = ?", (delta, server_id)
            )
    problems = (await ledger.check()).problems
    assert problems == [f"transaction {txn_id}: its entries are not its source paying its target"]


async def test_setting_a_fee_is_audited_and_checked(ledger: Ledger) -> None:
    await ledger.create_server("Alpha")
    await ledger.set_fee("Alpha", 75)
    assert ledger.require_server("alpha").fee_bps == 75
    entry = (await ledger.audit_entries(limit=1))[0]
    assert entry.action == "set-fee" and entry.before is not None and entry.after is not None
    assert '"fee_bps": 0' in entry.before and '"fee_bps": 75' in entry.after
    for bad in (-1, 10_001):
        with pytest.raises(LurkcoinError):
            await ledger.set_fee("Alpha", bad)
    assert ledger.require_server("alpha").fee_bps == 75


async def test_a_ledger_from_before_fees_migrates_with_everything_at_zero(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    old = tmp_path / "migrations"
    old.mkdir()
    for number, path in available_migrations():
        if number <= 7:
            with as_file(path) as real:
                (old / path.name).write_text(Path(real).read_text())
    conn = sqlite3.connect(db, isolation_level=None)
    migrate(conn, old)  # type: ignore[arg-type]
    conn.close()
    config = Config()
    config.database.path = str(db)
    ledger = await Ledger.open(config)
    try:
        await ledger.create_server("Alpha", balance=1000)
        await ledger.create_server("Bravo")
        assert ledger.require_server("bravo").fee_bps == 0
        fees = ledger.cache.by_id(ledger.store.fees_id)
        issuance = ledger.cache.by_id(ledger.store.issuance_id)
        assert fees is not None and issuance is not None
        assert (fees.uid, fees.kind, fees.balance) == ("@fees", "system", 0)
        assert fees.created_at == issuance.created_at
        assert all(s.uid != "@fees" for s in ledger.servers())  # never a game server
        await ledger.set_fee("Bravo", 2000)
        t = await ledger.transaction(await _pay(ledger, "Alpha", "Bravo", 1000))
        assert t is not None and (t.fee, t.received_amount) == (200, 800)
        assert (await ledger.check()).ok
    finally:
        await ledger.close()


@pytest.mark.sqlite_only  # edits the SQLite file behind the ledger's back
async def test_a_damaged_ledger_without_its_fee_account_refuses_fee_payments_and_says_why(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    await ledger.create_server("Alpha", balance=10_000)
    await ledger.create_server("Bravo", balance=0)
    await ledger.set_fee("Bravo", 250)
    conn = sqlite3.connect(ledger.config.database.path)
    try:
        conn.execute("DELETE FROM servers WHERE uid = '@fees'")  # no postings yet: no FK stops it
        conn.commit()
    finally:
        conn.close()
    with caplog.at_level(logging.ERROR, logger="lurkcoin"), pytest.raises(LurkcoinError) as failed:
        await _pay(ledger, "Alpha", "Bravo", 1000)
    assert failed.value.code == "ERR_INTERNALERROR"
    [record] = [r for r in caplog.records if r.name.startswith("lurkcoin")]
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "the fee account is missing"
    assert ledger.require_server("alpha").balance == 10_000  # nothing moved
