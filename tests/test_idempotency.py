"""The Idempotency-Key header on /v3/pay: a retried payment is never paid twice.

Real app on a real loopback port, real SQLite file; the duplicates arrive
concurrently, and across a restart of the whole server.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from live_server import LiveServer, StartServer, make_config, start_server
from rawhttp import RawResponse, basic_auth, json_body, request

from lurkcoin.config import Config
from lurkcoin.ledger import Ledger
from lurkcoin.ledger.engine import IDEMPOTENCY_KEEP_SECONDS
from lurkcoin.ledger.pay_order import valid_idempotency_key

PAYMENT = {"source": "alice", "target": "bob", "target_server": "Bravo", "amount": 12.34}


async def _open_bank(serve: StartServer, config: Config) -> tuple[LiveServer, dict[str, str]]:
    server = await serve(config)
    tokens = {}
    for name, cents in (("Alpha", 100_000), ("Bravo", 0)):
        _, tokens[name] = await server.ledger.create_server(name, balance=cents)
    return server, tokens


async def _pay(
    port: int, token: str, key: str | None, body: dict[str, Any] = PAYMENT, name: str = "Alpha"
) -> RawResponse:
    headers = {**basic_auth(name, token), "Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return await request(port, "POST", "/v3/pay", headers=headers, body=json_body(body))


async def _get(port: int, name: str, token: str, path: str) -> Any:
    response = await request(port, "GET", path, headers=basic_auth(name, token))
    assert response.status == 200, response.body
    return response.json()["result"]


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path / "idempotency.db", formula="integral")


async def test_concurrent_duplicates_pay_once(serve: StartServer, config: Config) -> None:
    server, tokens = await _open_bank(serve, config)
    replies = await asyncio.gather(
        *[_pay(server.port, tokens["Alpha"], "order-42") for _ in range(20)]
    )
    assert {r.status for r in replies} == {200}
    ids = {r.json()["result"]["id"] for r in replies}
    assert len(ids) == 1
    assert await _get(server.port, "Alpha", tokens["Alpha"], "/v3/balance") == 987.66
    assert await _get(server.port, "Bravo", tokens["Bravo"], "/v3/balance") == 12.34
    history = await _get(server.port, "Alpha", tokens["Alpha"], "/v3/history?limit=500")
    assert [t["id"] for t in history] == list(ids)
    pending = await _get(server.port, "Bravo", tokens["Bravo"], "/v3/pending_transactions")
    assert [t["id"] for t in pending] == list(ids)
    assert (await server.ledger.check()).ok


async def test_same_key_different_body_is_refused(serve: StartServer, config: Config) -> None:
    server, tokens = await _open_bank(serve, config)
    first = await _pay(server.port, tokens["Alpha"], "k1")
    assert first.status == 200
    for changed in (
        {**PAYMENT, "amount": 12.35},
        {**PAYMENT, "target": "carol"},
        {**PAYMENT, "local_currency": True},
    ):
        reply = await _pay(server.port, tokens["Alpha"], "k1", changed)
        assert reply.status == 409
        assert reply.json() == {
            "error": "ERR_IDEMPOTENCYKEYREUSED",
            "message": "This idempotency key was already used with a different request.",
            "success": False,
        }
    # The same request again is still the original payment.
    again = await _pay(server.port, tokens["Alpha"], "k1")
    assert again.json() == first.json()
    assert await _get(server.port, "Alpha", tokens["Alpha"], "/v3/balance") == 987.66


async def test_keys_are_per_server_and_optional(serve: StartServer, config: Config) -> None:
    server, tokens = await _open_bank(serve, config)
    assert (await _pay(server.port, tokens["Alpha"], "shared")).status == 200
    back = {**PAYMENT, "target_server": "Alpha", "amount": 1}
    assert (await _pay(server.port, tokens["Bravo"], "shared", back, name="Bravo")).status == 200
    # Without a key every request is a new payment, as with the reference.
    assert (await _pay(server.port, tokens["Alpha"], None)).status == 200
    assert (await _pay(server.port, tokens["Alpha"], None)).status == 200
    assert await _get(server.port, "Alpha", tokens["Alpha"], "/v3/balance") == 963.98


async def test_failed_payment_does_not_use_up_the_key(serve: StartServer, config: Config) -> None:
    server, tokens = await _open_bank(serve, config)
    too_much = {**PAYMENT, "amount": 2000}
    reply = await _pay(server.port, tokens["Alpha"], "retry-me", too_much)
    assert reply.json()["error"] == "ERR_CANNOTAFFORD"
    assert (await _pay(server.port, tokens["Alpha"], "retry-me")).status == 200


@pytest.mark.parametrize("key", ["", "k" * 256, "tab\tkey", "caf\u00e9"])
async def test_invalid_keys(serve: StartServer, config: Config, key: str) -> None:
    server, tokens = await _open_bank(serve, config)
    reply = await _pay(server.port, tokens["Alpha"], key)
    assert reply.status == 400
    assert reply.json()["error"] == "ERR_INVALIDIDEMPOTENCYKEY"
    assert await _get(server.port, "Alpha", tokens["Alpha"], "/v3/balance") == 1000.0


async def test_longest_valid_key(serve: StartServer, config: Config) -> None:
    server, tokens = await _open_bank(serve, config)
    key = "".join(chr(c) for c in range(0x21, 0x7F)) * 3
    first = await _pay(server.port, tokens["Alpha"], key[:255])
    again = await _pay(server.port, tokens["Alpha"], key[:255])
    assert first.status == 200 and again.json() == first.json()


async def test_key_survives_a_restart(config: Config) -> None:
    server = await start_server(config)
    try:
        _, token = await server.ledger.create_server("Alpha", balance=100_000)
        await server.ledger.create_server("Bravo")
        first = await _pay(server.port, token, "before-crash")
        assert first.status == 200
    finally:
        await server.stop()
    server = await start_server(config)
    try:
        again = await _pay(server.port, token, "before-crash")
        assert again.status == 200
        assert again.json()["result"]["id"] == first.json()["result"]["id"]
        assert await _get(server.port, "Alpha", token, "/v3/balance") == 987.66
        history = await _get(server.port, "Alpha", token, "/v3/history")
        assert len(history) == 1
    finally:
        await server.stop()


@pytest.mark.parametrize(
    "key, valid",
    [
        ("k", True),  # one character is enough
        (" ", True),  # printable ASCII includes the space...
        ("~", True),
        ("a b~", True),
        ("", False),
        ("\x1f", False),  # ...but no control character
        ("\x7f", False),
        ("é", False),
        ("x" * 255, True),
        ("x" * 256, False),
    ],
)
def test_which_idempotency_keys_are_valid(key: str, valid: bool) -> None:
    assert valid_idempotency_key(key) is valid


@pytest.mark.sqlite_only  # reads or edits the SQLite file, or SQLite's own machinery
async def test_keys_older_than_a_day_are_forgotten(ledger: Ledger) -> None:
    alpha, _ = await ledger.create_server("Alpha", balance=1_000)
    await ledger.create_server("Bravo")

    async def pay() -> str:
        t = await ledger.pay(
            alpha,
            source_user="alice",
            target_user="bob",
            target_server="Bravo",
            amount=100,
            local_currency=False,
            idempotency_key="once",
        )
        return t.id

    first = await pay()
    assert await ledger.expire_idempotency_keys() == 0
    assert await pay() == first
    # A day and a second pass (written by another connection, as time would).
    conn = sqlite3.connect(ledger.config.database.path)
    try:
        conn.execute(
            "UPDATE idempotency_keys SET created_at = created_at - ?",
            (IDEMPOTENCY_KEEP_SECONDS + 1,),
        )
        conn.commit()
    finally:
        conn.close()
    assert await ledger.expire_idempotency_keys() == 1
    assert await pay() != first  # the key is new again: a second payment
    assert ledger.require_server("Alpha").balance == 800
