"""Real `lurkcoin serve` processes to kill, and idempotent clients that keep a book.

Used by tests/test_crash.py (one process on SQLite or PostgreSQL) and
tests/test_postgres_faults.py (two processes on one PostgreSQL ledger).
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from lurkcoin.config import Config
from lurkcoin.ledger import Ledger

PAY_CENTS = 7
START_BALANCE = 10_000_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Harness:
    tmp_path: Path
    db: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    tokens: dict[str, str] = field(default_factory=dict)
    # A PostgreSQL ledger to use instead of the default one ("": the config's default).
    database_url: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> Config:
        config = Config()
        config.database.path = str(self.db)
        if self.database_url:
            config.database.url = self.database_url
        return config

    async def seed(self) -> None:
        ledger = await Ledger.open(self.config())
        try:
            for name in ("Payer", "Payee"):
                _, self.tokens[name] = await ledger.create_server(name, balance=START_BALANCE)
        finally:
            await ledger.close()

    async def start(self) -> None:
        env = {
            **os.environ,
            "LURKCOIN_DATABASE_PATH": str(self.db),
            "LURKCOIN_SERVER_PORT": str(self.port),
            "LURKCOIN_SERVER_HOST": "127.0.0.1",
            "LURKCOIN_LOGGING_LEVEL": "WARNING",
        }
        if self.database_url:
            env["LURKCOIN_DATABASE_URL"] = self.database_url
        env.pop("LURKCOIN_CONFIG", None)
        log = open(self.tmp_path / f"server-{self.port}.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lurkcoin", "serve"],
            env=env,
            stdout=log,
            stderr=log,
            cwd=self.tmp_path,
        )
        log.close()
        deadline = time.monotonic() + 20
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise AssertionError(
                        f"server exited: {(self.tmp_path / f'server-{self.port}.log').read_text()}"
                    )
                try:
                    async with session.get(f"{self.url}/v3/version") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError("server did not start")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None


@dataclass
class Book:
    """What the clients know: keys answered with a transaction id, keys in doubt."""

    succeeded: dict[str, str] = field(default_factory=dict)
    in_doubt: list[str] = field(default_factory=list)
    next_key: int = 0

    def new_key(self) -> str:
        self.next_key += 1
        return f"crash-{self.next_key}"


def basic(name: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{name}:{token}".encode()).decode()


def pay_headers(h: Harness, key: str) -> dict[str, str]:
    return {"Idempotency-Key": key, "Authorization": basic("payer", h.tokens["Payer"])}


PAY_BODY = {"source": "p", "target": "q", "target_server": "payee", "amount": PAY_CENTS / 100}


async def pay_once(session: aiohttp.ClientSession, h: Harness, key: str) -> str:
    body, headers = PAY_BODY, pay_headers(h, key)
    async with session.post(
        f"{h.url}/v3/pay", json=body, headers=headers, timeout=aiohttp.ClientTimeout(total=10)
    ) as resp:
        data = await resp.json()
    assert data["success"], data
    return str(data["result"]["id"])


async def client(
    session: aiohttp.ClientSession, h: Harness, book: Book, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        key = book.in_doubt.pop() if book.in_doubt else book.new_key()
        try:
            txn_id = await pay_once(session, h, key)
        except (TimeoutError, aiohttp.ClientError, ConnectionError):
            book.in_doubt.append(key)  # the server died under us: retry after restart
            await asyncio.sleep(0.01)
            continue
        previous = book.succeeded.setdefault(key, txn_id)
        assert previous == txn_id, f"key {key} answered with two transactions"


async def verify(h: Harness, book: Book) -> None:
    ledger = await Ledger.open(h.config())
    try:
        ids = set(book.succeeded.values())
        assert len(ids) == len(book.succeeded), "two keys share a transaction"
        for txn_id in ids:
            assert await ledger.transaction(txn_id) is not None, f"lost {txn_id}"
        payer = ledger.require_server("payer")
        payee = ledger.require_server("payee")
        paid = len(book.succeeded) * PAY_CENTS
        # Every payment in the ledger is one some key was answered with: none extra.
        assert payer.balance == START_BALANCE - paid
        assert payee.balance == START_BALANCE + paid
        report = await ledger.check()
        assert report.ok, report.problems
    finally:
        await ledger.close()
