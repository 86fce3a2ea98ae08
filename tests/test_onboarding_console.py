"""The onboarding queue in the console (forms over HTTP, no browser) and on the command line."""

from __future__ import annotations

import asyncio
from pathlib import Path

from auth_helpers import Client
from cli_helpers import Cli
from console_helpers import ConsoleClient
from live_server import StartServer
from onboarding_helpers import ask, claim, failed, onboarding_config

from lurkcoin.config import load_config
from lurkcoin.ledger import Ledger

XSS = '<script>alert("x")</script>'


async def test_the_queue_needs_an_operator_and_a_csrf_token(
    serve: StartServer, tmp_path: Path
) -> None:
    site = await serve(onboarding_config(tmp_path / "ledger.db"))
    async with Client(site.port) as client:
        request = (await ask(client, message=XSS, contact="<b>bob</b>")).result
    victor, olga = ConsoleClient(site.url), ConsoleClient(site.url)
    try:
        await victor.login("victor")
        assert "/admin/requests" not in (await victor.get("/admin/")).text
        assert (await victor.get("/admin/requests")).status == 403
        denied = await victor.post(f"/admin/requests/{request['id']}/approve", {})
        assert denied.status == 403

        await olga.login("olga")
        dashboard = (await olga.get("/admin/")).text
        assert 'href="/admin/requests"' in dashboard
        assert '<dd id="requests-waiting"><a href="/admin/requests">1</a></dd>' in dashboard
        page = await olga.get("/admin/requests")
        assert XSS not in page.text and "&lt;script&gt;" in page.text
        assert "<b>bob</b>" not in page.text
        forged = await olga.post(f"/admin/requests/{request['id']}/approve", {}, csrf=False)
        assert forged.status == 403
        no_reason = await olga.post(f"/admin/requests/{request['id']}/refuse", {"reason": " "})
        assert no_reason.status == 400 and "needs a reason" in no_reason.text
        not_an_id = await olga.post("/admin/requests/x/approve", {})
        assert not_an_id.status == 404 and "No such account request." in not_an_id.text
        unknown = await olga.post("/admin/requests/999/approve", {})
        assert unknown.status == 400 and "no account request #999" in unknown.text
    finally:
        await victor.close()
        await olga.close()
    stored = await site.ledger.account_request(request["id"])
    assert stored is not None and stored.status == "pending"
    assert site.ledger.server("New Server") is None
    assert await site.ledger.audit_entries(limit=5) == []


async def test_refusing_in_the_console_answers_the_claim(
    serve: StartServer, tmp_path: Path
) -> None:
    site = await serve(onboarding_config(tmp_path / "ledger.db"))
    async with Client(site.port) as client:
        request = (await ask(client)).result
        alice = ConsoleClient(site.url)
        try:
            await alice.login("alice")
            refused = await alice.post(
                f"/admin/requests/{request['id']}/refuse", {"reason": "Not a game server"}
            )
            assert refused.status == 303
            page = await alice.get("/admin/requests?done=refused")
            assert "Request refused" in page.text and "Not a game server" in page.text
            again = await alice.post(f"/admin/requests/{request['id']}/approve", {})
            assert again.status == 400 and "no longer waiting (it is refused)" in again.text
            audit = await alice.get("/admin/audit")
            assert "refuse-account-request" in audit.text
        finally:
            await alice.close()
        failed(
            await claim(client, request["id"], request["secret"]),
            409,
            "ERR_REQUESTREFUSED",
            "reason: Not a game server",
        )


async def test_approving_a_name_taken_meanwhile_is_refused(
    serve: StartServer, tmp_path: Path
) -> None:
    site = await serve(onboarding_config(tmp_path / "ledger.db"))
    async with Client(site.port) as client:
        request = (await ask(client)).result
    await site.ledger.create_server("new server", balance=500)
    olga = ConsoleClient(site.url)
    try:
        await olga.login("olga")
        page = await olga.post(f"/admin/requests/{request['id']}/approve", {})
        assert page.status == 400 and "already exists" in page.text
    finally:
        await olga.close()
    stored = await site.ledger.account_request(request["id"])
    assert stored is not None and stored.status == "pending"


async def test_a_disabled_site_still_shows_the_queue(serve: StartServer, tmp_path: Path) -> None:
    config = onboarding_config(tmp_path / "ledger.db")
    config.onboarding.enabled = False
    site = await serve(config)
    olga = ConsoleClient(site.url)
    try:
        await olga.login("olga")
        assert 'href="/admin/requests"' not in (await olga.get("/admin/")).text
        page = await olga.get("/admin/requests")
        assert page.status == 200 and "Self-service onboarding is off" in page.text
    finally:
        await olga.close()


def test_the_command_line_lists_approves_and_refuses(cli: Cli) -> None:
    cli.ok("create-server", "Alpha")

    async def queue() -> list[int]:
        ledger = await Ledger.open(load_config(cli.config, {}))
        try:
            ids = []
            for name in ("Gamma", "Delta"):
                request, _ = await ledger.request_account(
                    name=name, contact="ops@x.example", webhook_url=None, message="", address="h"
                )
                ids.append(request.id)
            return ids
        finally:
            await ledger.close()

    gamma, delta = asyncio.run(queue())
    listed = cli.ok("account-requests", "list")
    assert listed.splitlines()[0].split()[:3] == ["ID", "NAME", "STATUS"]
    assert "Gamma" in listed and "Delta" in listed and "ops@x.example" in listed
    out = cli.ok("account-requests", "approve", str(gamma), "--note", "ok")
    assert "created server 'Gamma'" in out and "within 24h" in out
    assert "Gamma" in cli.ok("list-servers")
    cli("account-requests", "refuse", str(delta)).assert_one_error_line()  # --reason needed
    assert cli.ok("account-requests", "refuse", str(delta), "--reason", "dup") == (
        f"Refused request #{delta}.\n"
    )
    assert cli.ok("account-requests", "list") == "No account request is waiting.\n"
    every = cli.ok("account-requests", "list", "--all")
    assert "approved" in every and "refused" in every
    err = cli("account-requests", "approve", str(delta)).assert_one_error_line()
    assert "no longer waiting" in err
    cli("account-requests", "approve", "x").assert_one_error_line()
    shown = cli.ok("audit", "show")
    assert "approve-account-request Gamma (ok)" in shown
    assert "refuse-account-request Delta (dup)" in shown
    assert cli("check").status == 0
