"""The real app on a real loopback port over a real SQLite file: what the fixtures start.

Tests import these from here (never from conftest); the fixtures in
conftest.py use them too.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from lurkcoin.api.app import LEDGER_KEY, CleanupContext, create_app
from lurkcoin.config import Config, DatabaseSection, ExchangeSection
from lurkcoin.ledger import Ledger

LOOPBACK = "127.0.0.1"
T = TypeVar("T")


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


class ServingThread:
    """An event loop on its own thread, serving apps to a synchronous test (a browser, requests).

    ``run`` hands a coroutine to the loop and waits for its result; ``start``
    starts a server there that is stopped when the thread's block ends.
    """

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._servers: list[LiveServer] = []

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self, starting: Coroutine[Any, Any, LiveServer]) -> LiveServer:
        server = self.run(starting)
        self._servers.append(server)
        return server

    def _stop(self) -> None:
        try:
            for server in reversed(self._servers):
                self.run(server.stop(), 30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(30)
            self.loop.close()


@contextmanager
def serving_thread(name: str) -> Iterator[ServingThread]:
    """A ``ServingThread`` that stops its servers, then its loop, however the block ends."""
    serving = ServingThread(name)
    serving._thread.start()
    try:
        yield serving
    finally:
        serving._stop()
