"""Faults on a PostgreSQL ledger shared by real `lurkcoin serve` processes (loopback only).

- Two processes on two ports, idempotent clients paying through both at
  random, one of them SIGKILLed at a random moment in each of 20 cycles and
  restarted: every payment a client saw succeed exists exactly once, no key
  paid twice, and `check` is clean.
- PostgreSQL itself restarted under load (`pg_ctl restart -m fast`, on a
  throwaway cluster of the test's own): while it is down the server answers
  503 with Retry-After (never a 500), /readyz says 503, and afterwards it
  recovers by itself and loses nothing it answered with success.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from crash_helpers import PAY_BODY, Book, Harness, free_port, pay_headers, pay_once, verify
from system_parts import require

pytestmark = pytest.mark.postgresql_only

CYCLES = 20


async def _client(
    session: aiohttp.ClientSession,
    servers: list[Harness],
    book: Book,
    stop: asyncio.Event,
    rng: random.Random,
) -> None:
    while not stop.is_set():
        key = book.in_doubt.pop() if book.in_doubt else book.new_key()
        h = rng.choice(servers)
        try:
            txn_id = await pay_once(session, h, key)
        except (TimeoutError, aiohttp.ClientError, ConnectionError, AssertionError):
            book.in_doubt.append(key)  # that process died, or was down: retry anywhere
            await asyncio.sleep(0.01)
            continue
        previous = book.succeeded.setdefault(key, txn_id)
        assert previous == txn_id, f"key {key} answered with two transactions"


async def test_two_processes_one_killed_again_and_again(tmp_path: Path) -> None:
    first = Harness(tmp_path, tmp_path / "unused.db")
    second = Harness(tmp_path, tmp_path / "unused.db", tokens=first.tokens)
    servers = [first, second]
    await first.seed()
    book = Book()
    rng = random.Random(CYCLES)
    await first.start()
    await second.start()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=16)) as session:
        for _ in range(CYCLES):
            stop = asyncio.Event()
            clients = [
                asyncio.create_task(_client(session, servers, book, stop, rng)) for _ in range(12)
            ]
            await asyncio.sleep(rng.uniform(0.2, 0.6))
            victim = rng.choice(servers)
            victim.kill()  # with payments in flight through it
            await asyncio.sleep(rng.uniform(0.0, 0.2))  # the other one serves alone
            stop.set()
            await asyncio.gather(*clients)
            await victim.start()
        for key in list(book.in_doubt):  # every key in doubt is settled by retrying it
            book.succeeded.setdefault(key, await pay_once(session, rng.choice(servers), key))
        book.in_doubt.clear()
    first.kill()
    second.kill()
    assert len(book.succeeded) > 10 * CYCLES
    await verify(first, book)


def _postgres_binaries() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return found[-1].parent if found else None


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """A throwaway PostgreSQL cluster on a free port: its URL and the pg_ctl command."""
    binaries = _postgres_binaries()
    require("PostgreSQL server binaries", binaries is not None, "apt-get install postgresql")
    assert binaries is not None
    # Not under tmp_path: as root, the cluster runs as the postgres user, who
    # cannot enter pytest's private directories.
    data = Path(tempfile.mkdtemp(prefix="lurkcoin-test-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root
        require("runuser", shutil.which("runuser") is not None, "apt-get install util-linux")
        shutil.chown(data, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run(
        [*as_user, str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    ctl = [*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-w", "-l", str(data / "log")]
    options = f"-p {port} -c listen_addresses=127.0.0.1 -k {data} -c fsync=on"
    subprocess.run([*ctl, "-o", options, "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres", [*ctl, "-o", options]
    finally:
        subprocess.run([*ctl, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


async def test_postgresql_restarted_under_load(
    tmp_path: Path, own_cluster: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, ctl = own_cluster
    monkeypatch.setenv("LURKCOIN_DATABASE_URL", url)
    h = Harness(tmp_path, tmp_path / "unused.db", database_url=url)
    await h.seed()
    await h.start()
    book = Book()
    statuses: list[int] = []
    ready_during_outage: list[int] = []
    async with aiohttp.ClientSession() as session:

        async def watch(stop: asyncio.Event) -> None:
            while not stop.is_set():
                async with session.get(f"{h.url}/readyz") as resp:
                    ready_during_outage.append(resp.status)
                await asyncio.sleep(0.05)

        async def paying(stop: asyncio.Event) -> None:
            while not stop.is_set():
                key = book.in_doubt.pop() if book.in_doubt else book.new_key()
                try:
                    async with session.post(
                        f"{h.url}/v3/pay",
                        json=PAY_BODY,
                        headers=pay_headers(h, key),
                    ) as resp:
                        statuses.append(resp.status)
                        data = await resp.json()
                except aiohttp.ClientError:
                    book.in_doubt.append(key)
                    continue
                if data.get("success"):
                    book.succeeded.setdefault(key, data["result"]["id"])
                else:
                    assert resp.status == 503 and resp.headers.get("Retry-After"), data
                    book.in_doubt.append(key)
                    await asyncio.sleep(0.02)

        stop = asyncio.Event()
        tasks = [asyncio.create_task(paying(stop)) for _ in range(8)]
        await asyncio.sleep(0.5)
        watcher_stop = asyncio.Event()
        watcher = asyncio.create_task(watch(watcher_stop))
        await asyncio.to_thread(
            subprocess.run, [*ctl, "-m", "fast", "stop"], check=True, capture_output=True
        )
        await asyncio.sleep(1.5)  # down: answers must be 503s
        await asyncio.to_thread(subprocess.run, [*ctl, "start"], check=True, capture_output=True)
        await asyncio.sleep(1.0)
        watcher_stop.set()
        await watcher
        # Recovered by itself: payments succeed again without a restart of lurkcoin.
        before = len(book.succeeded)
        for _ in range(200):
            if len(book.succeeded) > before + 20:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.gather(*tasks)
        for key in list(book.in_doubt):
            book.succeeded.setdefault(key, await pay_once(session, h, key))
        book.in_doubt.clear()
    h.kill()
    assert 500 not in statuses
    assert 503 in statuses, "the outage was never seen"
    assert 503 in ready_during_outage and ready_during_outage[-1] == 200
    assert len(book.succeeded) > before + 20, "payments did not resume"
    await verify(h, book)
