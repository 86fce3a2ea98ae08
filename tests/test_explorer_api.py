"""The explorer API: servers, rates, validation errors, privacy and the HTTP headers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from auth_helpers import basic, key_auth
from explorer_helpers import Api, fill
from live_server import StartServer, make_config

from lurkcoin.config import Config

MakeApi = Callable[..., Awaitable[Api]]


@pytest.fixture
async def make_api(serve: StartServer, tmp_path: Path) -> AsyncIterator[MakeApi]:
    sessions: list[aiohttp.ClientSession] = []

    async def make(**explorer: Any) -> Api:
        config: Config = make_config(tmp_path / f"explorer{len(sessions)}.db", formula="integral")
        config.explorer.rate_limit = 1_000_000
        for key, value in explorer.items():
            setattr(config.explorer, key, value)
        server = await serve(config)
        await fill(server.ledger)
        sessions.append(aiohttp.ClientSession())
        return Api(server, sessions[-1])

    yield make
    for session in sessions:
        await session.close()


# -- servers and rates ----------------------------------------------------------------


async def test_servers_rank_filter_sort_and_page(make_api: MakeApi) -> None:
    api = await make_api(public_transactions=True)
    result = await api.ok("/api/servers.json")
    rows = result["servers"]
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert [r["name"] for r in rows] == ["Charlie", "Bravo", "Alpha"]  # richest first
    assert result["pagination"] == {"page": 1, "limit": 100, "total": 3, "total_pages": 1}
    charlie = rows[0]
    assert charlie["pending_count"] == 5  # 12 paid, 4 acknowledged, 3 rejected
    assert charlie["fixed_rate"] is False and charlie["last_activity"] is not None
    alpha = rows[2]
    assert alpha["fixed_rate"] is True
    assert alpha["exchange_rate"] == {"to_local": 1.0, "to_lurkcoin": 1.0}

    # Both sort forms, and the default direction per field.
    dingo = await api.ok("/api/servers.json", sort="balance", order="asc")
    duco = await api.ok("/api/servers.json", sort="balance:asc")
    assert dingo == duco
    assert [r["name"] for r in duco["servers"]] == ["Alpha", "Bravo", "Charlie"]
    by_name = await api.ok("/api/servers.json", sort="name")
    assert [r["name"] for r in by_name["servers"]] == ["Alpha", "Bravo", "Charlie"]
    by_pending = await api.ok("/api/servers.json", sort="pending_count")
    assert by_pending["servers"][0]["name"] == "Charlie"

    fixed = await api.ok("/api/servers.json", fixed_rate=True)
    assert [r["name"] for r in fixed["servers"]] == ["Alpha"]
    floating = await api.ok("/api/servers.json", fixed_rate=False, min_balance="15000")
    assert [r["name"] for r in floating["servers"]] == ["Charlie", "Bravo"]
    capped = await api.ok("/api/servers.json", max_balance="15000.00")
    assert [r["name"] for r in capped["servers"]] == ["Alpha"]
    active = await api.ok("/api/servers.json", active=True)
    assert len(active["servers"]) == 3  # every one has a live payment today
    assert (await api.ok("/api/servers.json", active=False))["servers"] == []

    page2 = await api.ok("/api/servers.json", limit=2, page=2)
    assert [r["name"] for r in page2["servers"]] == ["Alpha"]
    assert page2["pagination"] == {"page": 2, "limit": 2, "total": 3, "total_pages": 2}


async def test_one_server_shows_recent_transactions_when_public(make_api: MakeApi) -> None:
    api = await make_api(public_transactions=True)
    result = await api.ok("/api/servers/CHARLIE.json")
    assert result["server"]["name"] == "Charlie"
    recent = result["recent_transactions"]
    assert len(recent) == 10
    assert all("Charlie" in (t["source_server"], t["target_server"]) for t in recent)
    daily = result["daily"]
    assert len(daily) == 30
    # Charlie received all 12 live payments today (rejections refund from it).
    assert daily[-1]["received_count"] == 12 and daily[-1]["sent_count"] == 3
    body = await api.error("/api/servers/nobody.json", 404)
    assert body["error"] == "ERR_NOTFOUND" and body["details"].startswith("name:")


async def test_exchange_rates_cover_every_server(make_api: MakeApi) -> None:
    api = await make_api()
    result = await api.ok("/api/exchange_rates.json")
    assert [r["uid"] for r in result["rates"]] == ["alpha", "bravo", "charlie"]
    bravo = result["rates"][1]
    assert bravo["fixed_rate"] is False
    assert bravo["to_local"] > 0 and bravo["to_lurkcoin"] > 0


# -- validation -------------------------------------------------------------------------

BAD_QUERIES = [
    ("/api/transactions.json", {"limit": "0"}, "limit: expected a whole number from 1 to 500"),
    ("/api/transactions.json", {"limit": "501"}, "limit: expected a whole number from 1 to 500"),
    ("/api/transactions.json", {"limt": "5"}, "limt: unknown parameter; expected one of: server"),
    ("/api/transactions.json", {"status": "done"}, "status: invalid value; expected 'pending'"),
    ("/api/transactions.json", {"sort": "size"}, "sort: invalid field; expected 'time' | 'amount'"),
    ("/api/transactions.json", {"sort": "time:up"}, "sort: invalid direction"),
    ("/api/transactions.json", {"sort": "time:asc", "order": "desc"}, "order: contradicts"),
    ("/api/transactions.json", {"order": "random"}, "order: invalid value; expected 'asc'"),
    ("/api/transactions.json", {"amount": "-1"}, "amount: expected an amount of lurkcoins"),
    ("/api/transactions.json", {"amount": "1.234"}, "amount: expected an amount"),
    ("/api/transactions.json", {"amount": "5", "min_amount": "1"}, "amount: cannot be combined"),
    ("/api/transactions.json", {"min_amount": "5", "max_amount": "1"}, "min_amount: must not"),
    ("/api/transactions.json", {"since": "yesterday"}, "since: expected Unix seconds"),
    ("/api/transactions.json", {"since": "20", "until": "10"}, "since: must not be later"),
    ("/api/transactions.json", {"offset": "10001"}, "offset: expected a whole number from 0"),
    ("/api/transactions.json", {"page": "3", "offset": "1"}, "page: cannot be combined"),
    ("/api/transactions.json", {"page": "1002", "limit": "10"}, "page: at most 1001 with limit=10"),
    ("/api/transactions.json", {"cursor": "abc", "page": "2"}, "cursor: cannot be combined"),
    ("/api/transactions.json", {"cursor": "not-a-cursor"}, "cursor: not a cursor this API"),
    ("/api/transactions.json", {"server": "x" * 129}, "server: expected 1 to 128 characters"),
    ("/api/transactions.json", {"user": ""}, "user: expected 1 to 128 characters"),
    ("/api/servers.json", {"sort": "balance:sideways"}, "sort: invalid direction"),
    ("/api/servers.json", {"sort": "wealth"}, "sort: invalid field; expected 'rank' | 'name'"),
    ("/api/servers.json", {"fixed_rate": "maybe"}, "fixed_rate: expected true or false"),
    ("/api/servers.json", {"active": "yes"}, "active: expected true or false"),
    ("/api/servers.json", {"min_balance": "10", "max_balance": "1"}, "min_balance: must not"),
    ("/api/servers.json", {"page": "0"}, "page: expected a whole number from 1"),
    ("/api/servers.json", {"limit": "1000"}, "limit: expected a whole number from 1 to 500"),
    ("/api/exchange_rates.json", {"x": "1"}, "x: unknown parameter"),
    ("/api/servers/alpha.json", {"full": "1"}, "full: unknown parameter"),
]


async def test_each_bad_parameter_is_a_precise_400(make_api: MakeApi) -> None:
    api = await make_api(public_transactions=True)
    for path, params, details in BAD_QUERIES:
        body = await api.error(path, 400, **params)
        assert body["error"] == "ERR_INVALIDPARAMETER", (path, params)
        assert body["details"].startswith(details), (path, params, body["details"])
    async with api.session.get(api.server.url + "/api/servers.json?page=1&page=2") as response:
        assert response.status == 400
        assert (await response.json())["details"] == "page: given more than once"


# -- privacy ----------------------------------------------------------------------------


async def test_private_transactions_need_an_explorer_key(make_api: MakeApi) -> None:
    api = await make_api()  # public_transactions defaults to false
    ledger = api.server.ledger
    alpha = ledger.server("Alpha")
    assert alpha is not None
    body = await api.error("/api/transactions.json", 401)
    assert body["error"] == "ERR_INVALIDLOGIN" and "explorer scope" in body["details"]
    txn = (await ledger.history(alpha, 1))[0]
    await api.error(f"/api/transactions/{txn.id}.json", 401)

    # A key without the scope, and the server's own token, are refused.
    _, history_key = await ledger.create_api_key(alpha, ["history"])
    status, body, _ = await api.get("/api/transactions.json", headers=key_auth(history_key))
    assert status == 403 and body["error"] == "ERR_FORBIDDEN"
    status, body, _ = await api.get(
        "/api/transactions.json", headers=basic("Alpha", "token-of-Alpha")
    )
    assert status == 403 and "server's token" in body["details"]
    status, body, _ = await api.get("/api/transactions.json", headers=key_auth("lk_wrong"))
    assert status == 401

    # Only the operator grants the scope; the key then opens everything, privately.
    _, explorer_key = await ledger.create_api_key(alpha, ["explorer"], operator=True)
    status, body, headers = await api.get("/api/transactions.json", headers=key_auth(explorer_key))
    assert status == 200 and body["result"]["transactions"]
    assert headers["Cache-Control"] == "private, no-store"
    status, body, headers = await api.get(
        f"/api/transactions/{txn.id}.json", headers=key_auth(explorer_key)
    )
    assert status == 200 and headers["Cache-Control"] == "private, no-store"

    # Aggregates stay public; a server's page hides its transactions without a key.
    view = await api.ok("/api/servers/alpha.json")
    assert view["recent_transactions"] is None
    status, body, _ = await api.get("/api/servers/alpha.json", headers=key_auth(explorer_key))
    assert status == 200 and len(body["result"]["recent_transactions"]) == 10
    status, _, _ = await api.get("/api/servers/alpha.json", headers=key_auth(history_key))
    assert status == 403


async def test_servers_cannot_grant_themselves_the_explorer_scope(make_api: MakeApi) -> None:
    api = await make_api()
    async with api.session.post(
        api.server.url + "/v3/api_keys",
        json={"scopes": ["explorer"]},
        headers=basic("Alpha", "token-of-Alpha"),
    ) as response:
        body = await response.json()
    assert response.status == 400 and body["error"] == "ERR_INVALIDREQUEST"
    assert "operator" in body["message"]


async def test_disabled_explorer_is_not_there(make_api: MakeApi) -> None:
    api = await make_api(enabled=False)
    for path in ("/api/servers.json", "/api/transactions.json", "/api/exchange_rates.json"):
        async with api.session.get(api.server.url + path) as response:
            assert response.status == 404
    async with api.session.get(api.server.url + "/v3/openapi.json") as response:
        document = await response.json()
    assert not any(path.startswith("/api/") for path in document["paths"])


# -- headers ------------------------------------------------------------------------------


async def test_cors_and_preflight(make_api: MakeApi) -> None:
    api = await make_api()
    _, _, headers = await api.get("/api/servers.json")
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "X-RateLimit-Remaining" in headers["Access-Control-Expose-Headers"]
    async with api.session.options(
        api.server.url + "/api/transactions.json",
        headers={
            "Origin": "https://example.org",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    ) as response:
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "GET" in response.headers["Access-Control-Allow-Methods"]
        assert "Authorization" in response.headers["Access-Control-Allow-Headers"]


async def test_rate_limit_per_address_with_429(make_api: MakeApi) -> None:
    api = await make_api(rate_limit=3, rate_window=3600)
    remaining = []
    for _ in range(3):
        _, _, headers = await api.get("/api/exchange_rates.json")
        assert headers["X-RateLimit-Limit"] == "3"
        remaining.append(int(headers["X-RateLimit-Remaining"]))
        reset = int(headers["X-RateLimit-Reset"])
    assert remaining == [2, 1, 0]
    body = await api.error("/api/servers.json", 429)
    assert body["error"] == "ERR_RATELIMITED" and "at most 3 requests" in body["details"]
    _, _, headers = await api.get("/api/servers.json")
    assert 1 <= int(headers["Retry-After"]) <= 3600
    assert int(headers["X-RateLimit-Reset"]) == reset
    # The /v3 API is not limited by it.
    async with api.session.get(api.server.url + "/v3/version") as response:
        assert response.status == 200


async def test_etag_and_cache_control(make_api: MakeApi) -> None:
    api = await make_api(public_transactions=True)
    status, _, headers = await api.get("/api/servers.json")
    assert headers["Cache-Control"] == "public, max-age=60, stale-while-revalidate=120"
    etag = headers["ETag"]
    status, body, again = await api.get("/api/servers.json", headers={"If-None-Match": etag})
    assert status == 304 and body is None
    assert again["ETag"] == etag and again["Cache-Control"] == headers["Cache-Control"]
    status, _, _ = await api.get("/api/servers.json", headers={"If-None-Match": '"other"'})
    assert status == 200

    settled = (await api.walk(status="settled", limit=1))[0]
    _, _, headers = await api.get(f"/api/transactions/{settled['id']}.json")
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    pending = (await api.walk(status="pending", limit=1))[0]
    _, _, headers = await api.get(f"/api/transactions/{pending['id']}.json")
    assert headers["Cache-Control"] == "public, no-cache"
    body = await api.error("/api/transactions/T-NONE.json", 404)
    assert body["details"] == "id: no transaction 'T-NONE'"
