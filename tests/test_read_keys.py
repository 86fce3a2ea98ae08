"""Scoped read-only API keys over HTTP: made, listed and revoked by the token; never able to pay."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from auth_helpers import Bank, Client, basic, key_auth

from lurkcoin.core.errors import LurkcoinError
from lurkcoin.ledger import Ledger
from lurkcoin.ledger.credentials import MAX_KEYS_PER_SERVER, MAX_LABEL_LENGTH

ALL_SCOPES = ["balance", "history", "pending"]
# What each read endpoint needs (the design's table).
READS: list[tuple[str, set[str]]] = [
    ("/v3/summary", {"balance", "history"}),
    ("/v3/balance", {"balance"}),
    ("/v3/history", {"history"}),
    ("/v3/pending_transactions", {"pending"}),
    ("/v3/target_balance", {"balance"}),
    ("/v3/webhook_url", {"balance"}),
]


@pytest.fixture
async def bank(bank: Bank) -> Bank:
    """The shared bank; Alpha has a payment pending from Bravo, a target balance, a webhook."""
    ledger = bank.server.ledger
    bravo = ledger.server("bravo")
    assert bravo is not None
    await ledger.pay(
        bravo,
        source_user="bob",
        target_user="al",
        target_server="Alpha",
        amount=1_000,
        local_currency=False,
    )
    await ledger.set_target_balance("alpha", 500_000)
    await ledger.set_webhook("alpha", "https://game.example/hook", sign=True)
    return bank


async def make_key(client: Client, bank: Bank, scopes: list[str], label: str = "") -> str:
    reply = await client.call(
        "POST", "/v3/api_keys", bank.auth("Alpha"), body={"scopes": scopes, "label": label}
    )
    key: str = reply.result["key"]
    return key


# -- management ----------------------------------------------------------------------


async def test_create_list_and_revoke(bank: Bank) -> None:
    async with bank.client() as client:
        created = (
            await client.call(
                "POST",
                "/v3/api_keys",
                bank.auth("Alpha"),
                body={"scopes": ["history", "balance"], "label": "dashboard"},
            )
        ).result
        assert list(created) == ["id", "key", "prefix", "scopes", "label", "created_at"]
        key = created["key"]
        assert key.startswith("lk_") and key.startswith(created["prefix"])
        assert created["scopes"] == ["balance", "history"] and created["label"] == "dashboard"
        assert isinstance(created["id"], int) and isinstance(created["created_at"], int)
        second = await make_key(client, bank, ["pending"])

        for method in ("GET", "POST"):
            listed = (await client.call(method, "/v3/list_api_keys", bank.auth("Alpha"))).result
            assert [k["id"] for k in listed] == [created["id"], created["id"] + 1]
            assert listed[0] == {k: v for k, v in created.items() if k != "key"}
            assert not any(
                key in str(v) or second in str(v) for entry in listed for v in entry.values()
            )
        assert (await client.call("GET", "/v3/list_api_keys", bank.auth("Bravo"))).result == []

        assert (await client.call("GET", "/v3/balance", key_auth(key))).result == 1010.0
        revoked = await client.call(
            "POST", "/v3/revoke_api_key", bank.auth("Alpha"), body={"id": created["id"]}
        )
        assert revoked.result is None
        gone = await client.call("GET", "/v3/balance", key_auth(key))
        assert (gone.status, gone.error) == (401, "ERR_INVALIDLOGIN")
        listed = (await client.call("GET", "/v3/list_api_keys", bank.auth("Alpha"))).result
        assert [k["id"] for k in listed] == [created["id"] + 1]


@pytest.mark.parametrize(
    "body",
    [
        {"scopes": ["pay"]},
        {"scopes": []},
        {"scopes": "balance"},
        {"scopes": [1]},
        {},
        {"scopes": ["balance"], "label": 5},
        {"scopes": ["balance"], "label": "x" * 101},
    ],
)
async def test_create_refuses_bad_requests(bank: Bank, body: dict[str, Any]) -> None:
    async with bank.client() as client:
        reply = await client.call("POST", "/v3/api_keys", bank.auth("Alpha"), body=body)
        assert (reply.status, reply.error) == (400, "ERR_INVALIDREQUEST")
        assert (await client.call("GET", "/v3/list_api_keys", bank.auth("Alpha"))).result == []


@pytest.mark.parametrize("key_id", ["1", 1.0, True, None, 0, -1, 10**30])
async def test_revoke_refuses_what_is_not_an_id(bank: Bank, key_id: Any) -> None:
    async with bank.client() as client:
        await make_key(client, bank, ["balance"])
        reply = await client.call(
            "POST", "/v3/revoke_api_key", bank.auth("Alpha"), body={"id": key_id}
        )
        assert (reply.status, reply.error) == (400, "ERR_INVALIDREQUEST")


async def test_a_server_cannot_revoke_or_use_another_servers_key(bank: Bank) -> None:
    async with bank.client() as client:
        key = await make_key(client, bank, ["balance"])
        listed = (await client.call("GET", "/v3/list_api_keys", bank.auth("Alpha"))).result
        reply = await client.call(
            "POST", "/v3/revoke_api_key", bank.auth("Bravo"), body={"id": listed[0]["id"]}
        )
        assert (reply.status, reply.error) == (400, "ERR_INVALIDREQUEST")
        assert (await client.call("GET", "/v3/balance", key_auth(key))).result == 1010.0
        # Basic with the key as password works for its own server's name only.
        assert (await client.call("GET", "/v3/balance", basic("ALPHA", key))).result == 1010.0
        other = await client.call("GET", "/v3/balance", basic("Bravo", key))
        assert (other.status, other.error) == (401, "ERR_INVALIDLOGIN")
        # A key is never a token, and a token is never a key.
        token_as_key = await client.call("GET", "/v3/balance", key_auth(bank.tokens["Alpha"]))
        assert token_as_key.status == 401


# -- reading -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scopes", [["balance"], ["history"], ["pending"], ["balance", "history"], ALL_SCOPES]
)
async def test_a_key_reads_what_its_scopes_allow(bank: Bank, scopes: list[str]) -> None:
    async with bank.client() as client:
        key = await make_key(client, bank, scopes)
        for path, needs in READS:
            with_token = await client.call("GET", path, bank.auth("Alpha"))
            for auth in (key_auth(key), basic("Alpha", key)):
                for method in ("GET", "POST"):
                    reply = await client.call(method, path, auth)
                    if needs <= set(scopes):
                        assert reply.body == with_token.body, (path, scopes)
                    else:
                        assert (reply.status, reply.error) == (403, "ERR_FORBIDDEN"), path
                        assert reply.body["message"] == "This key is not allowed to do that."


# -- never writing -------------------------------------------------------------------------


def mutating_calls(pending_id: str) -> list[tuple[str, str, Any]]:
    """Every endpoint that changes state (or manages credentials), with a valid body."""
    ids = {"transactions": [pending_id]}
    return [
        (
            "POST",
            "/v3/pay",
            {"source": "al", "target": "bob", "target_server": "Bravo", "amount": 5},
        ),
        ("POST", "/v3/acknowledge_transactions", ids),
        ("POST", "/v3/reject_transactions", ids),
        ("PUT", "/v3/target_balance", {"target_balance": 7}),
        ("POST", "/v3/set_target_balance", {"target_balance": 7}),
        ("PUT", "/v3/webhook_url", {"webhook_url": "https://evil.example/"}),
        ("POST", "/v3/set_webhook_url", {"webhook_url": None}),
        ("POST", "/v3/regenerate_token", None),
        ("POST", "/v3/rotate_webhook_secret", None),
        ("POST", "/v3/api_keys", {"scopes": ALL_SCOPES}),
        ("POST", "/v3/revoke_api_key", {"id": 1}),
        ("GET", "/v3/list_api_keys", None),
        ("POST", "/v3/list_api_keys", None),
    ]


async def test_a_read_key_can_never_pay_or_change_anything(bank: Bank) -> None:
    ledger = bank.server.ledger
    async with bank.client() as client:
        key = await make_key(client, bank, ALL_SCOPES, "everything it may")
        pending = (await client.call("GET", "/v3/pending_transactions", key_auth(key))).result
        before = {
            "alpha": ledger.server("alpha"),
            "bravo": ledger.server("bravo"),
            "pending": pending,
            "keys": (await client.call("GET", "/v3/list_api_keys", bank.auth("Alpha"))).result,
        }
        calls = mutating_calls(pending[0]["id"])
        assert len(calls) == 13
        for method, path, body in calls:
            for auth in (key_auth(key), basic("Alpha", key)):
                for force_ok in (False, True):
                    headers = {"X-Force-OK": "1"} if force_ok else {}
                    reply = await client.call(method, path, auth, body=body, headers=headers)
                    assert (reply.status, reply.error) == (
                        200 if force_ok else 403,
                        "ERR_FORBIDDEN",
                    ), (method, path)
        after = {
            "alpha": ledger.server("alpha"),
            "bravo": ledger.server("bravo"),
            "pending": (await client.call("GET", "/v3/pending_transactions", key_auth(key))).result,
            "keys": (await client.call("GET", "/v3/list_api_keys", bank.auth("Alpha"))).result,
        }
        assert after == before  # balances, target, webhook, secret, token hashes, queue, keys
        # The same calls with the token do work (the bodies were valid).
        for method, path, body in calls[:1]:
            assert (await client.call(method, path, bank.auth("Alpha"), body=body)).result


async def test_a_forbidden_key_is_not_a_failed_login(bank: Bank) -> None:
    async with bank.client() as client:
        key = await make_key(client, bank, ["balance"])
        for _ in range(30):
            reply = await client.call(
                "POST", "/v3/pay", key_auth(key), body={"target_server": "Bravo", "amount": 1}
            )
            assert reply.status == 403
        assert (await client.call("GET", "/v3/balance", bank.auth("Alpha"))).status == 200


async def test_read_key_limits_are_exact_and_explained(ledger: Ledger) -> None:
    alpha, _ = await ledger.create_server("Alpha")
    bravo, _ = await ledger.create_server("Bravo")
    with pytest.raises(LurkcoinError) as refused:
        await ledger.create_api_key(alpha, ["balance", "pay"])
    assert (refused.value.code, refused.value.message) == (
        "ERR_INVALIDREQUEST",
        "Scopes must be a non-empty subset of balance, history, pending"
        " (the operator grants explorer).",
    )
    await ledger.create_api_key(alpha, ["balance"], "x" * MAX_LABEL_LENGTH)
    with pytest.raises(LurkcoinError) as refused:
        await ledger.create_api_key(alpha, ["balance"], "x" * (MAX_LABEL_LENGTH + 1))
    assert (refused.value.code, refused.value.message) == (
        "ERR_INVALIDREQUEST",
        "The label is too long.",
    )
    # Bravo's keys do not count against Alpha's limit.
    await ledger.create_api_key(bravo, ["history"])
    for _ in range(MAX_KEYS_PER_SERVER - 1):
        await ledger.create_api_key(alpha, ["pending"])
    with pytest.raises(LurkcoinError) as refused:
        await ledger.create_api_key(alpha, ["pending"])
    assert (refused.value.code, refused.value.message) == (
        "ERR_INVALIDREQUEST",
        "Too many API keys; revoke some first.",
    )
    assert len(ledger.api_keys(alpha)) == MAX_KEYS_PER_SERVER
    await ledger.create_api_key(bravo, ["history"])  # Bravo still may


async def test_a_deleted_server_gets_no_read_key(ledger: Ledger) -> None:
    alpha, _ = await ledger.create_server("Alpha")
    await ledger.delete_server("Alpha")
    with pytest.raises(LurkcoinError) as refused:
        await ledger.create_api_key(alpha, ["balance"])
    assert refused.value.code == "ERR_SERVERNOTFOUND"


async def test_only_the_operator_grants_the_explorer_scope(ledger: Ledger) -> None:
    alpha, _ = await ledger.create_server("Alpha")
    with pytest.raises(LurkcoinError):
        await ledger.create_api_key(alpha, ["explorer"])  # a server asking for itself
    key, _ = await ledger.create_api_key(alpha, ["explorer", "balance"], operator=True)
    assert key.scopes == {"explorer", "balance"}
    with pytest.raises(LurkcoinError) as refused:
        await ledger.create_api_key(alpha, ["admin"], operator=True)
    assert refused.value.message == (
        "Scopes must be a non-empty subset of balance, explorer, history, pending."
    )


async def test_the_access_log_names_the_account_a_key_or_a_login_belongs_to(
    bank: Bank, caplog: pytest.LogCaptureFixture
) -> None:
    async with bank.client() as client:
        key = await make_key(client, bank, ["balance"])
        caplog.clear()  # the key's creation is logged too, when INFO is already on
        with caplog.at_level(logging.INFO, logger="lurkcoin.access"):
            assert (await client.call("GET", "/v3/balance", key_auth(key))).status == 200
            assert (await client.call("GET", "/v3/balance", bank.auth("Bravo"))).status == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "lurkcoin.access"]
    assert [line.rsplit(" account=", 1)[1] for line in lines] == ["alpha", "bravo"]
