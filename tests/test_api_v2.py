"""lurkcoinV2 beside /v3 on one ledger: mixed use, and every /v3 check applies to V2 too.

A real app on a loopback port over a real SQLite file; the ledger's invariant
check (what ``lurkcoin check`` runs) must stay clean after every step.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from auth_helpers import Bank, bank_config, start_bank
from live_server import StartServer, start_server_with
from rawhttp import RawResponse, basic_auth, request
from webhook_helpers import BODY, Receiver, webhook_config

from lurkcoin.api.app_keys import LEDGER_KEY
from lurkcoin.core.legacy_text import legacy_id
from lurkcoin.ledger import Ledger
from lurkcoin.webhooks import webhook_context

TEXT = "text/plain; charset=utf-8"
JSON = "application/json; charset=utf-8"
FORM_TYPE = {"Content-Type": "application/x-www-form-urlencoded"}


def query(**params: str) -> str:
    return "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())


async def v2(
    port: int, endpoint: str, headers: dict[str, str] | None = None, **params: str
) -> RawResponse:
    return await request(port, "GET", f"/v2/{endpoint}?{query(**params)}", headers=headers)


async def v3(
    port: int, method: str, path: str, auth: dict[str, str], body: Any = None
) -> dict[str, Any]:
    raw = None if body is None else json.dumps(body).encode()
    response = await request(port, method, path, headers=auth, body=raw)
    reply: dict[str, Any] = response.json()
    return reply


async def assert_clean(ledger: Ledger) -> None:
    report = await ledger.check()
    assert report.ok, report.problems


def login(bank: Bank, name: str) -> dict[str, str]:
    return {"name": name, "token": bank.tokens[name]}


# -- mixed use -----------------------------------------------------------------------------


async def test_payments_cross_between_v2_and_v3(serve: StartServer, tmp_path: Path) -> None:
    bank = await start_bank(serve, tmp_path)
    ledger, port = bank.server.ledger, bank.port
    alpha_v3, bravo_v3 = (
        basic_auth("Alpha", bank.tokens["Alpha"]),
        basic_auth("Bravo", bank.tokens["Bravo"]),
    )

    # A V2 payment shows up in V3's pending list and history, and V3 acknowledges it.
    sent = await v2(
        port,
        "pay",
        **login(bank, "Alpha"),
        amount="12.34",
        server="bravo",
        source="ann",
        target="bob",
    )
    assert (sent.status, sent.text) == (200, "Transaction sent!")
    await assert_clean(ledger)
    pending = (await v3(port, "GET", "/v3/pending_transactions", bravo_v3))["result"]
    assert [(t["source"], t["target"], t["amount"], t["revertable"]) for t in pending] == [
        ("ann", "bob", 12.34, True)
    ]
    history = (await v3(port, "GET", "/v3/history", alpha_v3))["result"]
    assert history[0]["id"] == pending[0]["id"]
    acked = await v3(
        port, "POST", "/v3/acknowledge_transactions", bravo_v3, {"transactions": [pending[0]["id"]]}
    )
    assert acked == {"result": None, "success": True}
    await assert_clean(ledger)
    listed = await v2(port, "get_transactions", **login(bank, "Bravo"))
    assert listed.json() == []

    # A V3 payment shows up in V2's get_transactions and history; V2 removes it.
    paid = await v3(
        port,
        "POST",
        "/v3/pay",
        bravo_v3,
        {"target_server": "Alpha", "amount": 5, "source": "bob", "target": "al"},
    )
    txn = paid["result"]
    await assert_clean(ledger)
    listed = await v2(port, "get_transactions", **login(bank, "Alpha"))
    assert listed.json() == [
        [
            legacy_id(txn["id"]),
            "al",
            5.0,
            f'[{txn["id"]}] ¤5.00 (sent 5.00, received 5.00) - Transaction from "bob" on '
            f'"Bravo" to "al" on "Alpha".',
        ]
    ]
    lines = (await v2(port, "history", **login(bank, "Alpha"))).text.split("\n")
    assert lines[:2] == [
        "¤992.66: +¤5.00 - Transaction from 'Bravo' to 'al'.",
        "¤987.66: -¤12.34 - Transaction to 'bob' on 'Bravo'.",
    ]
    removed = await v2(port, "remove_transactions", **login(bank, "Alpha"), amount="1")
    assert (removed.status, removed.text) == (200, "Done!")
    assert (await v3(port, "GET", "/v3/pending_transactions", alpha_v3))["result"] == []
    await assert_clean(ledger)

    # Balances agree across both APIs; a V2 payment rejected over V3 is refunded.
    assert (await v2(port, "bal", **login(bank, "Alpha"))).text == "992.66"
    assert (await v3(port, "GET", "/v3/balance", alpha_v3))["result"] == 992.66
    await v2(port, "pay", **login(bank, "Alpha"), amount="1", server="Bravo", target="bob")
    pending = (await v3(port, "GET", "/v3/pending_transactions", bravo_v3))["result"]
    await v3(
        port, "POST", "/v3/reject_transactions", bravo_v3, {"transactions": [pending[0]["id"]]}
    )
    assert (await v2(port, "bal", **login(bank, "Alpha"))).text == "992.66"
    await assert_clean(ledger)

    # The V2 multiplier is V3's target balance, both ways, audited as the server's change.
    await v2(port, "set_exchange_multiplier", **login(bank, "Bravo"), multiplier="0.25")
    assert (await v3(port, "GET", "/v3/target_balance", bravo_v3))["result"] == 125000.0
    entry = (await ledger.audit_entries(limit=1))[0]
    assert (entry.actor, entry.address, entry.action) == (
        "server:Bravo",
        "127.0.0.1",
        "set-target-balance",
    )
    await v3(port, "PUT", "/v3/target_balance", bravo_v3, {"target_balance": 1000000})
    assert (await v2(port, "get_exchange_multiplier", **login(bank, "Bravo"))).text == "2"
    await assert_clean(ledger)


async def test_remove_transactions_reads_count_when_amount_is_absent(
    serve: StartServer, tmp_path: Path
) -> None:
    """The 2020 Minetest mod sends count=N; the reference ignored it and removed one."""
    bank = await start_bank(serve, tmp_path)
    for cents in (100, 200, 300, 400):
        await v2(
            bank.port,
            "pay",
            **login(bank, "Bravo"),
            amount=str(cents / 100),
            server="alpha",
            target="al",
        )
    await v2(bank.port, "remove_transactions", **login(bank, "Alpha"), count="2")
    left = (await v2(bank.port, "get_transactions", **login(bank, "Alpha"))).json()
    assert [entry[2] for entry in left] == [3.0, 4.0]
    # amount wins over count.
    await v2(bank.port, "remove_transactions", **login(bank, "Alpha"), amount="1", count="5")
    left = (await v2(bank.port, "get_transactions", **login(bank, "Alpha"))).json()
    assert [entry[2] for entry in left] == [4.0]
    await assert_clean(bank.server.ledger)


async def test_min_version_3_turns_v2_off(serve: StartServer, tmp_path: Path) -> None:
    config = bank_config(tmp_path / "v3only.db")
    config.api.min_version = 3
    server = await serve(config)
    _, token = await server.ledger.create_server("Alpha", balance=100)
    for method in ("GET", "POST"):
        reply = await request(server.port, method, f"/v2/bal?name=Alpha&token={token}")
        assert (reply.status, reply.header("Content-Type"), reply.text) == (
            404,
            TEXT,
            "404 page not found\n",
        )
    v3_reply = await request(server.port, "GET", "/v3/balance", headers=basic_auth("Alpha", token))
    assert v3_reply.json() == {"result": 1.0, "success": True}


# -- the /v3 checks apply to V2 --------------------------------------------------------------


@pytest.fixture
async def bank(serve: StartServer, tmp_path: Path) -> Bank:
    return await start_bank(serve, tmp_path, failures_per_address=4, failures_per_account=1000)


async def test_a_read_only_key_reads_but_never_changes_anything(bank: Bank) -> None:
    ledger = bank.server.ledger
    alpha = ledger.server("alpha")
    assert alpha is not None
    _, key = await ledger.create_api_key(alpha, ["balance", "history", "pending"])
    _, balance_only = await ledger.create_api_key(alpha, ["balance"])
    creds = {"name": "Alpha", "token": key}
    for endpoint in ("summary", "bal", "history", "get_transactions", "get_exchange_multiplier"):
        reply = await v2(bank.port, endpoint, **creds)
        assert reply.status == 200, (endpoint, reply.text)
    writes = [
        ("pay", {"amount": "1", "server": "Bravo", "target": "bob"}),
        ("set_exchange_multiplier", {"multiplier": "2"}),
        ("remove_transactions", {"amount": "5"}),
    ]
    for endpoint, params in writes:
        for force in ({}, {"force_200": "200"}):
            reply = await v2(bank.port, endpoint, **creds, **params, **force)
            assert (reply.status, reply.header("Content-Type"), reply.text) == (
                200 if force else 403,
                TEXT,
                "ERROR: This key is not allowed to do that.",
            )
    history = await v2(bank.port, "history", name="Alpha", token=balance_only)
    assert (history.status, history.text) == (403, "ERROR: This key is not allowed to do that.")
    # The key belongs to Alpha only.
    other = await v2(bank.port, "bal", name="Bravo", token=key)
    assert (other.status, other.text) == (401, "ERROR: Invalid login!")
    after = ledger.server("alpha")
    assert after is not None and (after.balance, after.target_balance) == (100_000, 0)
    assert (await v2(bank.port, "bal", **creds)).text == "1000.0"
    await assert_clean(ledger)


async def test_failed_v2_logins_are_throttled_with_v3_ones(bank: Bank) -> None:
    """Four failures from one address, over either API, block its logins on both."""
    alpha_v3 = basic_auth("Alpha", "wrong")
    assert (await request(bank.port, "GET", "/v3/balance", headers=alpha_v3)).status == 401
    assert (await request(bank.port, "GET", "/v3/balance", headers=alpha_v3)).status == 401
    assert (await v2(bank.port, "bal", name="Alpha", token="nope")).status == 401
    assert (await v2(bank.port, "pay", name="Alpha", token="nope", amount="1")).status == 401
    blocked = await v2(bank.port, "bal", **login(bank, "Alpha"))
    assert (blocked.status, blocked.header("Content-Type")) == (429, TEXT)
    assert blocked.text == "ERROR: Too many failed login attempts. Try again later."
    assert int(blocked.header("Retry-After") or 0) >= 1
    right_v3 = basic_auth("Alpha", bank.tokens["Alpha"])
    assert (await request(bank.port, "GET", "/v3/balance", headers=right_v3)).status == 429


async def test_v2_pay_honours_idempotency_keys_shared_with_v3(bank: Bank) -> None:
    key = {"Idempotency-Key": "order-17"}
    params = {**login(bank, "Alpha"), "amount": "3", "server": "Bravo", "target": "bob"}
    for _ in range(2):
        reply = await v2(bank.port, "pay", headers=key, **params)
        assert (reply.status, reply.text) == (200, "Transaction sent!")
    assert len((await v2(bank.port, "get_transactions", **login(bank, "Bravo"))).json()) == 1
    # The same key over /v3 with the same payment is the same payment.
    body = {"target_server": "bravo", "amount": 3, "target": "bob"}
    same = await request(
        bank.port,
        "POST",
        "/v3/pay",
        headers={**basic_auth("Alpha", bank.tokens["Alpha"]), **key},
        body=json.dumps(body).encode(),
    )
    assert same.json()["success"] is True
    assert len((await v2(bank.port, "get_transactions", **login(bank, "Bravo"))).json()) == 1
    changed = await v2(bank.port, "pay", headers=key, **{**params, "amount": "4"})
    assert (changed.status, changed.text) == (
        409,
        "ERROR: This idempotency key was already used with a different request.",
    )
    bad = await v2(bank.port, "pay", headers={"Idempotency-Key": "é" * 3}, **params)
    assert (bad.status, bad.text) == (400, "ERROR: Invalid idempotency key.")
    assert (await v2(bank.port, "bal", **login(bank, "Alpha"))).text == "997.0"
    await assert_clean(bank.server.ledger)


async def test_login_replies_are_not_cached_and_tokens_stay_out_of_logs(
    bank: Bank, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    ok = await v2(bank.port, "bal", **login(bank, "Alpha"))
    assert ok.header("Cache-Control") == "no-store"
    secret = "s3cret-token-value"
    await v2(bank.port, "bal", name="Alpha", token=secret)
    access = [r for r in caplog.records if r.name == "aiohttp.access"]
    assert len(access) == 2 and "token=<hidden>" in access[1].getMessage()
    # A client that sends its token as the name: our own log lines do not name it.
    await v2(bank.port, "bal", name=secret, token=secret)
    ours = [r for r in caplog.records if r.name == "lurkcoin.api.auth"]
    assert len(ours) == 2, "the failed logins were not logged"
    assert all(secret not in r.getMessage() for r in ours)
    assert all(secret not in r.getMessage().partition("name=")[0] for r in caplog.records)
    quote_only = await v2(bank.port, "exchange_rates", amount="1")
    assert quote_only.header("Cache-Control") is None


# -- webhooks and the router -----------------------------------------------------------------


async def test_a_v2_payment_notifies_the_payees_webhook(tmp_path: Path, receiver: Receiver) -> None:
    config = webhook_config(tmp_path)
    server = await start_server_with(config, None, [webhook_context(LEDGER_KEY)])
    try:
        ledger = server.ledger
        _, token = await ledger.create_server("Alpha", balance=1_000)
        await ledger.create_server("Bravo", webhook_url=receiver.url)
        reply = await v2(
            server.port, "pay", name="Alpha", token=token, amount="2", server="Bravo", target="bob"
        )
        assert (reply.status, reply.text) == (200, "Transaction sent!")
        [delivery] = await receiver.wait_for(1, timeout=5.0)
        assert (delivery.method, delivery.path, delivery.body) == ("POST", "/hook/lurkcoin", BODY)
        # No target user: nothing enters the pending queue, so nobody is notified.
        await v2(server.port, "pay", name="Alpha", token=token, amount="1", server="Bravo")
        await asyncio.sleep(0.3)
        assert len(receiver.requests) == 1
        await assert_clean(ledger)
    finally:
        await server.stop()


async def test_the_router_answers_v2_paths_as_the_reference(bank: Bank) -> None:
    head = await request(bank.port, "HEAD", "/v2/bal")
    assert (head.status, head.header("Allow")) == (405, "GET, OPTIONS, POST")
    options = await request(bank.port, "OPTIONS", "/v2/pay")
    assert (options.status, options.header("Allow"), options.body) == (
        200,
        "GET, OPTIONS, POST",
        b"",
    )
    for path, status in (("/v2/bal/?name=a", 301), ("/V2/BAL?name=a", 301)):
        moved = await request(bank.port, "GET", path)
        assert (moved.status, moved.header("Location")) == (status, "/v2/bal?name=a")
    posted = await request(bank.port, "POST", "/v2/Pay", headers=FORM_TYPE, body=b"amount=1")
    assert (posted.status, posted.header("Location")) == (307, "/v2/pay")
    missing = await request(bank.port, "GET", "/v2/balance")
    assert (missing.status, missing.text) == (404, "404 page not found\n")


async def test_v2_payments_and_errors_are_counted_in_the_metrics(bank: Bank) -> None:
    """A forced (HTTP 200) V2 error is still an error in the metrics."""
    await v2(bank.port, "pay", **login(bank, "Alpha"), amount="1", server="Bravo", target="b")
    await v2(bank.port, "pay", **login(bank, "Alpha"), amount="x", force_200="200")
    page = (await request(bank.port, "GET", "/metrics")).text
    assert 'lurkcoin_payments_total{result="ok"} 1.0' in page
    assert 'lurkcoin_payments_total{result="ERR_INVALIDAMOUNT"} 1.0' in page
    assert 'lurkcoin_api_errors_total{code="ERR_INVALIDAMOUNT"} 1.0' in page
    assert "tok" not in page.replace("token", "")  # no token, no query string in any label
