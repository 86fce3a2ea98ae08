"""The console in a real browser: Debian's Chromium driven by Playwright.

One lurkcoin server (on a loopback port, in a thread with its own event loop)
and one browser serve the whole module; each test gets a fresh browser
context, so its own cookies. Screenshots land in the module's tmp dir.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from browser_helpers import launched_chromium, require_chromium
from console_helpers import PASSWORD, console_config
from live_server import LiveServer, serving_thread, start_server
from playwright.sync_api import Browser, Page

from lurkcoin.cli import main as lurkcoin_main

# .ci/run installs it; elsewhere the module skips and the summary names what is missing.
require_chromium()

XSS = '<script>alert("owned")</script>'


def cli(*argv: str) -> int:
    """``lurkcoin ARGV`` in this process, on a thread of its own: Playwright's sync API
    keeps an event loop running on the test's thread, and the CLI starts its own."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lurkcoin_main, list(argv)).result(60)


@dataclass
class Site:
    """The running server, as seen from the (synchronous) test thread."""

    url: str
    db: Path
    config_file: Path
    shots: Path
    server: LiveServer

    def lurkcoin(self, *argv: str) -> int:
        """The CLI on the live database, as an operator runs it beside the server."""
        return cli("--config", str(self.config_file), *argv)

    def pay(self, source: str, token: str, target_server: str, amount: int) -> str:
        """A game server's payment over /v3 (to a user, so it waits in the target's queue)."""
        auth = base64.b64encode(f"{source}:{token}".encode()).decode()
        reply = requests.post(
            f"{self.url}/v3/pay",
            json={
                "source": "steve",
                "target": "alex",
                "target_server": target_server,
                "amount": amount,
            },
            headers={"Authorization": f"Basic {auth}"},
            timeout=10,
        ).json()
        assert reply["success"], reply
        return str(reply["result"]["id"])

    def balance(self, name: str) -> int:
        with sqlite3.connect(self.db) as conn:
            row = conn.execute(
                "SELECT balance FROM servers WHERE name = ? AND deleted_at IS NULL", (name,)
            ).fetchone()
        return int(row[0])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    home = tmp_path_factory.mktemp("console")
    db = home / "ledger.db"
    config = console_config(db, roles={"victor": "viewer", "trudy": "viewer"})
    config.admin.accounts["trudy"] = config.admin.accounts["alice"]
    config.security.failures_per_account = 3
    config_file = home / "lurkcoin.toml"
    config_file.write_text(f'[database]\npath = "{db}"\n', encoding="utf-8")
    shots = home / "screenshots"
    shots.mkdir()
    with serving_thread("lurkcoin-under-test") as serving:
        server = serving.start(start_server(config))
        yield Site(server.url, db, config_file, shots, server)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with launched_chromium() as browser:
        yield browser


@pytest.fixture
def page(chromium: Browser, site: Site) -> Iterator[Page]:
    context = chromium.new_context(base_url=site.url, accept_downloads=True)
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    yield tab
    context.close()


def sign_in(page: Page, user: str, password: str = PASSWORD) -> int:
    """Sign in through the form; returns the status of the page it lands on."""
    page.goto("/admin/login")
    page.fill("input[name=user]", user)
    page.fill("input[name=password]", password)
    with page.expect_navigation() as landed:
        page.click("main button[type=submit]")
    response = landed.value
    assert response is not None
    return response.status


def create_server(page: Page, name: str, balance: str = "") -> str:
    """Create a server through the form; returns the token the page shows once."""
    page.goto("/admin/create")
    page.fill("input[name=name]", name)
    page.fill("input[name=balance]", balance)
    page.click("main button[type=submit]")
    return page.input_value("#secret")


@pytest.mark.sqlite_only  # imports into a second ledger and downloads the SQLite copy
def test_an_operators_day(page: Page, site: Site, tmp_path: Path) -> None:
    assert sign_in(page, "alice") == 200
    assert page.url.endswith("/admin/")

    alpha_token = create_server(page, "Alpha", "100")
    assert len(alpha_token) > 100
    page.goto("/admin/servers/alpha")
    assert alpha_token not in page.content()  # shown once, never again
    create_server(page, "Bravo")

    # A pending payment, rejected from the console with its refund.
    txn = site.pay("Alpha", alpha_token, "Bravo", 30)
    assert site.balance("Alpha") == 7000
    page.goto("/admin/servers/bravo")
    page.check(f"input[name=txn][value='{txn}']")
    page.fill("#pending-form input[name=reason]", "the game server is gone")
    page.click("#pending-form button[value=reject]")
    assert page.text_content("[role=status]") == "Pending transactions settled."
    assert page.text_content("#pending-count") == "0"
    assert site.balance("Alpha") == 10000
    page.goto(f"/admin/transactions?id={txn}")
    assert "refunded:" in (page.text_content("table.transactions") or "")

    # An adjustment with its reason, through the issuance account.
    page.goto("/admin/servers/alpha")
    page.fill("#adjust-form input[name=amount]", "-12.50")
    page.fill("#adjust-form input[name=reason]", "chargeback #42")
    page.click("#adjust-form button")
    assert page.text_content("#balance") == "¤87.50"
    page.screenshot(path=site.shots / "server.png", full_page=True)

    # The chart and the numbers behind it.
    page.goto("/admin/")
    bars = page.locator("figure.chart").first.locator("rect")
    assert bars.count() == 30
    assert float(bars.last.get_attribute("height") or 0) > 0  # today's payments
    today = page.locator("#daily tbody tr").first.locator("td")
    assert today.nth(1).text_content() == "2"  # the payment and its refund
    page.screenshot(path=site.shots / "dashboard.png", full_page=True)

    # Download the lurkcoin-core backup and import it into a fresh database.
    page.goto("/admin/backup")
    with page.expect_download() as download:
        page.click("#backup-json")
    saved = tmp_path / "backup.json"
    download.value.save_as(saved)
    assert {s["name"] for s in json.loads(saved.read_text())} == {"Alpha", "Bravo"}
    fresh = tmp_path / "fresh.toml"
    fresh.write_text(f'[database]\npath = "{tmp_path / "fresh.db"}"\n', encoding="utf-8")
    assert cli("--config", str(fresh), "import", str(saved)) == 0
    with sqlite3.connect(tmp_path / "fresh.db") as conn:
        balances = dict(conn.execute("SELECT name, balance FROM servers WHERE kind = 'server'"))
    assert balances == {"Alpha": 8750, "Bravo": 0}
    with page.expect_download() as download:
        page.click("#backup-sqlite")
    copy = tmp_path / "copy.sqlite3"
    download.value.save_as(copy)
    with sqlite3.connect(copy) as conn:
        assert conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] >= 4

    # Sign out: the console is closed again.
    page.click("header form.logout button")
    assert page.url.endswith("/admin/login")
    page.goto("/admin/servers")
    assert page.url.endswith("/admin/login")

    assert site.lurkcoin("check") == 0
    assert site.lurkcoin("audit", "verify") == 0


def test_a_viewer_has_no_operator_actions(page: Page, site: Site) -> None:
    assert sign_in(page, "alice") == 200
    create_server(page, "Charlie", "5")
    page.context.clear_cookies()
    assert sign_in(page, "victor") == 200
    page.goto("/admin/servers/charlie")
    assert page.locator("#adjust-form").count() == 0
    assert page.locator("text=Delete this server").count() == 0
    assert page.locator("a[href='/admin/create']").count() == 0
    csrf = page.get_attribute("header input[name=csrf]", "value")
    refused = page.request.post(
        "/admin/servers/charlie/adjust",
        form={"csrf": csrf or "", "amount": "1000", "reason": "mine now"},
        max_redirects=0,
    )
    assert refused.status == 403
    assert site.balance("Charlie") == 500


def test_a_wrong_password_is_throttled(page: Page, site: Site) -> None:
    assert [sign_in(page, "trudy", "not it") for _ in range(3)] == [401, 401, 429]
    assert sign_in(page, "trudy", "still not it") == 429
    assert "Too many failed sign-ins" in (page.text_content("[role=alert]") or "")


def test_an_xss_name_is_shown_as_text(page: Page, site: Site) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    assert sign_in(page, "alice") == 200
    create_server(page, XSS)
    page.goto("/admin/servers?q=script")
    assert page.text_content("#servers tbody a") == XSS
    page.click("#servers tbody a")
    assert page.text_content("#server-name") == XSS
    page.goto("/admin/audit")
    assert XSS in (page.text_content("table.audit") or "")
    assert dialogs == []


def test_a_cross_site_post_changes_nothing(page: Page, site: Site) -> None:
    assert sign_in(page, "alice") == 200
    create_server(page, "Delta", "1")
    # Another site's page with a form aimed at the console (no CSRF token).
    page.goto("about:blank")
    page.set_content(
        f'<form method="post" action="{site.url}/admin/servers/delta/adjust">'
        '<input name="amount" value="1000"><input name="reason" value="free money">'
        '<button id="go">go</button></form>'
    )
    page.click("#go")
    page.wait_for_load_state()
    assert "/admin/login" in page.url  # SameSite=Strict: the cookie never went with it
    # The same form from our own origin (the cookie goes along) still lacks the token.
    page.goto("/admin/servers/delta")
    refused = page.request.post(
        "/admin/servers/delta/adjust",
        form={"amount": "1000", "reason": "free money"},
        max_redirects=0,
    )
    assert refused.status == 403
    assert site.balance("Delta") == 100
    assert site.lurkcoin("check") == 0
    assert site.lurkcoin("audit", "verify") == 0
