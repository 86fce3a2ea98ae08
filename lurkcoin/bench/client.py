"""A lean keep-alive HTTP/1.1 load client on raw asyncio protocols.

On a 2-core machine the load generator competes with the server for CPU, so
every microsecond the client spends is one the server does not get. Requests
are prebuilt bytes, a response is recognised by scanning for the end of its
head and counting Content-Length bytes, and nothing is parsed that the
scenario does not need. Measured against aiohttp's client on the same
server (see README, "Performance"), it spends about a third of the CPU per
request.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


class HttpError(Exception):
    """The connection failed or the server sent something that is not HTTP/1.1."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    @classmethod
    def from_url(cls, url: str) -> Endpoint:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"{url!r}: expected http://HOST:PORT (the bench speaks plain HTTP)")
        return cls(parts.hostname, parts.port or 80)


def basic_auth(name: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{name}:{token}".encode()).decode("ascii")


def build_request(
    endpoint: Endpoint,
    method: str,
    path: str,
    *,
    body: Any = None,
    headers: Iterable[tuple[str, str]] = (),
) -> bytes:
    """The bytes of one keep-alive request (a JSON body when ``body`` is not None)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {endpoint.host}:{endpoint.port}"]
    lines += [f"{k}: {v}" for k, v in headers]
    payload = b""
    if body is not None:
        payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
        lines.append("Content-Type: application/json")
    if payload or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(payload)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + payload


class Connection(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._head_end = -1
        self._length = -1
        self._closed = False

    @classmethod
    async def open(cls, endpoint: Endpoint) -> Connection:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(cls, endpoint.host, endpoint.port)
        return conn

    # -- asyncio.Protocol -------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(HttpError(f"connection lost: {exc or 'closed by server'}"))

    def data_received(self, data: bytes) -> None:
        buf = self._buffer
        buf += data
        if self._head_end < 0:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            self._head_end = end + 4
            self._length = self._content_length(bytes(buf[:end]).lower())
        if self._length < 0:  # chunked: complete once the last chunk arrived
            if not buf.endswith(b"0\r\n\r\n"):
                return
            body = _dechunk(bytes(buf[self._head_end :]))
            total = len(buf)
        else:
            total = self._head_end + self._length
            if len(buf) < total:
                return
            body = bytes(buf[self._head_end : total])
        status = int(buf[9:12])
        del buf[:total]
        self._head_end = -1
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((status, body))

    @staticmethod
    def _content_length(head: bytes) -> int:
        at = head.find(b"\r\ncontent-length:")
        if at < 0:
            if b"\r\ntransfer-encoding: chunked" in head:
                return -1
            return 0
        start = at + 17
        end = head.find(b"\r\n", start)
        return int(head[start : end if end >= 0 else len(head)])

    # -- use ----------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    async def request(self, data: bytes) -> tuple[int, bytes]:
        """Send one prebuilt request; returns (HTTP status, body)."""
        if self._closed or self._transport is None:
            raise HttpError("connection closed")
        waiter: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        self._transport.write(data)
        return await waiter

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2 :]
    return bytes(out)


class ConnectionPool:
    """Reconnects a worker's connection when the server closed it."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._conn: Connection | None = None
        self.reconnects = 0

    async def request(self, data: bytes) -> tuple[int, bytes]:
        if self._conn is None or self._conn.closed:
            if self._conn is not None:
                self.reconnects += 1
            self._conn = await Connection.open(self.endpoint)
        try:
            return await self._conn.request(data)
        except HttpError:
            self._conn.close()
            self._conn = None
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


async def timed(pool: ConnectionPool, data: bytes) -> tuple[int, bytes, float]:
    """One request and its latency in seconds."""
    start = time.perf_counter()
    status, body = await pool.request(data)
    return status, body, time.perf_counter() - start
