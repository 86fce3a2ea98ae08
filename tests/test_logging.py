"""Logs of a real `lurkcoin serve`: JSON lines, access lines, request ids, SIGHUP, no secrets."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cli_helpers import process_env

from lurkcoin.api.access import logged_path
from lurkcoin.config import load_config
from lurkcoin.ledger import Ledger

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _create_servers(config_path: Path) -> dict[str, str]:
    ledger = await Ledger.open(load_config(config_path, environ={}))
    try:
        tokens = {}
        for name in ("Alpha", "Bravo"):
            _, tokens[name] = await ledger.create_server(name, balance=100_000)
        return tokens
    finally:
        await ledger.close()


class Served:
    def __init__(self, port: int, log: Path, proc: subprocess.Popen[str]) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.log = log
        self.proc = proc

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, self.base + path, timeout=10, **kwargs)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Served, dict[str, str]]]:
    log = tmp_path / "lurkcoin.log"
    config = tmp_path / "lurkcoin.toml"
    config.write_text(
        f'[database]\npath = "{tmp_path / "ledger.db"}"\n'
        '[security]\ntrusted_proxies = ["127.0.0.1"]\n'
        f'[logging]\nformat = "json"\nfile = "{log}"\nlevel = "DEBUG"\n',
        encoding="utf-8",
    )
    tokens = asyncio.run(_create_servers(config))
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lurkcoin", "--config", str(config), "serve", "--port", str(port)],
        cwd=tmp_path,
        env=process_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    server = Served(port, log, proc)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                server.call("GET", "/healthz")
                break
            except requests.ConnectionError:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the server did not answer in 30 s"
                time.sleep(0.1)
        yield server, tokens
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def _lines(*paths: Path) -> list[dict[str, Any]]:
    """Every line of the logs, each of which must be one JSON object."""
    entries = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            assert isinstance(entry, dict) and {"time", "level", "logger", "message"} <= set(entry)
            entries.append(entry)
    return entries


def test_json_logs_with_access_lines_request_ids_reopen_and_no_secret(
    served: tuple[Served, dict[str, str]],
) -> None:
    server, tokens = served
    alpha = ("Alpha", tokens["Alpha"])
    secrets = set(tokens.values()) | {"query-secret-123", "wrong-token-456"}

    # A trusted proxy's request id is kept; otherwise one is made up.
    reply = server.call("GET", "/v3/balance", auth=alpha, headers={"X-Request-Id": "trace-abc"})
    assert reply.status_code == 200 and reply.headers["X-Request-Id"] == "trace-abc"
    made_up = server.call("GET", "/v3/version").headers["X-Request-Id"]
    assert len(made_up) == 32
    bad_id = server.call("GET", "/v3/version", headers={"X-Request-Id": "has spaces"})
    assert bad_id.headers["X-Request-Id"] != "has spaces"

    # Secrets in every place a client may put them.
    server.call("GET", "/v3/history?token=query-secret-123&limit=5", auth=alpha)
    server.call("GET", "/v3/balance", auth=("Alpha", "wrong-token-456"))
    server.call("GET", "/v3/balance", auth=("wrong-token-456", tokens["Bravo"]))
    pay = server.call(
        "POST", "/v3/pay", auth=alpha, json={"target_server": "Bravo", "target": "b", "amount": 1}
    )
    assert pay.status_code == 200
    new_token = server.call("POST", "/v3/regenerate_token", auth=alpha).json()["result"]
    secrets.add(new_token)
    alpha = ("Alpha", new_token)
    server.call("POST", "/v3/set_webhook_url", auth=alpha, json={"webhook_url": "https://x.test"})
    secrets.add(server.call("POST", "/v3/rotate_webhook_secret", auth=alpha).json()["result"])
    key = server.call("POST", "/v3/api_keys", auth=alpha, json={"scopes": ["balance"]})
    secrets.add(key.json()["result"]["key"])
    server.call(
        "GET", "/v3/balance", headers={"Authorization": f"key={key.json()['result']['key']}"}
    )

    # logrotate: move the file away, SIGHUP, and the next lines go to a new file.
    rotated = server.log.with_suffix(".log.1")
    server.log.rename(rotated)
    server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while not server.log.exists():
        assert time.monotonic() < deadline, "the log file was not reopened"
        server.call("GET", "/v3/version")
        time.sleep(0.05)
    server.call("GET", "/healthz", headers={"X-Request-Id": "after-rotation"})
    server.proc.send_signal(signal.SIGTERM)
    out, err = server.proc.communicate(timeout=30)
    assert server.proc.returncode == 0, err

    entries = _lines(rotated, server.log)
    text = rotated.read_text(encoding="utf-8") + server.log.read_text(encoding="utf-8")
    for secret in secrets:
        assert secret not in text + out + err, f"a secret reached the log: {secret[:8]}..."
    access = [e for e in entries if e["logger"] == "lurkcoin.access"]
    first = next(e for e in access if e.get("request_id") == "trace-abc")
    assert first["http"] | {"duration_ms": 0} == {
        "method": "GET",
        "path": "/v3/balance",
        "status": 200,
        "duration_ms": 0,
        "bytes": first["http"]["bytes"],
        "client": "127.0.0.1",
        "account": "alpha",
    }
    assert any(e.get("request_id") == made_up for e in access)
    history = next(e for e in access if e["http"]["path"].startswith("/v3/history"))
    assert history["http"]["path"] == "/v3/history?token=...&limit=5"
    # The failed logins are logged, tied to their request, without the credential.
    failed = [e for e in entries if e["message"].startswith("failed login")]
    assert len(failed) == 2 and all(e.get("request_id") for e in failed)
    after = _lines(server.log)
    assert any(e.get("request_id") == "after-rotation" for e in after)
    assert not any(e.get("request_id") == "after-rotation" for e in _lines(rotated))


def test_logged_path_keeps_only_harmless_query_values() -> None:
    from aiohttp.test_utils import make_mocked_request

    request = make_mocked_request("GET", "/v3/history?limit=3&token=abc&password=x&before=T1")
    assert logged_path(request) == "/v3/history?limit=3&token=...&password=...&before=T1"
