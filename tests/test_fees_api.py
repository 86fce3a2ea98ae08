"""Exchange fees over the real HTTP API (/v3, /v2, /api), the CLI and the admin console.

Bank: Alpha (¤1,000.00) and Bravo (¤500.00), both at a fixed 1:1 rate, so a
payment's received amount is exactly what reached its target.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from auth_helpers import Bank, bank_config, start_bank
from cli_helpers import Cli
from console_helpers import ConsoleClient, console_config
from live_server import LiveServer, StartServer, start_server
from rawhttp import request

REFERENCE_KEYS = [
    "id",
    "source",
    "source_server",
    "target",
    "target_server",
    "amount",
    "sent_amount",
    "received_amount",
    "time",
    "revertable",
]


@pytest.fixture
async def bank(serve: StartServer, tmp_path: Path) -> Bank:
    return await start_bank(serve, tmp_path)


async def _call(bank: Bank, method: str, path: str, who: str | None, body: Any = None) -> Any:
    async with bank.client() as client:
        auth = bank.auth(who) if who else None
        return await client.call(method, path, auth, body=body)


async def _pay(bank: Bank, who: str, target_server: str, amount: Any, **extra: Any) -> Any:
    body = {"source": "al", "target": "bob", "target_server": target_server, "amount": amount}
    return (await _call(bank, "POST", "/v3/pay", who, {**body, **extra})).result


async def _quote(bank: Bank, source: str, target: str, amount: Any) -> Any:
    body = {"source": source, "target": target, "amount": amount}
    return (await _call(bank, "POST", "/v3/exchange_rates", None, body)).result


async def _balance(bank: Bank, who: str) -> Any:
    return (await _call(bank, "GET", "/v3/balance", who)).result


async def test_without_a_fee_the_transaction_object_is_the_references(bank: Bank) -> None:
    t = await _pay(bank, "Alpha", "Bravo", 10)
    assert list(t) == REFERENCE_KEYS
    assert await _quote(bank, "Alpha", "Bravo", 10) == 10.0
    assert (await bank.server.ledger.check()).fees_collected == 0


async def test_a_fee_is_taken_shown_refunded_and_balanced(bank: Bank) -> None:
    ledger = bank.server.ledger
    await ledger.set_fee("Bravo", 250)  # 2.5%
    t = await _pay(bank, "Alpha", "Bravo", 10)
    assert list(t) == [*REFERENCE_KEYS, "fee"]
    assert (t["amount"], t["sent_amount"], t["fee"], t["received_amount"]) == (
        10.0,
        10.0,
        0.25,
        9.75,
    )
    assert (await _balance(bank, "Alpha"), await _balance(bank, "Bravo")) == (990.0, 509.75)
    # Both sides see the fee in their history and the target in its pending queue.
    for who, path in (("Alpha", "/v3/history"), ("Bravo", "/v3/pending_transactions")):
        listed = (await _call(bank, "GET", path, who)).result
        assert listed[0]["id"] == t["id"] and listed[0]["fee"] == 0.25
    report = await ledger.check()
    assert report.ok and report.fees_collected == 25
    # Rejected: the sender gets everything back, the fee included.
    await _call(bank, "POST", "/v3/reject_transactions", "Bravo", {"transactions": [t["id"]]})
    refund = (await _call(bank, "GET", "/v3/pending_transactions", "Alpha")).result[0]
    assert (refund["amount"], refund["fee"], refund["sent_amount"]) == (10.0, 0.25, 9.75)
    assert refund["received_amount"] == 10.0 and refund["revertable"] is False
    assert (await _balance(bank, "Alpha"), await _balance(bank, "Bravo")) == (1000.0, 500.0)
    report = await ledger.check()
    assert report.ok and report.fees_collected == 0


async def test_the_fee_is_rounded_down_to_the_cent(bank: Bank) -> None:
    await bank.server.ledger.set_fee("Bravo", 250)
    small = await _pay(bank, "Alpha", "Bravo", "0.39")  # 0.975 of a cent: nothing
    assert "fee" not in small and small["received_amount"] == 0.39
    just = await _pay(bank, "Alpha", "Bravo", "0.40")
    assert (just["fee"], just["received_amount"]) == (0.01, 0.39)
    odd = await _pay(bank, "Alpha", "Bravo", "12.34")  # 30.85 cents: 30
    assert (odd["fee"], odd["received_amount"]) == (0.3, 12.04)
    assert (await bank.server.ledger.check()).fees_collected == 31
    # A fee that leaves nothing to deliver refuses the payment, as any such payment.
    await bank.server.ledger.set_fee("Bravo", 10_000)
    body = {"target_server": "Bravo", "amount": 5}
    refused = await _call(bank, "POST", "/v3/pay", "Alpha", body)
    assert refused.error == "ERR_CANNOTPAYNOTHING"
    assert await _balance(bank, "Alpha") == 986.87  # 1000 - 0.39 - 0.40 - 12.34


async def test_only_payments_into_another_servers_currency_pay_its_fee(bank: Bank) -> None:
    ledger = bank.server.ledger
    await ledger.set_fee("Bravo", 1000)
    back = await _pay(bank, "Bravo", "Alpha", 10)  # Alpha charges nothing
    own = await _pay(bank, "Bravo", "bravo", 10)  # to itself: no conversion
    assert "fee" not in back and "fee" not in own
    # A local-currency payment into Bravo pays Bravo's fee on the lurkcoins it is worth.
    await ledger.set_target_balance("Alpha", 50_000)  # Alpha's currency floats
    t = await _pay(bank, "Alpha", "Bravo", 5, local_currency=True)
    amount, fee = round(t["amount"] * 100), round(t["fee"] * 100)
    assert t["sent_amount"] == 5.0 and fee == amount * 1000 // 10_000 > 0
    assert round(t["received_amount"] * 100) == amount - fee
    assert (await ledger.check()).ok


async def test_exchange_rates_quote_what_the_target_would_receive(bank: Bank) -> None:
    ledger = bank.server.ledger
    await ledger.set_fee("Bravo", 250)
    assert await _quote(bank, "Alpha", "Bravo", 10) == 9.75
    assert await _quote(bank, "", "Bravo", 10) == 9.75
    assert await _quote(bank, "Bravo", "", 10) == 10.0  # into lurkcoins: no target
    assert await _quote(bank, "Bravo", "bravo", 10) == 10.0  # the same server
    assert await _quote(bank, "Bravo", "Alpha", 10) == 10.0
    # The quote is the payment's received amount.
    paid = await _pay(bank, "Alpha", "Bravo", 10)
    assert paid["received_amount"] == 9.75


async def test_every_pay_path_takes_the_fee(bank: Bank) -> None:
    ledger = bank.server.ledger
    await ledger.set_fee("Bravo", 500)
    batch = await _call(
        bank,
        "POST",
        "/v3/pay_batch",
        "Alpha",
        {
            "payments": [
                {"target_server": "Bravo", "amount": 2},
                {"target_server": "Bravo", "amount": 4},
            ]
        },
    )
    assert [t["fee"] for t in batch.result] == [0.1, 0.2]
    login = f"name=Alpha&token={quote(bank.tokens['Alpha'], safe='')}"
    v2 = await request(bank.port, "GET", f"/v2/pay?{login}&server=Bravo&target=bob&amount=20")
    assert (v2.status, v2.text) == (200, "Transaction sent!")  # V2 replies are unchanged
    newest = (await _call(bank, "GET", "/v3/history", "Alpha")).result[0]
    assert (newest["amount"], newest["fee"], newest["received_amount"]) == (20.0, 1.0, 19.0)
    # V2's own exchange_rates quotes with the fee too.
    rate = await request(bank.port, "GET", "/v2/exchange_rates?from=Alpha&to=Bravo&amount=20")
    assert rate.text == "19.0"
    report = await ledger.check()
    assert report.ok and report.fees_collected == 130


async def test_the_explorer_shows_fees_and_the_bare_rates(bank: Bank) -> None:
    ledger = bank.server.ledger
    await ledger.set_fee("Bravo", 250)
    await _pay(bank, "Alpha", "Bravo", 100)
    stats = (await _call(bank, "GET", "/api/stats.json", None)).result
    assert stats["fees_collected"] == 2.5
    assert stats["circulation"] == 1497.5 and stats["issued"] == 1500.0
    rates = {
        r["uid"]: r
        for r in (await _call(bank, "GET", "/api/exchange_rates.json", None)).result["rates"]
    }
    assert (rates["bravo"]["fee_bps"], rates["alpha"]["fee_bps"]) == (250, 0)
    assert rates["bravo"]["to_local"] == 1.0  # the rate before the fee
    server = (await _call(bank, "GET", "/api/servers/Bravo.json", None)).result["server"]
    assert server["fee_bps"] == 250


async def test_the_explorer_page_shows_a_transactions_fee(
    serve: StartServer, tmp_path: Path
) -> None:
    config = bank_config(tmp_path / "public.db")
    config.explorer.public_transactions = True
    server = await serve(config)
    alpha, _ = await server.ledger.create_server("Alpha", balance=10_000)
    await server.ledger.create_server("Bravo")
    await server.ledger.set_fee("Bravo", 100)
    t = await server.ledger.pay(
        alpha, source_user="a", target_user="", target_server="Bravo", amount=5000,
        local_currency=False,
    )  # fmt: skip
    page = await request(server.port, "GET", f"/explorer/transactions/{t.id}")
    assert page.status == 200 and '<td id="fee">¤0.50 (to the fee account)</td>' in page.text
    overview = await request(server.port, "GET", "/explorer/")
    assert '<dd id="fees-collected">¤0.50</dd>' in overview.text


# -- the CLI -------------------------------------------------------------------------------


def test_cli_set_fee(cli: Cli) -> None:
    cli.create("Alpha")
    out = cli.ok("set-fee", "alpha", "25")
    assert out == "Exchange fee of 'Alpha' is now 25 bp (0.25%) (was 0 bp (0%)).\n"
    server = cli.server("alpha")
    assert server is not None and server.fee_bps == 25
    for bad in ("10001", "-1", "1.5", "abc", "", "٣"):
        err = cli("set-fee", "alpha", bad).assert_one_error_line()
        assert "basis points from 0 to 10000" in err, err
    assert "no server named" in cli("set-fee", "nobody", "5").assert_one_error_line()
    assert cli.ok("set-fee", "alpha", "0").startswith("Exchange fee of 'Alpha' is now 0 bp")
    assert "Exchange fees collected: ¤0.00" in cli.ok("check")
    assert "set-fee" in cli.ok("audit", "show")


# -- the console ---------------------------------------------------------------------------


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[LiveServer]:
    server = await start_server(console_config(tmp_path / "ledger.db"))
    yield server
    await server.stop()


async def _signed_in(site: LiveServer, user: str) -> ConsoleClient:
    client = ConsoleClient(site.url)
    assert (await client.login(user)).status == 200
    return client


async def test_console_sets_the_fee_and_shows_what_it_collected(site: LiveServer) -> None:
    ledger = site.ledger
    await ledger.create_server("Alpha", balance=10_000)
    await ledger.create_server("Bravo")
    olga = await _signed_in(site, "olga")  # an operator
    victor = await _signed_in(site, "victor")  # a viewer
    try:
        for bad in ("abc", "10001", "-5", "2.5"):
            page = await olga.post("/admin/servers/bravo/fee", {"fee_bps": bad})
            assert page.status == 400 and "is not an exchange fee" in page.text, bad
        assert (await victor.post("/admin/servers/bravo/fee", {"fee_bps": "5"})).status == 403
        assert ledger.require_server("bravo").fee_bps == 0
        page = await olga.post("/admin/servers/bravo/fee", {"fee_bps": "150"}, follow=True)
        assert page.status == 200 and "Exchange fee set." in page.text
        assert '<dd id="fee">150 bp (1.5%)</dd>' in page.text
        assert ledger.require_server("bravo").fee_bps == 150
        entry = (await ledger.audit_entries(limit=1))[0]
        assert (entry.action, entry.actor, entry.subject) == ("set-fee", "olga", "Bravo")
        await ledger.pay(
            ledger.require_server("alpha"),
            source_user="a",
            target_user="b",
            target_server="Bravo",
            amount=2000,
            local_currency=False,
        )
        dashboard = await victor.get("/admin/")
        assert '<dd id="fees-collected">¤0.30</dd>' in dashboard.text
        history = await victor.get("/admin/servers/bravo")
        assert "<small>fee ¤0.30</small>" in history.text
        exported = (await victor.get("/admin/transactions.csv")).text.splitlines()
        assert exported[0].endswith(",refund_failed,fee") and exported[1].endswith(",0.3")
        assert (await ledger.check()).ok
    finally:
        await olga.close()
        await victor.close()
