"""A minimal HTTP/1.1 client over asyncio streams that sends bytes exactly as given.

Real client libraries normalise headers and bodies; the replay needs the
recorded bytes, sent in one write, in two segments, or as timed chunks.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from typing import Any

HOST = "127.0.0.1"


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body)


def _head(
    method: str, path: str, port: int, headers: dict[str, str], extra: list[tuple[str, str]]
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines += [f"{k}: {v}" for k, v in extra]
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


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


def _parse(raw: bytes, method: str) -> RawResponse:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    headers = [tuple(part.strip() for part in line.split(":", 1)) for line in header_lines]
    response = RawResponse(status, headers, b"")  # type: ignore[arg-type]
    if method == "HEAD":
        body = b""
    elif (response.header("Transfer-Encoding") or "").lower() == "chunked":
        body = _dechunk(body)
    elif response.header("Content-Length") is not None:
        body = body[: int(response.header("Content-Length") or 0)]
    return RawResponse(status, response.headers, body)


async def _read_all(reader: asyncio.StreamReader) -> bytes:
    parts = []
    try:
        while chunk := await reader.read(65536):
            parts.append(chunk)
    except ConnectionResetError:
        pass  # a server that answered early may reset after its reply
    return b"".join(parts)


async def request(
    port: int,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    chunks: list[bytes] | None = None,
    split_after: int | None = None,
    pause: float = 0.03,
    timeout: float = 10.0,
) -> RawResponse:
    """Send one request on a new connection and read the reply until the server closes.

    ``body`` goes with the head in one write (Content-Length added) unless
    ``split_after`` sends its tail ``pause`` seconds later; ``chunks`` are sent
    with chunked transfer encoding, ``pause`` seconds apart (the caller puts
    ``Transfer-Encoding: chunked`` in ``headers``).
    """
    headers = dict(headers or {})
    extra = []
    if body is not None and chunks is None:
        extra.append(("Content-Length", str(len(body))))
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        head = _head(method, path, port, headers, extra)
        if chunks is not None:
            writer.write(head)
            for index, chunk in enumerate(chunks):
                if index:
                    await writer.drain()
                    await asyncio.sleep(pause)
                writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            writer.write(b"0\r\n\r\n")
        elif split_after is not None and body is not None:
            writer.write(head + body[:split_after])
            await writer.drain()
            await asyncio.sleep(pause)
            writer.write(body[split_after:])
        else:
            writer.write(head + (body or b""))
        try:
            await writer.drain()
        except ConnectionResetError:
            pass
        raw = await asyncio.wait_for(_read_all(reader), timeout)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass
    return _parse(raw, method)


def basic_auth(name: str, token: str) -> dict[str, str]:
    """The Authorization header a client sends for ``name`` and ``token``."""
    credentials = base64.b64encode(f"{name}:{token}".encode()).decode("ascii")
    return {"Authorization": f"Basic {credentials}"}


def json_body(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8")
