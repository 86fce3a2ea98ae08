"""The real app on a real loopback port over a real SQLite file: what the fixtures start.

Tests import these from here (never from conftest); the fixtures in
conftest.py use them too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from lurkcoin.api.app import LEDGER_KEY, CleanupContext, create_app
from lurkcoin.config import Config, DatabaseSection, ExchangeSection
from lurkcoin.ledger import Ledger

LOOPBACK = "127.0.0.1"


def make_config(db_path: Path, *, formula: str = "reference") -> Config:
    """A config for tests: the given SQLite file and exchange formula."""
    return Config(
        database=DatabaseSection(path=str(db_path)), exchange=ExchangeSection(formula=formula)
    )


@dataclass
class LiveServer:
    """One running app; ``url`` is its base address."""

    app: web.Application
    runner: web.AppRunner
    port: int
    stopped: bool = False

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def ledger(self) -> Ledger:
        return self.app[LEDGER_KEY]

    async def stop(self) -> None:
        """Stop serving and close the app's Ledger (safe to call twice)."""
        if not self.stopped:
            self.stopped = True
            await self.runner.cleanup()


async def start_server(config: Config, *, ledger: Ledger | None = None) -> LiveServer:
    """Start the app on a free loopback port (the Ledger opened by the app unless given)."""
    return await start_server_with(config, ledger, ())


async def start_server_with(
    config: Config, ledger: Ledger | None, extra_contexts: Iterable[CleanupContext]
) -> LiveServer:
    app = create_app(config, ledger=ledger, extra_contexts=extra_contexts)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, LOOPBACK, 0)
    await site.start()
    port = runner.addresses[0][1]
    return LiveServer(app, runner, port)


StartServer = Callable[..., Awaitable[LiveServer]]
