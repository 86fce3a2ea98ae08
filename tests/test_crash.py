"""Crash tests: a real `lurkcoin serve` process killed with SIGKILL under payment load.

Clients pay with idempotency keys and, when the server dies under them,
retry the same key after the restart. Afterwards every payment a client saw
succeed exists exactly once, no key paid twice, and the books balance.
The short runs are part of every test run; `pytest -m soak --soak-rounds N`
runs a longer one.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import aiohttp
import pytest
from crash_helpers import Book, Harness, client, pay_once, verify


async def run_rounds(h: Harness, rounds: int, clients: int = 16) -> Book:
    book = Book()
    rng = random.Random(rounds)
    await h.seed()
    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        for _ in range(rounds):
            await h.start()
            stop = asyncio.Event()
            workers = [asyncio.create_task(client(session, h, book, stop)) for _ in range(clients)]
            await asyncio.sleep(rng.uniform(0.2, 0.8))
            h.kill()  # at a random moment, with requests in flight
            await asyncio.sleep(0.05)
            stop.set()
            await asyncio.gather(*workers)
        await h.start()
        for key in list(book.in_doubt):  # every key in doubt is settled by retrying it
            book.succeeded.setdefault(key, await pay_once(session, h, key))
        book.in_doubt.clear()
        h.kill()
    return book


async def test_sigkill_under_load_loses_and_doubles_nothing(tmp_path: Path) -> None:
    h = Harness(tmp_path, tmp_path / "crash.db")
    book = await run_rounds(h, rounds=3)
    assert len(book.succeeded) > 50
    await verify(h, book)


@pytest.mark.soak
async def test_soak_kill_cycles(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    rounds = int(request.config.getoption("--soak-rounds"))
    h = Harness(tmp_path, tmp_path / "soak.db")
    book = await run_rounds(h, rounds=rounds)
    assert len(book.succeeded) > 20 * rounds
    await verify(h, book)
