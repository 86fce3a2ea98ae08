"""The server under test: a spawned ``lurkcoin serve``, and the requests the bench makes itself."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from lurkcoin.api.metrics import parse_metrics
from lurkcoin.bench.client import Connection, Endpoint, HttpError, build_request
from lurkcoin.bench.scenarios import Account

START_TIMEOUT = 60.0


class BenchError(Exception):
    """The bench could not run (bad options, a server that did not start)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SpawnedServer:
    """A ``python -m lurkcoin serve`` child on a loopback port."""

    def __init__(
        self,
        database: Path,
        workdir: Path,
        config: str | None,
        *,
        database_url: str = "",
        workers: int = 1,
    ) -> None:
        self.database = database
        # A PostgreSQL ledger instead of the SQLite file, and how many processes serve it.
        self.database_url = database_url
        self.workers = workers
        self.workdir = workdir
        self.config = config
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "LURKCOIN_DATABASE_PATH": str(self.database),
            "LURKCOIN_SERVER_HOST": "127.0.0.1",
            "LURKCOIN_SERVER_PORT": str(self.port),
            # The explorer scenario reads transactions and is one address: no
            # privacy gate and no rate limit in its way.
            "LURKCOIN_EXPLORER_PUBLIC_TRANSACTIONS": "true",
            "LURKCOIN_EXPLORER_RATE_LIMIT": "1000000000",
        }
        if self.database_url:
            env["LURKCOIN_DATABASE_URL"] = self.database_url
        if self.config is None:
            env.pop("LURKCOIN_CONFIG", None)
        return env

    def command(self, *args: str) -> list[str]:
        config = ["--config", self.config] if self.config else []
        return [sys.executable, "-m", "lurkcoin", *config, *args]

    def _launch(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                self.command("serve", "--workers", str(self.workers)),
                env=self.env(),
                stdout=log,
                stderr=log,
                cwd=self.workdir,
            )

    async def start(self) -> None:
        self._launch()
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        endpoint = Endpoint.from_url(self.url)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(
                    f"the server exited with status {self.proc.returncode}:\n"
                    + self.log.read_text(errors="replace")[-2000:]
                )
            try:
                conn = await Connection.open(endpoint)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            try:
                status, _ = await conn.request(build_request(endpoint, "GET", "/v3/version"))
            except HttpError:
                status = 0
            finally:
                conn.close()
            if status == 200:
                return
            await asyncio.sleep(0.05)
        raise BenchError(f"the server did not answer within {START_TIMEOUT:.0f} s")

    def peak_rss(self) -> int | None:
        """VmHWM of the server process (Linux), in bytes."""
        if self.proc is None:
            return None
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            pass
        return None

    def tree_cpu(self) -> float | None:
        """CPU seconds the server and its workers have used so far (Linux), or None."""
        if self.proc is None:
            return None
        pids = [self.proc.pid]
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
            pids += [int(p) for p in children.split()]
        except OSError:
            pass
        return sum(process_cpu(pid) for pid in pids)

    def stop(self) -> None:
        """SIGTERM (a clean shutdown), SIGKILL if it does not go within 30 s."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def process_cpu(pid: int) -> float:
    """User and system CPU seconds of one process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu() -> float | None:
    """CPU seconds of every PostgreSQL process on this machine so far, or None if none."""
    total, found = 0.0, False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if comm == "postgres" or comm.startswith("postgres:"):
            found = True
            total += process_cpu(int(entry.name))
    return total if found else None


def run_check(server: SpawnedServer) -> tuple[bool, str]:
    """``lurkcoin check`` on the bench's database, as an operator would run it."""
    done = subprocess.run(
        server.command("check"),
        env=server.env(),
        cwd=server.workdir,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    return done.returncode == 0, (done.stdout + done.stderr).strip()


# -- talking to the server ---------------------------------------------------------------


async def fetch(
    endpoint: Endpoint, method: str, path: str, headers: list[tuple[str, str]] | None = None
) -> tuple[int, bytes]:
    conn = await Connection.open(endpoint)
    try:
        return await conn.request(build_request(endpoint, method, path, headers=headers or []))
    finally:
        conn.close()


async def metrics(endpoint: Endpoint) -> dict[str, float] | None:
    try:
        status, body = await fetch(endpoint, "GET", "/metrics")
    except (OSError, HttpError):
        return None
    return parse_metrics(body.decode("utf-8", "replace")) if status == 200 else None


async def api_balances(endpoint: Endpoint, accounts: list[Account], wait: float = 0.0) -> int:
    """Sum of the accounts' balances in cents as /v3/balance tells it.

    ``wait``: how long to keep trying while the server has not yet picked up
    servers created by another process (it looks once a second).
    """
    deadline = time.monotonic() + wait
    total = 0
    for account in accounts:
        while True:
            status, body = await fetch(
                endpoint, "GET", "/v3/balance", [("Authorization", account.auth)]
            )
            if status == 200:
                reply = json.loads(body, parse_float=Decimal)
                total += int(Decimal(reply["result"]) * 100)
                break
            if time.monotonic() >= deadline:
                raise BenchError(
                    f"cannot read the balance of {account.name}: HTTP {status} {body[:200]!r}"
                )
            await asyncio.sleep(0.1)
    return total
