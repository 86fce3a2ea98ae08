"""A real `lurkcoin serve` as systemd would run it: readiness, watchdog, a clean stop under
payment load with idempotent clients, a UNIX socket, and hostile clients kept in check."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
import trustme
from auth_helpers import basic
from cli_helpers import process_env
from system_parts import require

from lurkcoin.api.listeners import raise_open_file_limit
from lurkcoin.config import load_config
from lurkcoin.ledger import Ledger

ROOT = Path(__file__).resolve().parent.parent
CENTS = 3  # each payment moves ¤0.03


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _write_config(tmp_path: Path, extra: str = "") -> Path:
    config = tmp_path / "lurkcoin.toml"
    config.write_text(
        f'[database]\npath = "{tmp_path / "ledger.db"}"\n'
        f'[logging]\nfile = "{tmp_path / "lurkcoin.log"}"\n' + extra,
        encoding="utf-8",
    )
    return config


async def _create_servers(config: Path) -> dict[str, str]:
    ledger = await Ledger.open(load_config(config, environ={}))
    try:
        tokens = {}
        for name, cents in (("Alpha", 10_000_000), ("Bravo", 0)):
            _, tokens[name] = await ledger.create_server(name, balance=cents)
        return tokens
    finally:
        await ledger.close()


async def _ledger_facts(config: Path) -> tuple[int, bool, int]:
    """Bravo's balance, whether the books balance, and how many payments exist."""
    ledger = await Ledger.open(load_config(config, environ={}))
    try:
        bravo = ledger.require_server("Bravo")
        report = await ledger.check()
        history = await ledger.history(bravo, limit=500)
        return bravo.balance, report.ok, len(history or [])
    finally:
        await ledger.close()


def _start(config: Path, port: int, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lurkcoin", "--config", str(config), "serve", "--port", str(port)],
        cwd=config.parent,
        env=process_env(drop=("LURKCOIN_", "NOTIFY_"), **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_listening(proc: subprocess.Popen[str], port: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the server did not listen in 30 s"
            time.sleep(0.05)


async def _pay(
    session: aiohttp.ClientSession, url: str, token: str, key: str
) -> tuple[int, str | None]:
    async with session.post(
        url + "/v3/pay",
        json={"target_server": "Bravo", "target": "bob", "amount": CENTS / 100},
        headers={"Idempotency-Key": key, **basic("Alpha", token)},
    ) as reply:
        body = await reply.json()
        return reply.status, body.get("result", {}).get("id") if body.get("success") else None


def _notifications(sock: socket.socket) -> list[str]:
    got = []
    while True:
        try:
            got.append(sock.recv(4096).decode())
        except BlockingIOError:
            return got


@pytest.mark.slow
def test_sigterm_under_payment_load_loses_nothing_and_tells_systemd(tmp_path: Path) -> None:
    sock_path = tmp_path / "api.sock"
    config = _write_config(
        tmp_path, f'[server]\nunix_socket = "{sock_path}"\nunix_socket_mode = "600"\n'
    )
    tokens = asyncio.run(_create_servers(config))
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.setblocking(False)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _start(config, port, NOTIFY_SOCKET=str(tmp_path / "notify.sock"), WATCHDOG_USEC="200000")
    answered: dict[str, str] = {}  # idempotency key -> transaction id
    unanswered: list[str] = []
    try:
        _wait_listening(proc, port)
        time.sleep(0.3)  # a watchdog ping or two
        assert "READY=1" in _notifications(notify)
        assert stat.S_IMODE(os.stat(sock_path).st_mode) == 0o600

        async def over_unix_socket() -> int:
            connector = aiohttp.UnixConnector(path=str(sock_path))
            async with aiohttp.ClientSession(connector=connector) as session:
                async with session.get("http://lurkcoin/readyz") as reply:
                    return reply.status

        assert asyncio.run(over_unix_socket()) == 200

        async def client(n: int, session: aiohttp.ClientSession, stop_at: float) -> None:
            i = 0
            while True:
                key = f"c{n}-{i}"
                i += 1
                try:
                    status, txn = await _pay(session, url, tokens["Alpha"], key)
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    unanswered.append(key)
                    return  # the server is going away
                if status == 200 and txn is not None:
                    answered[key] = txn
                else:
                    unanswered.append(key)
                if time.monotonic() > stop_at:
                    return

        async def load() -> None:
            timeout = aiohttp.ClientTimeout(total=20)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                stop_at = time.monotonic() + 15
                clients = [asyncio.create_task(client(n, session, stop_at)) for n in range(16)]
                await asyncio.sleep(0.6)
                proc.send_signal(signal.SIGTERM)
                await asyncio.gather(*clients)

        asyncio.run(load())
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        messages = _notifications(notify)
        assert "STOPPING=1" in messages and "WATCHDOG=1" in messages, messages
        assert answered, "no payment was answered before the signal"
        assert "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        notify.close()

    # The clients come back after the restart and retry what got no answer.
    proc = _start(config, port)
    try:
        _wait_listening(proc, port)

        async def retry() -> None:
            async with aiohttp.ClientSession() as session:
                for key in unanswered:
                    status, txn = await _pay(session, url, tokens["Alpha"], key)
                    assert status == 200 and txn is not None
                    answered[key] = txn
                for key, txn in list(answered.items())[:20]:  # a retried answered one: same id
                    assert await _pay(session, url, tokens["Alpha"], key) == (200, txn)

        asyncio.run(retry())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert not sock_path.exists()

    balance, books_ok, _ = asyncio.run(_ledger_facts(config))
    assert books_ok
    # Every answered payment is there exactly once, and nothing else moved money.
    assert len(set(answered.values())) == len(answered)
    assert balance == CENTS * len(answered)


def test_hostile_clients_are_capped_and_logged_once(tmp_path: Path) -> None:
    config = _write_config(tmp_path, "[server]\nmax_connections_per_address = 4\n")
    asyncio.run(_create_servers(config))
    port = _free_port()
    proc = _start(config, port)
    held: list[socket.socket] = []
    try:
        _wait_listening(proc, port)
        time.sleep(0.2)  # the probe connection is closed
        for _ in range(4):
            held.append(socket.create_connection(("127.0.0.1", port)))
        time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", port)) as fifth:
            fifth.settimeout(5)
            assert fifth.recv(200).startswith(b"HTTP/1.1 503 Service Unavailable")
        # Another address is not affected by this one's connections.
        with socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.2", 0)) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            s.settimeout(5)
            assert s.recv(200).startswith(b"HTTP/1.1 200")
        for s in held:
            s.close()
        held.clear()
        time.sleep(0.2)

        def ask(raw: bytes) -> bytes:
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(raw)
                s.settimeout(5)
                return s.recv(200)

        many_headers = b"".join(b"X-H%d: v\r\n" % n for n in range(40))
        assert ask(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many_headers + b"\r\n")[9:12] in (
            b"400",
            b"431",
        )
        long_header = b"X-Long: " + b"a" * 5000 + b"\r\n"
        assert ask(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + long_header + b"\r\n")[9:12] in (
            b"400",
            b"431",
        )
        for _ in range(20):
            assert ask(b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n")[9:12] == b"400"
    finally:
        for s in held:
            s.close()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    log = (tmp_path / "lurkcoin.log").read_text(encoding="utf-8")
    assert "Traceback" not in log + err
    assert log.count("malformed request from 127.0.0.1") == 1, log
    assert log.count("refusing connections") == 1, log


def test_the_open_file_soft_limit_is_raised_to_the_hard_one() -> None:
    soft, hard = raise_open_file_limit()
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == soft
    assert soft == hard or hard == resource.RLIM_INFINITY


def test_tls_with_a_certificate_reloaded_on_sighup(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"

    def issue(name: str) -> None:
        leaf = ca.issue_cert("127.0.0.1", common_name=name)
        leaf.private_key_pem.write_to_path(str(key))
        leaf.cert_chain_pems[0].write_to_path(str(cert))

    issue("first")
    config = _write_config(tmp_path, f'[server]\ntls_cert = "{cert}"\ntls_key = "{key}"\n')
    asyncio.run(_create_servers(config))
    port = _free_port()
    proc = _start(config, port)
    context = ssl.create_default_context()
    ca.configure_trust(context)

    def served_name(sock: ssl.SSLSocket) -> str:
        subject = dict(item[0] for item in sock.getpeercert()["subject"])  # type: ignore[index]
        return str(subject["commonName"])

    def connect() -> ssl.SSLSocket:
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        return context.wrap_socket(raw, server_hostname="127.0.0.1")

    def get(sock: ssl.SSLSocket) -> bytes:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        return sock.recv(4096)

    try:
        _wait_listening(proc, port)
        with connect() as first:
            assert served_name(first) == "first" and get(first).startswith(b"HTTP/1.1 200")
            issue("second")
            proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while True:
                with connect() as fresh:
                    if served_name(fresh) == "second":
                        assert get(fresh).startswith(b"HTTP/1.1 200")
                        break
                assert time.monotonic() < deadline, "the certificate was not reloaded"
                time.sleep(0.05)
            # The connection opened before the reload still works.
            assert get(first).startswith(b"HTTP/1.1 200")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert f"listening on https://127.0.0.1:{port}" in out


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True, check=False).returncode == 0


@pytest.mark.sqlite_only  # a SQLite file on a read-only file system
def test_serve_refuses_a_database_on_a_read_only_file_system(tmp_path: Path) -> None:
    """It used to report "listening" and fail every write; now it says why and exits 2."""
    where = tmp_path / "ro"
    where.mkdir()
    require(
        "mounting a tmpfs (root)",
        os.geteuid() == 0 and _mount("-t", "tmpfs", "-o", "size=8m", "tmpfs", str(where)),
        "run the tests as root, as CI does",
    )
    try:
        db = where / "lurkcoin.db"
        env = process_env(drop=("LURKCOIN_", "NOTIFY_"), LURKCOIN_DATABASE_PATH=str(db))
        env.pop("LURKCOIN_DATABASE_URL", None)
        made = subprocess.run(
            [sys.executable, "-m", "lurkcoin", "create-server", "Alpha"],
            env=env, capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        assert _mount("-o", "remount,ro", str(where))
        done = subprocess.run(
            [sys.executable, "-m", "lurkcoin", "serve", "--port", "0"],
            env=env, capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        assert done.returncode == 2, done.stdout + done.stderr
        assert done.stderr == (
            f"lurkcoin: error: cannot write the database {db}: {where} is on a read-only "
            "file system\n"
        )
        assert "listening" not in done.stdout
    finally:
        _mount("-o", "remount,rw", str(where))
        subprocess.run(["umount", str(where)], capture_output=True, check=False)
