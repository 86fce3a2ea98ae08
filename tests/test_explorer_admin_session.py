"""Private transactions opened by a console session: a real sign-in, its cookie, its end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from auth_helpers import key_auth
from console_helpers import ConsoleClient, console_config
from explorer_helpers import fill
from live_server import LiveServer, StartServer


@dataclass
class Site:
    server: LiveServer
    stranger: aiohttp.ClientSession  # no cookie at all
    operator: ConsoleClient  # signs in as victor, the least role (viewer)
    txn_id: str

    async def get(
        self, session: aiohttp.ClientSession, path: str, **params: str
    ) -> tuple[int, Any, Any]:
        async with session.get(self.server.url + path, params=params) as response:
            if response.content_type == "application/json":
                return response.status, await response.json(), response.headers
            return response.status, await response.text(), response.headers


@pytest.fixture
async def site(serve: StartServer, tmp_path: Path) -> AsyncIterator[Site]:
    config = console_config(tmp_path / "private.db")
    config.exchange.formula = "integral"
    config.explorer.rate_limit = 1_000_000
    assert config.explorer.public_transactions is False
    server = await serve(config)
    await fill(server.ledger)
    charlie = server.ledger.server("Charlie")
    assert charlie is not None
    pending = await server.ledger.pending(charlie)
    operator = ConsoleClient(server.url)
    async with aiohttp.ClientSession() as stranger:
        try:
            yield Site(server, stranger, operator, pending[0].id)
        finally:
            await operator.close()


PRIVATE_PATHS = ("/api/transactions.json", "/api/transactions/{id}.json")


async def test_a_signed_in_console_user_sees_private_transactions(site: Site) -> None:
    for session in (site.stranger, site.operator.session):  # before signing in: both refused
        for path in PRIVATE_PATHS:
            status, body, _ = await site.get(session, path.format(id=site.txn_id))
            assert status == 401 and body["error"] == "ERR_INVALIDLOGIN", body
        status, body, _ = await site.get(session, "/api/servers/Charlie.json")
        assert status == 200 and body["result"]["recent_transactions"] is None
        status, page, _ = await site.get(session, "/explorer/transactions")
        assert status == 403 and site.txn_id not in page

    signed_in = await site.operator.login("victor")
    assert signed_in.status == 200 and "victor" in signed_in.text
    session = site.operator.session

    status, body, headers = await site.get(session, "/api/transactions.json", status="pending")
    assert status == 200, body
    assert site.txn_id in [t["id"] for t in body["result"]["transactions"]]
    assert headers["Cache-Control"] == "private, no-store"
    assert "Cookie" in headers["Vary"]
    status, body, headers = await site.get(session, f"/api/transactions/{site.txn_id}.json")
    assert status == 200 and body["result"]["status"] == "pending"
    assert headers["Cache-Control"] == "private, no-store"
    status, body, headers = await site.get(session, "/api/servers/Charlie.json")
    assert len(body["result"]["recent_transactions"]) > 0
    assert headers["Cache-Control"] == "private, no-store"
    status, page, headers = await site.get(session, "/explorer/transactions", status="pending")
    assert status == 200 and site.txn_id in page
    assert headers["Cache-Control"] == "private, no-store"
    status, page, _ = await site.get(session, f"/explorer/transactions/{site.txn_id}")
    assert status == 200 and site.txn_id in page
    # The stranger beside it still sees nothing.
    status, _, _ = await site.get(site.stranger, "/api/transactions.json")
    assert status == 401

    # A key sent beside the cookie is still checked: a server's token is refused.
    async with session.get(
        site.server.url + "/api/transactions.json",
        headers={"Authorization": "Basic QWxwaGE6dG9rZW4tb2YtQWxwaGE="},  # Alpha's token
    ) as response:
        assert response.status == 403
    async with session.get(
        site.server.url + "/api/transactions.json", headers=key_auth("lk_not-a-key")
    ) as response:
        assert response.status == 401

    # Signing out closes it again.
    out = await site.operator.post("/admin/logout", {})
    assert out.status == 303
    for path in PRIVATE_PATHS:
        status, _, _ = await site.get(session, path.format(id=site.txn_id))
        assert status == 401


async def test_a_made_up_session_cookie_opens_nothing(site: Site) -> None:
    cookies = {"lurkcoin_admin": "not-a-session"}
    async with aiohttp.ClientSession(cookies=cookies) as forger:
        status, body, _ = await site.get(forger, "/api/transactions.json")
        assert status == 401 and body["error"] == "ERR_INVALIDLOGIN"
        status, body, _ = await site.get(forger, "/api/servers/Charlie.json")
        assert status == 200 and body["result"]["recent_transactions"] is None
        status, _, headers = await site.get(forger, "/explorer/transactions")
        assert status == 403 and headers["Cache-Control"] == "public, max-age=60"
