"""Self-service onboarding over HTTP: request, approval in the console, the one-time claim.

Everything runs on the real app on a loopback port over a real SQLite file;
the console is driven as a browser posts its forms.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
from auth_helpers import JSON_TYPE, Client, basic
from console_helpers import ConsoleClient
from live_server import StartServer, make_config
from onboarding_helpers import CLAIM, GOOD, REQUESTS, ask, claim, failed, onboarding_config
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from lurkcoin.api.explorer_routes import EXPLORER_ENDPOINTS
from lurkcoin.api.onboarding_routes import ONBOARDING_ENDPOINTS
from lurkcoin.api.openapi import PATH, build_document
from lurkcoin.api.routes import ENDPOINTS
from lurkcoin.config import Config
from lurkcoin.core.errors import LurkcoinError


async def test_request_approve_in_console_claim_once(serve: StartServer, tmp_path: Path) -> None:
    site = await serve(onboarding_config(tmp_path / "ledger.db"))
    async with Client(site.port) as client:
        asked = await ask(client)
        assert asked.status == 200 and asked.header("Cache-Control") == "no-store"
        request = asked.result
        assert request["name"] == "New Server" and request["status"] == "pending"
        assert request["webhook_url"] == "https://game.example/hooks/lurkcoin"  # normalised
        assert request["secret"].startswith("lkreq_") and request["id"] >= 1
        failed(await claim(client, request["id"], request["secret"]), 409, "ERR_REQUESTPENDING")
        # Only a hash of the secret is kept.
        stored = await site.ledger.account_request(request["id"])
        assert stored is not None and request["secret"] not in repr(stored)

        olga = ConsoleClient(site.url)
        try:
            await olga.login("olga")
            queue = await olga.get("/admin/requests")
            assert queue.status == 200 and f'id="request-{request["id"]}"' in queue.text
            assert "admin@game.example" in queue.text and "About 40 players." in queue.text
            approved = await olga.post(
                f"/admin/requests/{request['id']}/approve", {"note": "welcome"}
            )
            assert approved.status == 303
            assert approved.headers["Location"] == "/admin/requests?done=approved"
            after = await olga.get("/admin/requests")
            assert "No request is waiting." in after.text and "claimable until" in after.text
        finally:
            await olga.close()

        server = site.ledger.server("New Server")
        assert server is not None and (server.balance, server.target_balance) == (0, 0)
        assert server.webhook_url == "https://game.example/hooks/lurkcoin"
        assert server.token_hash is None  # nothing logs in until the claim

        claimed = await claim(client, request["id"], request["secret"])
        assert claimed.header("Cache-Control") == "no-store"
        token = claimed.result["token"]
        assert claimed.result["name"] == "New Server"
        balance = await client.call("GET", "/v3/balance", basic("New Server", token))
        assert balance.result == 0.0
        failed(await claim(client, request["id"], request["secret"]), 410, "ERR_ALREADYCLAIMED")
        # The token still works; the second claim changed nothing.
        assert (await client.call("GET", "/v3/balance", basic("newserver", token))).result == 0.0

    entries = await site.ledger.audit_entries(limit=10)
    actions = [(e.action, e.subject, e.actor) for e in reversed(entries)]
    assert actions == [
        ("approve-account-request", "New Server", "olga"),
        ("claim-account-token", "New Server", f"requester:#{request['id']}"),
    ]
    assert entries[-1].reason == "welcome"
    assert (await site.ledger.check()).ok


async def test_a_claim_expires_a_day_after_approval(serve: StartServer, tmp_path: Path) -> None:
    # The claim period is a setting ("24h" by default); one second stands for it here.
    site = await serve(onboarding_config(tmp_path / "ledger.db", claim_expiry="1s"))
    assert Config().onboarding.claim_expiry_seconds == 86400
    async with Client(site.port) as client:
        late = (await ask(client, name="Late")).result
        prompt = (await ask(client, name="Prompt")).result
        await site.ledger.approve_account_request(late["id"])
        await asyncio.sleep(2.1)  # past approval + 1 s, whole seconds
        failed(await claim(client, late["id"], late["secret"]), 410, "ERR_CLAIMEXPIRED")
        # The server stays, without a token, for the operator to hand one over.
        server = site.ledger.server("Late")
        assert server is not None and server.token_hash is None
        # Approved just now, claimed at once: within the period.
        await site.ledger.approve_account_request(prompt["id"])
        token = (await claim(client, prompt["id"], prompt["secret"])).result["token"]
        assert (await client.call("GET", "/v3/balance", basic("Prompt", token))).result == 0.0


async def test_racing_claims_get_one_token(serve: StartServer, tmp_path: Path) -> None:
    site = await serve(onboarding_config(tmp_path / "ledger.db"))
    async with Client(site.port) as client:
        request = (await ask(client)).result
        await site.ledger.approve_account_request(request["id"])
        replies = await asyncio.gather(
            *(claim(client, request["id"], request["secret"]) for _ in range(5))
        )
        assert sorted(r.status for r in replies) == [200, 410, 410, 410, 410]
        [won] = [r for r in replies if r.status == 200]
        balance = await client.call("GET", "/v3/balance", basic("New Server", won.result["token"]))
        assert balance.result == 0.0
    claims = [e for e in await site.ledger.audit_entries(limit=10) if e.action.startswith("claim")]
    assert len(claims) == 1


async def test_a_deleted_server_cannot_be_claimed(serve: StartServer, tmp_path: Path) -> None:
    site = await serve(onboarding_config(tmp_path / "ledger.db"))
    async with Client(site.port) as client:
        request = (await ask(client)).result
        await site.ledger.approve_account_request(request["id"])
        await site.ledger.delete_server("New Server")
        failed(await claim(client, request["id"], request["secret"]), 410, "ERR_CLAIMEXPIRED")


LONG = "x" * 1001


@pytest.mark.parametrize(
    ("fields", "status", "code", "details"),
    [
        ({"name": None}, 400, "ERR_INVALIDPARAMETER", "name: required"),
        ({"name": "  "}, 400, "ERR_INVALIDPARAMETER", "name: must not be empty"),
        ({"name": 7}, 400, "ERR_INVALIDPARAMETER", "name: expected a string"),
        ({"name": "a:b"}, 400, "ERR_INVALIDPARAMETER", "name: no ':'"),
        ({"name": "!!!"}, 400, "ERR_INVALIDPARAMETER", "name: needs at least one letter"),
        ({"name": "x" * 65}, 400, "ERR_INVALIDPARAMETER", "name: at most 64 characters"),
        ({"name": "A\nB"}, 400, "ERR_INVALIDPARAMETER", "name: only printable"),
        ({"contact": None}, 400, "ERR_INVALIDPARAMETER", "contact: required"),
        ({"contact": "x" * 201}, 400, "ERR_INVALIDPARAMETER", "contact: at most 200"),
        ({"contact": ["a"]}, 400, "ERR_INVALIDPARAMETER", "contact: expected a string"),
        ({"message": LONG}, 400, "ERR_INVALIDPARAMETER", "message: at most 1000"),
        ({"message": "a\x07b"}, 400, "ERR_INVALIDPARAMETER", "message: only printable"),
        ({"name": "Tab\tName"}, 400, "ERR_INVALIDPARAMETER", "name: only printable"),
        ({"webhook_url": "ftp://x.example"}, 400, "ERR_INVALIDWEBHOOKURL", "webhook_url: expected"),
        ({"webhook_url": "https://u:p@x.example"}, 400, "ERR_INVALIDWEBHOOKURL", "webhook_url"),
        (
            {"webhook_url": "http://127.0.0.1:8080/x"},
            400,
            "ERR_INVALIDWEBHOOKURL",
            "webhook_url: must reach a public address",
        ),
        (
            {"webhook_url": "http://[::1]/x"},
            400,
            "ERR_INVALIDWEBHOOKURL",
            "webhook_url: must reach a public address",
        ),
        (
            {"webhook_url": "http://LOCALHOST/x"},
            400,
            "ERR_INVALIDWEBHOOKURL",
            "webhook_url: must reach a public address",
        ),
        ({"nickname": "x"}, 400, "ERR_INVALIDPARAMETER", "nickname: unknown field"),
        ({"NAME": "Other"}, 400, "ERR_INVALIDPARAMETER", "name: given twice"),
    ],
)
async def test_invalid_requests_name_the_field(
    serve: StartServer,
    tmp_path: Path,
    fields: dict[str, object],
    status: int,
    code: str,
    details: str,
) -> None:
    site = await serve(onboarding_config(tmp_path / "ledger.db", rate_limit=100))
    async with Client(site.port) as client:
        failed(await ask(client, **fields), status, code, details)
    assert await site.ledger.account_requests(["pending"], 10) == []


async def test_a_message_keeps_its_line_breaks(serve: StartServer, tmp_path: Path) -> None:
    site = await serve(onboarding_config(tmp_path / "ledger.db"))
    async with Client(site.port) as client:
        asked = await ask(
            client, name=" Spaced  Name ", message="Hello,\r\n\tops.\n", webhook_url=""
        )
        assert asked.result["name"] == "Spaced  Name" and asked.result["webhook_url"] is None
    [stored] = await site.ledger.account_requests(["pending"], 1)
    assert stored.message == "Hello,\r\n\tops." and stored.contact == GOOD["contact"]


async def test_only_a_small_json_object_is_read(serve: StartServer, tmp_path: Path) -> None:
    site = await serve(onboarding_config(tmp_path / "ledger.db", rate_limit=100))
    url = site.url + REQUESTS
    cases = [
        ({"data": b'{"name": "A", "contact": "b"}'}, 400, "ERR_INVALIDREQUEST", "Content-Type"),
        (
            {"data": b"[1, 2]", "headers": {"Content-Type": "application/json"}},
            400,
            "ERR_INVALIDREQUEST",
            "body: expected one JSON object",
        ),
        (
            {
                "data": b'{"name": "A", "name": "B"}',
                "headers": {"Content-Type": "application/json"},
            },
            400,
            "ERR_INVALIDREQUEST",
            "body:",
        ),
        ({"json": GOOD | {"message": "é" * 3000}}, 413, "ERR_PAYLOADTOOLARGE", "body: at most"),
    ]
    async with aiohttp.ClientSession() as session:
        for kwargs, status, code, details in cases:
            async with session.post(url, **kwargs) as response:  # type: ignore[arg-type]
                assert response.headers["Content-Type"] == JSON_TYPE
                body = await response.json()
                assert (response.status, body["error"]) == (status, code), body
                if details is not None:
                    assert body["details"].startswith(details), body
        # GET is not a way in.
        async with session.get(url) as response:
            assert response.status == 405
    assert await site.ledger.account_requests(["pending"], 10) == []


async def test_requests_are_rate_limited_per_address(serve: StartServer, tmp_path: Path) -> None:
    site = await serve(onboarding_config(tmp_path / "ledger.db", rate_limit=2))
    async with Client(site.port, "127.0.0.2") as client:
        assert (await ask(client, name="One")).status == 200
        failed(await ask(client, name="!!"), 400, "ERR_INVALIDPARAMETER")  # counts too
        limited = await ask(client, name="Three")
        failed(limited, 429, "ERR_RATELIMITED", "at most 2 requests per 3600 seconds")
        assert int(limited.header("Retry-After") or 0) >= 1
    async with Client(site.port, "127.0.0.3") as other:
        assert (await ask(other, name="Three")).status == 200
    names = [r.name for r in await site.ledger.account_requests(["pending"], 10)]
    assert sorted(names) == ["One", "Three"]


async def test_behind_a_trusted_proxy_the_forwarded_address_is_limited(
    serve: StartServer, tmp_path: Path
) -> None:
    config = onboarding_config(tmp_path / "ledger.db", rate_limit=1)
    config.security.trusted_proxies = ["127.0.0.1"]
    site = await serve(config)

    async def via_proxy(client: Client, forwarded: str, name: str) -> int:
        body = GOOD | {"name": name}
        headers = {"X-Forwarded-For": forwarded}
        return (await client.call("POST", REQUESTS, body=body, headers=headers)).status

    async with Client(site.port) as proxy:
        assert await via_proxy(proxy, "203.0.113.5", "One") == 200
        assert await via_proxy(proxy, "203.0.113.5", "Two") == 429
        assert await via_proxy(proxy, "203.0.113.6", "Two") == 200
    [first] = await site.ledger.account_requests(["pending"], 1, oldest_first=True)
    assert first.address == "203.0.113.5"  # the console shows whom a request came from


async def test_the_queue_is_capped(serve: StartServer, tmp_path: Path) -> None:
    site = await serve(onboarding_config(tmp_path / "ledger.db", max_pending=2, rate_limit=100))
    async with Client(site.port) as client:
        first = (await ask(client, name="One")).result
        assert (await ask(client, name="Two")).status == 200
        failed(await ask(client, name="Three"), 503, "ERR_QUEUEFULL", "2 requests are waiting")
        await site.ledger.refuse_account_request(first["id"], "test")
        assert (await ask(client, name="Three")).status == 200


async def test_names_taken_or_requested_are_refused(serve: StartServer, tmp_path: Path) -> None:
    site = await serve(onboarding_config(tmp_path / "ledger.db", rate_limit=100))
    await site.ledger.create_server("Alpha")
    async with Client(site.port) as client:
        failed(await ask(client, name="ALPHA"), 400, "ERR_SERVEREXISTS", "name: a server")
        first = (await ask(client, name="New One")).result
        failed(await ask(client, name="new one"), 409, "ERR_ALREADYREQUESTED", "name: a request")
        failed(await ask(client, name="NewOne"), 409, "ERR_ALREADYREQUESTED")  # same uid
        # Once refused, the name may be asked for again; once approved, it is taken.
        await site.ledger.refuse_account_request(first["id"], "typo")
        second = (await ask(client, name="new one")).result
        await site.ledger.approve_account_request(second["id"])
        failed(await ask(client, name="New One"), 400, "ERR_SERVEREXISTS")


async def test_a_refusal_is_final_and_gives_its_reason(serve: StartServer, tmp_path: Path) -> None:
    site = await serve(onboarding_config(tmp_path / "ledger.db"))
    async with Client(site.port) as client:
        request = (await ask(client)).result
        await site.ledger.refuse_account_request(request["id"], "  not a Minetest server ")
        refused = await claim(client, request["id"], request["secret"])
        failed(refused, 409, "ERR_REQUESTREFUSED", "reason: not a Minetest server")
    with pytest.raises(LurkcoinError, match="no longer waiting"):
        await site.ledger.approve_account_request(request["id"])
    with pytest.raises(LurkcoinError, match="no longer waiting"):
        await site.ledger.refuse_account_request(request["id"], "again")
    with pytest.raises(LurkcoinError, match="needs a reason"):
        await site.ledger.refuse_account_request(request["id"], " ")
    assert site.ledger.server("New Server") is None
    [entry] = await site.ledger.audit_entries(limit=5)
    assert (entry.action, entry.subject, entry.reason) == (
        "refuse-account-request",
        "New Server",
        "not a Minetest server",
    )


async def test_wrong_secrets_are_alike_and_throttled(serve: StartServer, tmp_path: Path) -> None:
    config = onboarding_config(tmp_path / "ledger.db")
    config.security.failures_per_address = 3
    site = await serve(config)
    async with Client(site.port) as owner:
        request = (await ask(owner)).result
    await site.ledger.approve_account_request(request["id"])
    async with Client(site.port, "127.0.0.2") as guesser:
        failed(await claim(guesser, request["id"], "lkreq_wrong"), 404, "ERR_REQUESTNOTFOUND")
        failed(await claim(guesser, 999, request["secret"]), 404, "ERR_REQUESTNOTFOUND")
        failed(await claim(guesser, "1", request["secret"]), 400, "ERR_INVALIDPARAMETER", "id:")
        failed(await claim(guesser, request["id"], None), 400, "ERR_INVALIDPARAMETER", "secret:")
        failed(await claim(guesser, request["id"], "x"), 404, "ERR_REQUESTNOTFOUND")
        blocked = await claim(guesser, request["id"], request["secret"])
        failed(blocked, 429, "ERR_TOOMANYREQUESTS")
        assert int(blocked.header("Retry-After") or 0) >= 1
    async with Client(site.port) as owner:
        assert (await claim(owner, request["id"], request["secret"])).result["token"]


async def test_off_by_default_every_path_is_unknown(serve: StartServer, tmp_path: Path) -> None:
    assert Config().onboarding.enabled is False
    site = await serve(make_config(tmp_path / "ledger.db"))
    async with aiohttp.ClientSession() as session:
        for path in (REQUESTS, CLAIM):
            async with session.post(site.url + path, json=GOOD) as response:
                assert response.status == 404
                assert await response.text() == "404 page not found\n"
        async with session.get(site.url + PATH) as response:
            document = await response.json()
    assert not [p for p in document["paths"] if p.startswith("/api/account_requests")]


async def test_the_openapi_document_describes_onboarding(
    serve: StartServer, tmp_path: Path
) -> None:
    site = await serve(onboarding_config(tmp_path / "ledger.db"))
    async with aiohttp.ClientSession() as session, session.get(site.url + PATH) as response:
        served = await response.json()
    validate(served, cls=OpenAPIV31SpecValidator)
    assert served == build_document(ENDPOINTS + EXPLORER_ENDPOINTS + ONBOARDING_ENDPOINTS)
    operation = served["paths"][CLAIM]["post"]
    assert operation["tags"] == ["onboarding"] and "exactly once" in operation["description"]
    codes = operation["responses"]["410"]["content"]["application/json"]["schema"]
    assert codes["properties"]["error"]["enum"] == ["ERR_ALREADYCLAIMED", "ERR_CLAIMEXPIRED"]
