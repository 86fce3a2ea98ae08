"""One webhook POST, and the guard that keeps it off private networks (SSRF).

The guard sits in the connector's resolver: every address a host name
resolves to is checked, forbidden ones are dropped, and aiohttp connects only
to what is left, so the check and the connection use the same resolution (a
DNS answer that changes between the two cannot slip a private address in).
Literal IP hosts never reach a resolver and are checked before the request.
Redirects are not followed: a 3xx is a failed delivery.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from lurkcoin.webhooks.signing import signature_headers

# Exactly the reference's request (spec, "Webhooks"): 14 bytes of body.
BODY = b'{"version": 0}'
USER_AGENT = "lurkcoin/3.0"
_SCHEMES = frozenset({"http", "https"})
# aiohttp adds these by default; the reference's request has neither.
_SKIP_HEADERS = ("Accept", "Accept-Encoding")
_MAX_ERROR = 300

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class ForbiddenAddress(OSError):
    """The webhook host is (or resolves only to) an address we refuse to call."""


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _judged_as(ip: IPAddress) -> list[IPAddress]:
    """The addresses to check for ``ip``: an IPv6 address carrying an IPv4 one is both."""
    if isinstance(ip, ipaddress.IPv4Address):
        return [ip]
    # IPv4-mapped and NAT64 addresses are IPv4 addresses in IPv6 clothes (and
    # sit in ::/8, which ipaddress calls reserved): judge the IPv4 address.
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip in _NAT64:
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    tunnelled: list[IPAddress] = []
    if ip.sixtofour is not None:
        tunnelled.append(ip.sixtofour)
    if ip.teredo is not None:
        tunnelled.append(ip.teredo[1])
    return tunnelled + [ip]


def _kind(ip: IPAddress) -> str | None:
    if ip.is_unspecified:
        return "an unspecified"
    if ip.is_loopback:
        return "a loopback"
    if ip.is_link_local:
        return "a link-local"
    if ip.is_multicast:
        return "a multicast"
    if ip.is_private:
        return "a private"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "a site-local"  # fec0::/10: deprecated, yet routable on some networks
    if ip.is_reserved or not ip.is_global:
        return "a reserved"
    return None


def forbidden_reason(address: str) -> str | None:
    """Why webhooks may not go to ``address`` (an IP literal), or None if they may."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone
    except ValueError:
        return f"{address} is not an IP address"
    for candidate in _judged_as(ip):
        kind = _kind(candidate)
        if kind is not None:
            return f"{address} is {kind} address"
    return None


def _refusal(host: str, reason: str) -> ForbiddenAddress:
    where = "" if reason.startswith(host) else f" {host}"  # a literal names itself
    return ForbiddenAddress(f"refused{where}: {reason} ([webhooks] allow_private_addresses is off)")


def _looks_numeric(host: str) -> bool:
    # aiohttp's own test for "this host is an IP literal, skip the resolver".
    return ":" in host or host.replace(".", "").isdigit()


def check_literal_host(host: str) -> None:
    """Refuse a forbidden IP-literal host (names are checked by the resolver)."""
    if not _looks_numeric(host):
        return
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:  # "2130706433", "127.1": socket would still map these
        raise ForbiddenAddress(f"refused {host}: not a canonical IP address") from None
    reason = forbidden_reason(host)
    if reason is not None:
        raise _refusal(host, reason)


class GuardedResolver(AbstractResolver):
    """Resolves with aiohttp's default resolver and drops forbidden addresses."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner if inner is not None else aiohttp.DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed = [r for r in results if forbidden_reason(r["host"]) is None]
        if not allowed:
            reasons = sorted({forbidden_reason(r["host"]) or "" for r in results})
            raise _refusal(host, "; ".join(reasons) or "no address")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def open_session(*, allow_private: bool, timeout: float, concurrency: int) -> aiohttp.ClientSession:
    """The dispatcher's client: guarded resolver, no cookies, no proxies from the environment."""
    resolver = None if allow_private else GuardedResolver()
    connector = aiohttp.TCPConnector(resolver=resolver, limit=concurrency)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        auto_decompress=False,
    )


@dataclass(frozen=True, slots=True)
class Attempt:
    """The outcome of one POST: ``ok`` for any 2xx."""

    ok: bool
    status: int | None = None
    error: str | None = None


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, ForbiddenAddress):
        return str(exc)
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ForbiddenAddress):
            return str(exc.os_error)
        return f"cannot connect to {exc.host}:{exc.port}: {exc.os_error.strerror or exc.os_error}"
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def post_notification(
    session: aiohttp.ClientSession,
    url: str,
    *,
    secret: str | None,
    message_id: str,
    allow_private: bool,
    timeout: float,
) -> Attempt:
    """POST {"version": 0} to ``url``; never raises for what the receiver does."""
    try:
        parts = urlsplit(url)
        if parts.scheme not in _SCHEMES or not parts.hostname:
            return Attempt(False, error=f"not an http(s) URL: {url}"[:_MAX_ERROR])
        if not allow_private:
            check_literal_host(parts.hostname)
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        if secret is not None:
            headers.update(signature_headers(secret, message_id, int(time.time()), BODY))
        async with session.post(
            url, data=BODY, headers=headers, allow_redirects=False, skip_auto_headers=_SKIP_HEADERS
        ) as response:
            status = response.status
    except asyncio.CancelledError:
        raise
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return Attempt(False, error=_describe(exc, timeout)[:_MAX_ERROR])
    if 200 <= status < 300:
        return Attempt(True, status)
    reason = f"HTTP {status}"
    if 300 <= status < 400:
        reason += " (redirects are not followed)"
    return Attempt(False, status, reason)
