"""POST /v3/pay_batch over HTTP: all payments or none, the first failure named, one key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from auth_helpers import Bank, start_bank
from live_server import StartServer


@pytest.fixture
async def bank(serve: StartServer, tmp_path: Path) -> Bank:
    return await start_bank(serve, tmp_path)


def pay(target: str, amount: Any, **extra: Any) -> dict[str, Any]:
    return {"source": "al", "target": target, "target_server": "Bravo", "amount": amount, **extra}


async def _state(bank: Bank) -> tuple[Any, Any, list[str], int]:
    """Both balances, Bravo's pending ids and the length of Alpha's history."""
    async with bank.client() as client:
        alpha = (await client.call("GET", "/v3/balance", bank.auth("Alpha"))).result
        bravo = (await client.call("GET", "/v3/balance", bank.auth("Bravo"))).result
        pending = (await client.call("GET", "/v3/pending_transactions", bank.auth("Bravo"))).result
        history = (await client.call("GET", "/v3/history", bank.auth("Alpha"))).result
    return alpha, bravo, sorted(t["id"] for t in pending), len(history)


async def _batch(bank: Bank, body: Any, headers: dict[str, str] | None = None) -> Any:
    async with bank.client() as client:
        return await client.call(
            "POST", "/v3/pay_batch", bank.auth("Alpha"), body=body, headers=headers
        )


async def test_a_batch_pays_each_payment_as_its_own_transaction(bank: Bank) -> None:
    reply = await _batch(bank, {"payments": [pay("bob", 10), pay("", 2.5), pay("cy", "1.25")]})
    done = reply.result
    assert [t["amount"] for t in done] == [10, 2.5, 1.25]
    assert [t["target"] for t in done] == ["bob", "", "cy"]
    assert len({t["id"] for t in done}) == 3
    alpha, bravo, pending, history = await _state(bank)
    assert (alpha, bravo) == (1000 - 13.75, 500 + 13.75)
    # The payment to nobody settles at once; the others wait in Bravo's queue.
    assert pending == sorted([done[0]["id"], done[2]["id"]])
    assert history == 3
    assert (await bank.server.ledger.check()).ok


async def test_the_first_failure_undoes_the_whole_batch(bank: Bank) -> None:
    before = await _state(bank)
    # Payment 1 cannot be afforded once payment 0 is made; payment 2 is malformed too.
    reply = await _batch(bank, {"payments": [pay("bob", 600), pay("bob", 600), pay("x", "abc")]})
    assert reply.status == 400
    assert reply.body == {
        "error": "ERR_CANNOTAFFORD",
        "index": 1,
        "message": "Payment 1: You cannot afford to do that!",
        "success": False,
    }
    assert await _state(bank) == before
    assert (await bank.server.ledger.check()).ok


@pytest.mark.parametrize(
    ("payments", "index", "code"),
    [
        ([pay("bob", 1), pay("bob", "abc")], 1, "ERR_INVALIDREQUEST"),
        ([pay("bob", 1), {"target_server": "Bravo"}], 1, "ERR_INVALIDAMOUNT"),
        ([pay("bob", 1), pay("bob", 0)], 1, "ERR_CANNOTPAYNOTHING"),
        ([pay("bob", 1), pay("bob", 10001)], 1, "ERR_TRANSACTIONLIMIT"),
        ([pay("bob", 1), pay("bob", 1, target_server="Nowhere")], 1, "ERR_SERVERNOTFOUND"),
        ([pay("b" * 49, 1), pay("bob", "abc")], 0, "ERR_USERNAMETOOLONG"),
        ([pay("bob", 1), "not an object"], 1, "ERR_INVALIDREQUEST"),
        ([pay("bob", 1), pay("bob", 1, local_currency="yes")], 1, "ERR_INVALIDREQUEST"),
    ],
)
async def test_each_payment_is_checked_as_pay_checks_it(
    bank: Bank, payments: list[Any], index: int, code: str
) -> None:
    before = await _state(bank)
    reply = await _batch(bank, {"payments": payments})
    assert (reply.body["error"], reply.body["index"]) == (code, index)
    assert await _state(bank) == before


@pytest.mark.parametrize(
    "body",
    [
        {"payments": []},
        {"payments": [pay("bob", 1)] * 101},
        {"payments": {"0": pay("bob", 1)}},
        {"Payments": [pay("bob", 1)], "payments": [pay("bob", 1)]},
        {},
    ],
)
async def test_a_batch_that_is_not_a_list_of_1_to_100_is_invalid(bank: Bank, body: Any) -> None:
    reply = await _batch(bank, body)
    assert reply.status == 400 and reply.error == "ERR_INVALIDREQUEST"


async def test_a_hundred_payments_fit_and_a_huge_body_does_not(bank: Bank) -> None:
    long_name = "é" * 48
    hundred = [pay(long_name, "0.01", source=long_name) for _ in range(100)]
    assert len(json.dumps({"payments": hundred})) > 4096
    assert len((await _batch(bank, {"payments": hundred})).result) == 100
    huge = await _batch(bank, {"payments": hundred, "padding": "x" * 70000})
    assert huge.status == 413 and huge.error == "ERR_PAYLOADTOOLARGE"
    assert (await bank.server.ledger.check()).ok


async def test_one_idempotency_key_covers_the_batch(bank: Bank) -> None:
    body = {"payments": [pay("bob", 10), pay("cy", 5)]}
    key = {"Idempotency-Key": "batch-1"}
    first = (await _batch(bank, body, key)).result
    again = (await _batch(bank, body, key)).result
    assert again == first
    alpha, _, pending, _ = await _state(bank)
    assert alpha == 985 and len(pending) == 2
    other = await _batch(bank, {"payments": [pay("bob", 10)]}, key)
    assert other.status == 409 and other.error == "ERR_IDEMPOTENCYKEYREUSED"
    # A key of /v3/pay is not a batch's, and the other way round.
    async with bank.client() as client:
        single = await client.call(
            "POST", "/v3/pay", bank.auth("Alpha"), body=pay("bob", 10), headers=key
        )
    assert single.status == 409
    failed = await _batch(bank, {"payments": [pay("bob", 5000)]}, {"Idempotency-Key": "k2"})
    assert failed.body["error"] == "ERR_CANNOTAFFORD"
    retried = await _batch(bank, {"payments": [pay("bob", 1)]}, {"Idempotency-Key": "k2"})
    assert len(retried.result) == 1  # a failed batch keeps no key
    assert (await bank.server.ledger.check()).ok


async def test_errors_keep_their_index_with_force_ok_and_need_the_token(bank: Bank) -> None:
    reply = await _batch(bank, {"payments": [pay("bob", 0)]}, {"X-Force-OK": "true"})
    assert reply.status == 200 and reply.body["index"] == 0
    async with bank.client() as client:
        anonymous = await client.call("POST", "/v3/pay_batch", body={"payments": [pay("b", 1)]})
    assert anonymous.status == 401 and anonymous.error == "ERR_INVALIDLOGIN"
