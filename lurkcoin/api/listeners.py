"""The sockets ``lurkcoin serve`` accepts connections on, and what it accepts on them.

Listeners: TCP on ``[server] host``/``port`` (TLS when ``tls_cert`` and
``tls_key`` are set; the certificate is reloaded on SIGHUP, existing
connections keep theirs) and a UNIX socket (``unix_socket``, created with
``unix_socket_mode``), in any combination.

Every connection passes a guard first: at most ``max_connections`` in total
and ``max_connections_per_address`` from one client address (a refused one
gets a short 503 and is closed before any of its bytes are parsed). Headers
are bounded tightly for this API (``HEADER_LIMITS``), so 1,000 connections
sending endless headers hold little memory. Malformed requests are logged at
INFO, at most once per client address per minute, without a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import resource
import ssl
import stat
import time
from collections import Counter, OrderedDict
from typing import Any

from aiohttp import web

from lurkcoin.api.throttle import Network
from lurkcoin.config import ServerSection

log = logging.getLogger(__name__)

# aiohttp's defaults are 128 headers of up to 8190 bytes each (1 MB of
# unfinished headers per connection). lurkcoin's clients send a handful of
# short headers; a browser on the console sends cookies, well under 8 KB.
# Here: 32 headers of 4 KB, a request line of 4 KB (at most ~130 KB a connection).
HEADER_LIMITS: dict[str, Any] = {"max_line_size": 4096, "max_field_size": 4096, "max_headers": 32}
# A connection that has not completed a request within this many seconds of
# opening (or of its last request) is closed: slow-header clients hold nothing long.
KEEPALIVE_TIMEOUT = 75.0
REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
    b"Connection: close\r\nRetry-After: 5\r\nContent-Length: 21\r\n\r\n"
    b"Too many connections\n"
)
MALFORMED_LOG_INTERVAL = 60.0


class QuietServerLogger(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's server logger, minus tracebacks for what clients get wrong.

    aiohttp logs each malformed request (``HTTP/9.9``, a body claiming gzip
    that is not) with a multi-line ERROR traceback; a client can make
    thousands a second. Here they are one INFO line per client address per
    minute.
    """

    def __init__(self, interval: float = MALFORMED_LOG_INTERVAL, max_tracked: int = 4096) -> None:
        super().__init__(logging.getLogger("lurkcoin.http"), {})
        self.interval = interval
        self.max_tracked = max_tracked
        self._last: OrderedDict[str, float] = OrderedDict()

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info")
        client = str(args[0]) if args else "unknown"
        now = time.monotonic()
        last = self._last.get(client)
        if last is not None and now - last < self.interval:
            return
        self._last[client] = now
        self._last.move_to_end(client)
        while len(self._last) > self.max_tracked:
            self._last.popitem(last=False)
        reason = _one_line(exc) if isinstance(exc, BaseException) else str(msg)
        self.logger.info(
            "malformed request from %s: %s (further ones from it are not logged for %.0f s)",
            client,
            reason,
            self.interval,
        )

    def debug(self, msg: object, *args: object, **kwargs: Any) -> None:
        kwargs.pop("exc_info", None)
        self.logger.debug(msg, *args, **kwargs)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}"


class ConnectionGuard:
    """Counts open connections in total and per client address."""

    def __init__(self, total: int, per_address: int, exempt: tuple[Network, ...] = ()) -> None:
        self.total_limit = total
        # Trusted reverse proxies carry many clients' connections: no per-address cap.
        self.exempt = exempt
        self.per_address_limit = per_address
        self.open = 0
        self.by_address: Counter[str] = Counter()
        self.refused = 0
        self._last_refusal_log = 0.0

    def admit(self, address: str) -> bool:
        crowded = self.by_address[address] >= self.per_address_limit and not _within(
            address, self.exempt
        )
        if self.open >= self.total_limit or crowded:
            self.refused += 1
            now = time.monotonic()
            if now - self._last_refusal_log >= MALFORMED_LOG_INTERVAL:
                self._last_refusal_log = now
                log.warning(
                    "refusing connections: %d open (limit %d), %d from %s (limit %d)",
                    self.open,
                    self.total_limit,
                    self.by_address[address],
                    address,
                    self.per_address_limit,
                )
            return False
        self.open += 1
        self.by_address[address] += 1
        return True

    def release(self, address: str) -> None:
        self.open -= 1
        self.by_address[address] -= 1
        if self.by_address[address] <= 0:
            del self.by_address[address]


def _within(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return any(ip in net for net in networks)


def _peer_address(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return "unix"  # every UNIX-socket client is one local address


class _GuardedProtocol(asyncio.Protocol):
    """Stands in front of aiohttp's protocol: admits the connection or refuses it."""

    def __init__(self, inner: asyncio.Protocol, guard: ConnectionGuard) -> None:
        self._inner = inner
        self._guard = guard
        self._address: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        address = _peer_address(transport)
        if not self._guard.admit(address):
            if isinstance(transport, asyncio.WriteTransport):
                transport.write(REFUSAL)
            transport.close()
            return
        self._address = address
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._address is None:
            return
        self._guard.release(self._address)
        self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._address is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._address is not None else None

    def pause_writing(self) -> None:
        if self._address is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._address is not None:
            self._inner.resume_writing()


def tls_context(section: ServerSection) -> ssl.SSLContext | None:
    if not section.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(section.tls_cert, section.tls_key or None)
    return context


class Listeners:
    """Opens the configured sockets for a set-up AppRunner, and closes them."""

    def __init__(
        self,
        runner: web.AppRunner,
        section: ServerSection,
        proxies: tuple[Network, ...] = (),
        *,
        reuse_port: bool = False,
    ) -> None:
        self.runner = runner
        self.section = section
        self.reuse_port = reuse_port
        self.guard = ConnectionGuard(
            section.max_connections, section.max_connections_per_address, proxies
        )
        self.tls = tls_context(section)
        self.servers: list[asyncio.Server] = []
        self.urls: list[str] = []

    def _factory(self) -> asyncio.Protocol:
        server = self.runner.server
        assert server is not None, "the runner is not set up"
        return _GuardedProtocol(server(), self.guard)

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        section = self.section
        try:
            if section.host:
                server = await loop.create_server(
                    self._factory,
                    section.host,
                    section.port,
                    ssl=self.tls,
                    reuse_address=True,
                    # serve --workers: each worker its own socket on the port, the kernel
                    # spreading connections across them.
                    reuse_port=self.reuse_port or None,
                )
                self.servers.append(server)
                port = server.sockets[0].getsockname()[1]
                scheme = "https" if self.tls else "http"
                host = f"[{section.host}]" if ":" in section.host else section.host
                self.urls.append(f"{scheme}://{host}:{port}")
            if section.unix_socket:
                path = section.unix_socket
                _remove_stale_socket(path)
                server = await loop.create_unix_server(self._factory, path)
                os.chmod(path, int(section.unix_socket_mode, 8))
                self.servers.append(server)
                self.urls.append(f"unix:{path}")
        except BaseException:
            self.close()
            raise

    def reload_tls(self) -> None:
        """Load the certificate and key again (SIGHUP); new handshakes use them."""
        if self.tls is None:
            return
        try:
            self.tls.load_cert_chain(self.section.tls_cert, self.section.tls_key or None)
        except (OSError, ssl.SSLError) as exc:
            log.error("TLS certificate not reloaded, keeping the old one: %s", exc)
        else:
            log.info("TLS certificate reloaded from %s", self.section.tls_cert)

    def close(self) -> None:
        """Stop accepting; open connections are the runner's to finish."""
        for server in self.servers:
            server.close()
        if self.section.unix_socket and self.servers:
            with contextlib.suppress(OSError):
                _remove_stale_socket(self.section.unix_socket)
        self.servers = []


def _remove_stale_socket(path: str) -> None:
    """A socket file left by a server that died; anything else there is refused."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise OSError(f"{path} exists and is not a socket")
    os.unlink(path)


def raise_open_file_limit() -> tuple[int, int]:
    """Raise the soft limit on open files to the hard one; returns (soft, hard) now in force.

    Every connection is a file: at a typical soft limit of 1024, a few hundred
    idle sockets starve normal requests. Under systemd set LimitNOFILE instead.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %d: %s", soft, exc)
    return soft, hard
