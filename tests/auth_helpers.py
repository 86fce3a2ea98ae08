"""Helpers for the security tests: a bank of servers and an HTTP client bound to a chosen
loopback address (127.0.0.2 is "another client" as far as the throttle can tell)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import aiohttp
from live_server import LiveServer, StartServer, make_config

from lurkcoin.config import Config

JSON_TYPE = "application/json; charset=utf-8"


def basic(name: str, secret: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{name}:{secret}".encode()).decode("ascii")
    return {"Authorization": f"Basic {encoded}"}


def key_auth(key: str) -> dict[str, str]:
    return {"Authorization": f"key={key}"}


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: Any  # the JSON value, or the text of a reply that is not JSON

    @property
    def result(self) -> Any:
        assert self.status == 200 and self.body["success"] is True, (self.status, self.body)
        return self.body["result"]

    @property
    def error(self) -> str:
        assert self.body["success"] is False, self.body
        assert list(self.body) == ["error", "message", "success"], self.body
        return str(self.body["error"])

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class Client:
    """Keep-alive HTTP client whose connections come from ``source`` (a loopback address)."""

    def __init__(self, port: int, source: str = "127.0.0.1") -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.source = source
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        connector = aiohttp.TCPConnector(local_addr=(self.source, 0))
        self._session = aiohttp.ClientSession(connector=connector)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._session is not None
        await self._session.close()

    async def call(
        self,
        method: str,
        path: str,
        auth: dict[str, str] | None = None,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        assert self._session is not None
        all_headers = {**(auth or {}), **(headers or {})}
        async with self._session.request(
            method, self.base + path, headers=all_headers, json=body
        ) as response:
            raw = await response.read()
            is_json = response.headers.get("Content-Type") == JSON_TYPE
            return Reply(
                response.status,
                {k.lower(): v for k, v in response.headers.items()},
                json.loads(raw) if is_json else raw.decode("utf-8"),
            )


@dataclass
class Bank:
    """A running server with Alpha (¤1,000.00) and Bravo (¤500.00), their tokens known."""

    server: LiveServer
    tokens: dict[str, str]

    @property
    def port(self) -> int:
        return self.server.port

    def auth(self, name: str) -> dict[str, str]:
        return basic(name, self.tokens[name])

    def client(self, source: str = "127.0.0.1") -> Client:
        return Client(self.port, source)


def bank_config(db_path: Path, **security: Any) -> Config:
    config = make_config(db_path, formula="integral")
    for key, value in security.items():
        setattr(config.security, key, value)
    return config


async def start_bank(serve: StartServer, tmp_path: Path, **security: Any) -> Bank:
    server = await serve(bank_config(tmp_path / "bank.db", **security))
    tokens = {}
    for name, cents in (("Alpha", 100_000), ("Bravo", 50_000)):
        _, tokens[name] = await server.ledger.create_server(name, balance=cents)
    return Bank(server, tokens)
