"""For the webhook tests: a real receiver on a loopback port, and a ledger with its dispatcher."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from lurkcoin.config import Config
from lurkcoin.ledger import Ledger
from lurkcoin.models import DeliveryState, Transaction
from lurkcoin.webhooks import WebhookDispatcher

BODY = b'{"version": 0}'


@dataclass(frozen=True)
class Received:
    at: float  # time.monotonic() when the request arrived
    method: str
    path: str
    raw_headers: tuple[tuple[str, str], ...]
    body: bytes

    @property
    def headers(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.raw_headers}


class Receiver:
    """Records every request; answers ``status`` after ``delay`` seconds."""

    def __init__(self, status: int = 200, delay: float = 0.0) -> None:
        self.status = status
        self.delay = delay
        self.requests: list[Received] = []
        self.active = 0  # requests being answered right now
        self.max_active = 0
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._arrived = asyncio.Event()
        # A path: every other request is answered with a redirect to it.
        self.redirect_to: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def on(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            Received(
                time.monotonic(),
                request.method,
                request.path,
                tuple((k.decode(), v.decode()) for k, v in request.raw_headers),
                body,
            )
        )
        self._arrived.set()
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
        finally:
            self.active -= 1
        if self.redirect_to is not None and request.path != self.redirect_to:
            raise web.HTTPFound(self.redirect_to)
        return web.Response(status=self.status, text="ok")

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Wait until at least ``count`` requests arrived; fails the test after ``timeout``."""
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"expected {count} webhook requests, got {len(self.requests)}")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout=left)
            except TimeoutError:
                pass
        return self.requests


def webhook_config(tmp_path: Path) -> Config:
    config = Config()
    config.database.path = str(tmp_path / "ledger.db")
    config.webhooks.allow_private_addresses = True  # the receiver is on loopback
    config.webhooks.retry_cap = 0.4  # retries every 0.2-0.4 s instead of 2 s, 4 s, ...
    config.webhooks.timeout = 2.0
    return config


@asynccontextmanager
async def serving(config: Config) -> AsyncIterator[tuple[Ledger, WebhookDispatcher]]:
    """A ledger with its dispatcher, as the app runs them."""
    ledger = await Ledger.open(config)
    dispatcher = WebhookDispatcher(ledger)
    await dispatcher.start()
    try:
        yield ledger, dispatcher
    finally:
        await dispatcher.stop()
        await ledger.close()


async def setup_servers(ledger: Ledger, url: str | None) -> None:
    """ "Bank" pays; "Game" has the webhook."""
    await ledger.create_server("Bank", balance=1_000_000)
    await ledger.create_server("Game", webhook_url=url)


async def pay(ledger: Ledger, target: str = "Game", user: str = "bob") -> Transaction:
    return await ledger.pay(
        ledger.require_server("Bank"),
        source_user="alice",
        target_user=user,
        target_server=target,
        amount=100,
        local_currency=False,
    )


async def state_of(ledger: Ledger, name: str = "Game") -> DeliveryState:
    return next(s for s in await ledger.outbox.delivery_states() if s.server_name == name)


async def wait_state(
    ledger: Ledger, check: Callable[[DeliveryState], bool], timeout: float = 5.0, name: str = "Game"
) -> DeliveryState:
    deadline = time.monotonic() + timeout
    while True:
        state = await state_of(ledger, name)
        if check(state):
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"delivery state never matched: {state}")
        await asyncio.sleep(0.02)


def delivered(state: DeliveryState) -> bool:
    return not state.pending and state.last_error is None and state.last_attempt_at is not None
