"""The public explorer page in a real browser (Debian's Chromium), with JavaScript off.

One server with public transactions, one with private ones; the page must
work without script, load nothing from elsewhere and keep transactions
private when the operator says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from browser_helpers import launched_chromium, require_chromium
from explorer_helpers import fill
from live_server import LiveServer, make_config, serving_thread, start_server
from playwright.sync_api import Browser, Page

# .ci/run installs it; elsewhere the module skips and the summary names what is missing.
require_chromium()


@dataclass
class Sites:
    public: str
    private: str


async def _start(db: Path, public: bool) -> LiveServer:
    config = make_config(db, formula="integral")
    config.explorer.public_transactions = public
    config.explorer.rate_limit = 1_000_000
    server = await start_server(config)
    await fill(server.ledger)
    return server


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sites]:
    home = tmp_path_factory.mktemp("explorer")
    with serving_thread("explorer-under-test") as serving:
        public, private = (
            serving.start(_start(home / f"{kind}.db", kind == "public"))
            for kind in ("public", "private")
        )
        yield Sites(public.url, private.url)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with launched_chromium() as browser:
        yield browser


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context(java_script_enabled=False)
    yield context.new_page()
    context.close()


def _requests(page: Page) -> list[str]:
    """Every URL the page asks for from now on."""
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    return requested


def test_overview_stats_chart_richest_and_rates(sites: Sites, page: Page) -> None:
    requested = _requests(page)
    response = page.goto(sites.public + "/explorer")
    assert response is not None and response.status == 200
    assert page.title() == "Overview · lurkcoin explorer"
    tiles = page.locator("#stats")
    assert "Servers" in tiles.inner_text() and "Health score" in tiles.inner_text()
    assert page.locator("figure.chart svg rect").count() == 30  # one bar per day
    richest = page.locator("#richest tr")
    assert richest.count() == 4  # header + 3 servers
    assert "Charlie" in richest.nth(1).inner_text()  # richest first
    assert page.locator("#rates").inner_text().count("floating") == 2
    # Everything came from this server: no external asset.
    assert requested and all(url.startswith(sites.public) for url in requested)
    # The stylesheet applied (served by lurkcoin itself).
    background = page.evaluate("getComputedStyle(document.querySelector('header')).backgroundColor")
    assert background == "rgb(29, 36, 51)"


def test_server_page_and_transactions_without_script(sites: Sites, page: Page) -> None:
    page.goto(sites.public + "/explorer/")
    page.click("#richest >> text=Bravo")
    assert page.url.endswith("/explorer/servers/bravo")
    assert "Balance" in page.locator("#server").inner_text()
    assert page.locator("table.transactions tr").count() == 11  # header + 10 recent
    page.click("text=All of its transactions")
    assert "/explorer/transactions?server=bravo" in page.url

    # The filter form is a plain GET form.
    page.select_option("select[name=status]", "pending")
    page.select_option("select[name=sort]", "amount:desc")
    page.click("button[type=submit]")
    rows = page.locator("table.transactions tr")
    assert rows.count() >= 2
    for index in range(1, rows.count()):
        assert "pending" in rows.nth(index).inner_text()

    # Cursor paging through links.
    page.goto(sites.public + "/explorer/transactions?limit=5")
    first = page.locator("table.transactions").inner_text()
    page.click("a[rel=next]")
    assert page.locator("table.transactions").inner_text() != first
    page.click("a[rel=prev]")
    assert page.locator("table.transactions").inner_text() == first

    # One transaction, and a bad filter explained.
    page.click("table.transactions tr:nth-child(2) td:last-child a")
    assert page.locator("#transaction").inner_text().count("Status") == 1
    response = page.goto(sites.public + "/explorer/transactions?min_amount=lots")
    assert response is not None and response.status == 400
    assert page.locator("#error").inner_text().startswith("min_amount: expected an amount")


def test_private_transactions_stay_private(sites: Sites, page: Page) -> None:
    response = page.goto(sites.private + "/explorer/")
    assert response is not None and response.status == 200
    assert page.locator("header >> text=Transactions").count() == 0
    page.click("#richest >> text=Alpha")
    assert "private" in page.locator("main").inner_text()
    assert page.locator("table.transactions").count() == 0
    response = page.goto(sites.private + "/explorer/transactions")
    assert response is not None and response.status == 403
