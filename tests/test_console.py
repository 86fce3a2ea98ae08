"""The console over HTTP: sessions, roles, CSRF, headers, escaping and each action.

The browser tests (test_console_browser.py) drive the same pages in Chromium;
these check the rules fast and exhaustively at the HTTP level.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from console_helpers import ConsoleClient, console_config
from live_server import LiveServer, start_server

from lurkcoin.config import Config, ConfigError, load_config
from lurkcoin.console.guard import CSP

XSS = '<script>alert("x")</script>'

Open = Callable[..., Awaitable[ConsoleClient]]


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[LiveServer]:
    config = console_config(tmp_path / "ledger.db")
    config.security.failures_per_address = 3
    server = await start_server(config)
    yield server
    await server.stop()


@pytest.fixture
async def browser(site: LiveServer) -> AsyncIterator[Open]:
    """``await browser("alice")``: a new cookie jar, signed in as that user."""
    clients: list[ConsoleClient] = []

    async def open_as(user: str | None = None) -> ConsoleClient:
        client = ConsoleClient(site.url)
        clients.append(client)
        if user is not None:
            page = await client.login(user)
            assert page.status == 200, page.text
        return client

    yield open_as
    for client in clients:
        await client.close()


async def test_every_page_is_uncached_with_a_strict_policy(browser: Open) -> None:
    anonymous = await browser()
    alice = await browser("alice")
    for client, path in [
        (anonymous, "/admin/login"),
        (anonymous, "/admin/static/console.css"),
        (alice, "/admin/"),
        (alice, "/admin/servers"),
        (alice, "/admin/audit"),
    ]:
        page = await client.get(path)
        assert page.status == 200, path
        assert page.headers["Cache-Control"] == "no-store"
        assert page.headers["Content-Security-Policy"] == CSP
        assert page.headers["X-Frame-Options"] == "DENY"
    assert "<script" not in (await alice.get("/admin/")).text  # works without JavaScript


async def test_pages_need_a_session(browser: Open) -> None:
    anonymous = await browser()
    for path in ("/admin/", "/admin/servers", "/admin/backup/lurkcoin.sqlite3"):
        page = await anonymous.get(path, follow=False)
        assert (page.status, page.headers["Location"]) == (303, "/admin/login")
    page = await anonymous.post("/admin/create", {"name": "Sneaky"}, csrf=False)
    assert page.status == 303


async def test_root_redirects_to_the_console(site: LiveServer, browser: Open) -> None:
    page = await (await browser()).get("/", follow=False)
    assert (page.status, page.headers["Location"]) == (302, "/admin/")


async def test_without_accounts_there_is_no_console(tmp_path: Path) -> None:
    config = Config()
    config.database.path = str(tmp_path / "ledger.db")
    server = await start_server(config)
    client = ConsoleClient(server.url)
    try:
        assert (await client.get("/admin/login")).status == 404
        assert (await client.get("/", follow=False)).status == 404
    finally:
        await client.close()
        await server.stop()


@pytest.mark.sqlite_only  # reads or edits the SQLite file, or SQLite's own machinery
async def test_session_cookie_flags_and_only_a_hash_at_rest(
    site: LiveServer, browser: Open
) -> None:
    client = await browser()
    signed_in = await client.login("alice", follow=False)
    assert signed_in.status == 303
    cookie = signed_in.headers["Set-Cookie"]
    assert cookie.startswith("lurkcoin_admin=")
    # Path=/: the explorer (/api, /explorer) shows private transactions to a console user.
    flags = [part.strip() for part in cookie.split(";")[1:]]
    for flag in ("HttpOnly", "SameSite=Strict", "Path=/"):
        assert flag in flags, cookie
    assert "Secure" not in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    with sqlite3.connect(site.ledger.config.database.path) as conn:
        rows = conn.execute("SELECT id_hash, user FROM admin_sessions").fetchall()
    assert [r[1] for r in rows] == ["alice"]
    assert value.encode() not in rows[0][0]


async def test_secure_cookies_when_configured(tmp_path: Path) -> None:
    config = console_config(tmp_path / "ledger.db")
    config.admin.secure_cookies = True
    server = await start_server(config)
    client = ConsoleClient(server.url)
    try:
        signed_in = await client.login("alice", follow=False)
        assert "Secure" in signed_in.headers["Set-Cookie"]
    finally:
        await client.close()
        await server.stop()


async def test_an_unknown_server_is_a_404_page(browser: Open) -> None:
    page = await (await browser("alice")).get("/admin/servers/nobody")
    assert page.status == 404 and "No such server." in page.text and "<!doctype html>" in page.text


async def test_logout_ends_the_session(browser: Open) -> None:
    client = await browser("alice")
    page = await client.post("/admin/logout", {})
    assert page.status == 303
    assert (await client.get("/admin/", follow=False)).status == 303


async def test_wrong_passwords_are_refused_then_throttled(browser: Open) -> None:
    client = await browser()
    for _ in range(2):
        assert (await client.login("alice", "wrong password")).status == 401
    third = await client.login("alice", "wrong password")
    assert third.status in (401, 429)
    blocked = await client.login("alice")  # even the right password, from this address
    assert blocked.status == 429 and int(blocked.headers["Retry-After"]) >= 1
    assert "Too many failed sign-ins" in blocked.text


async def test_login_needs_its_form_token(browser: Open) -> None:
    client = await browser()
    page = await client.post(
        "/admin/login", {"user": "alice", "password": "x", "login_token": "forged"}, csrf=False
    )
    assert page.status == 403


async def test_posts_without_or_with_another_sessions_csrf_token_change_nothing(
    site: LiveServer, browser: Open
) -> None:
    alice, other = await browser("alice"), await browser("alice")
    await alice.post("/admin/create", {"name": "Alpha"}, follow=True)
    without = await alice.post(
        "/admin/servers/alpha/adjust", {"amount": "5", "reason": "x"}, csrf=False
    )
    assert without.status == 403
    alice.csrf = other.csrf  # a token from another session of the same user
    foreign = await alice.post("/admin/servers/alpha/adjust", {"amount": "5", "reason": "x"})
    assert foreign.status == 403
    assert other.csrf != (await browser("alice")).csrf
    assert site.ledger.require_server("alpha").balance == 0


async def test_a_viewer_sees_no_actions_and_cannot_post_them(
    site: LiveServer, browser: Open
) -> None:
    alice, victor = await browser("alice"), await browser("victor")
    await alice.post("/admin/create", {"name": "Alpha"}, follow=True)
    page = await victor.get("/admin/servers/alpha")
    assert page.status == 200 and "adjust-form" not in page.text and "Delete" not in page.text
    refused = await victor.post("/admin/servers/alpha/adjust", {"amount": "5", "reason": "x"})
    assert refused.status == 403 and "needs the operator role" in refused.text
    assert (await victor.post("/admin/create", {"name": "Bravo"})).status == 403
    assert (await victor.get("/admin/audit")).status == 403
    assert (await victor.get("/admin/backup/lurkcoin.sqlite3")).status == 403
    assert site.ledger.require_server("alpha").balance == 0 and site.ledger.server("bravo") is None


async def test_an_operator_cannot_delete_or_read_the_audit_log(
    site: LiveServer, browser: Open
) -> None:
    olga = await browser("olga")
    created = await olga.post("/admin/create", {"name": "Alpha"}, follow=True)
    assert created.status == 200 and "API token of Alpha" in created.text
    page = await olga.post("/admin/servers/alpha/delete", {"confirm": "Alpha"})
    assert page.status == 403 and site.ledger.server("alpha") is not None
    assert (await olga.get("/admin/audit")).status == 403


async def test_actions_go_through_the_ledger_with_audit_entries(
    site: LiveServer, browser: Open
) -> None:
    alice = await browser("alice")
    created = await alice.post("/admin/create", {"name": "Alpha", "balance": "10"}, follow=True)
    token = created.text.split('<textarea id="secret" readonly rows="4" cols="90">')[1]
    assert await site.ledger.authenticate("Alpha", token.split("<")[0]) is not None
    await alice.post("/admin/create", {"name": "Bravo"})
    steps = [
        ("adjust", {"amount": "2.50", "reason": "bonus"}),
        ("target", {"target_balance": "100"}),
        ("webhook", {"url": "https://example.com/hook", "sign": "keep"}),
        ("webhook-test", {}),
        ("token", {"revoke_old": "yes"}),
        ("keys", {"scope": ["balance", "history"], "label": "dash"}),
    ]
    for action, data in steps:
        page = await alice.post(f"/admin/servers/alpha/{action}", data)
        assert page.status in (200, 303), (action, page.text)
    server = site.ledger.require_server("alpha")
    assert (server.balance, server.target_balance) == (1250, 10000)
    assert server.webhook_url == "https://example.com/hook/lurkcoin"  # as the reference
    key = site.ledger.api_keys(server)[0]
    await alice.post("/admin/servers/alpha/revoke-key", {"key": key.id})
    assert site.ledger.api_keys(server) == []
    entries = await site.ledger.audit_entries()
    assert [e.action for e in reversed(entries)] == [
        "create-server",
        "create-server",
        "adjust-balance",
        "set-target-balance",
        "set-webhook",
        "test-webhook",
        "regenerate-token",
        "create-api-key",
        "revoke-api-key",
    ]
    assert {(e.actor, e.address) for e in entries} == {("alice", "127.0.0.1")}
    assert await site.ledger.verify_audit() == (9, [])
    assert (await site.ledger.check()).ok


async def test_refused_actions_say_why_and_change_nothing(site: LiveServer, browser: Open) -> None:
    alice = await browser("alice")
    await alice.post("/admin/create", {"name": "Alpha"})
    for action, data, why in [
        ("adjust", {"amount": "-5", "reason": "take"}, "cannot go below"),
        ("adjust", {"amount": "5", "reason": " "}, "needs a reason"),
        ("adjust", {"amount": "lots", "reason": "x"}, "is not an amount"),
        ("target", {"target_balance": "-1"}, ""),
        ("webhook", {"url": "ftp://nope"}, "invalid webhook URL"),
        ("delete", {"confirm": "alpha"}, "Type the server"),
        ("pending", {"how": "reject", "reason": "x"}, "Tick the transactions"),
    ]:
        page = await alice.post(f"/admin/servers/alpha/{action}", data)
        assert page.status == 400 and why in page.text, (action, page.text[-800:])
    assert len(await site.ledger.audit_entries()) == 1
    assert (await alice.post("/admin/create", {"name": "alpha"})).status == 400


async def test_force_reject_refunds_and_delete_moves_money_to_issuance(
    site: LiveServer, browser: Open
) -> None:
    alice = await browser("alice")
    await alice.post("/admin/create", {"name": "Alpha", "balance": "10"})
    await alice.post("/admin/create", {"name": "Bravo"})
    ledger = site.ledger
    pay = ledger.require_server("alpha")
    t1 = await ledger.pay(
        pay,
        source_user="a",
        target_user="b",
        target_server="Bravo",
        amount=300,
        local_currency=False,
    )
    t2 = await ledger.pay(
        pay,
        source_user="a",
        target_user="b",
        target_server="Bravo",
        amount=200,
        local_currency=False,
    )
    page = await alice.post(
        "/admin/servers/bravo/pending", {"txn": [t1.id], "how": "reject", "reason": "gone"}
    )
    assert page.status == 303
    assert ledger.require_server("alpha").balance == 1000 - 200
    refused = await alice.post("/admin/servers/bravo/delete", {"confirm": "Bravo"})
    assert refused.status == 400 and "still holds a balance or pending" in refused.text
    assert ledger.server("bravo") is not None
    page = await alice.post(
        "/admin/servers/bravo/delete", {"confirm": "Bravo", "drain": "yes", "reason": "closing"}
    )
    assert page.status == 303 and ledger.server("bravo") is None
    assert (await ledger.transaction(t2.id)).status == "acknowledged"  # type: ignore[union-attr]
    assert (await ledger.check()).ok


async def test_names_are_escaped_everywhere(site: LiveServer, browser: Open) -> None:
    alice = await browser("alice")
    created = await alice.post("/admin/create", {"name": XSS, "balance": "5"}, follow=True)
    assert created.status == 200
    await alice.post("/admin/create", {"name": "Bravo"})
    uid = site.ledger.server(XSS).uid  # type: ignore[union-attr]
    await site.ledger.pay(
        site.ledger.require_server(XSS),
        source_user='"><b>u',
        target_user="v",
        target_server="Bravo",
        amount=100,
        local_currency=False,
    )
    for path in (
        "/admin/servers",
        f"/admin/servers/{uid}",
        "/admin/transactions",
        "/admin/audit",
        "/admin/servers/bravo",
    ):
        page = await alice.get(path)
        assert page.status == 200
        assert XSS not in page.text and '"><b>u' not in page.text, path
        assert "&lt;script&gt;" in page.text, path


async def test_csv_export_streams_the_search_and_defuses_formulas(
    site: LiveServer, browser: Open
) -> None:
    alice = await browser("alice")
    await alice.post("/admin/create", {"name": "Alpha", "balance": "10"})
    await alice.post("/admin/create", {"name": "Bravo"})
    source = site.ledger.require_server("alpha")
    for user in ("=cmd|' /C calc'!A0", "bob", "bob"):
        await site.ledger.pay(
            source,
            source_user=user,
            target_user="",
            target_server="Bravo",
            amount=100,
            local_currency=False,
        )
    page = await alice.get("/admin/transactions.csv?user=bob")
    assert page.headers["Content-Disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(page.text)))
    assert rows[0][0] == "id" and len(rows) == 3
    everything = list(csv.reader(io.StringIO((await alice.get("/admin/transactions.csv")).text)))
    assert len(everything) == 4 and any(r[3].startswith("'=") for r in everything[1:])


@pytest.mark.sqlite_only  # reads or edits the SQLite file, or SQLite's own machinery
async def test_removing_an_account_ends_its_sessions(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    first = await start_server(console_config(db))
    client = ConsoleClient(first.url)
    try:
        assert (await client.login("victor")).status == 200
        await first.stop()
        config = console_config(db)
        del config.admin.accounts["victor"], config.admin.roles["victor"]
        second = await start_server(config)
        client.base = second.url
        assert (await client.get("/admin/", follow=False)).status == 303
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT user FROM admin_sessions").fetchall() == []
        await second.stop()
    finally:
        await client.close()


def test_roles_in_the_config(tmp_path: Path) -> None:
    path = tmp_path / "lurkcoin.toml"
    hashed = console_config(tmp_path / "x.db").admin.accounts["alice"]
    path.write_text(
        f'[admin]\naccounts = {{ alice = "{hashed}", bob = "{hashed}" }}\n'
        'roles = { bob = "viewer" }\n',
        encoding="utf-8",
    )
    admin = load_config(path, environ={}).admin
    assert (admin.role("alice"), admin.role("bob"), admin.role("carol")) == (
        "owner",
        "viewer",
        None,
    )
    path.write_text(f'[admin]\naccounts = {{ alice = "{hashed}" }}\nroles = {{ alice = "god" }}\n')
    with pytest.raises(ConfigError, match="must be one of viewer, operator, owner"):
        load_config(path, environ={})
    path.write_text(f'[admin]\naccounts = {{ alice = "{hashed}" }}\nroles = {{ eve = "owner" }}\n')
    with pytest.raises(ConfigError, match="'eve' not in"):
        load_config(path, environ={})
