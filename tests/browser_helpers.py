"""Debian's chromium driven by Playwright, for the console's and the explorer's page tests.

Never ``playwright install``: it cannot download here, and .ci/run installs
Debian's chromium instead. Without it a browser test module skips (fails
under CI) and the summary names what is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright
from system_parts import require

CHROMIUM = Path("/usr/bin/chromium")


def require_chromium() -> None:
    """At the top of a browser test module: skip it (fail under CI) without chromium."""
    require("chromium", CHROMIUM.exists(), "apt-get install chromium", module=True)


@contextmanager
def launched_chromium() -> Iterator[Browser]:
    """A headless chromium, closed when the block ends."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()
