"""Throttling of failed logins: per client address and per account, in memory.

Only failures are recorded, so a client that logs in correctly costs one
empty-dict check. Each counter keeps at most ``limit`` timestamps per key and
at most ``max_keys`` keys (least recently failed first out), so an attacker
with many addresses or names cannot make it grow without bound.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aiohttp import web

from lurkcoin.config import SecuritySection
from lurkcoin.core.errors import LurkcoinError

MAX_TRACKED = 100_000
# Longest X-Forwarded-For entry kept as a throttling key when it is not an IP.
_MAX_ADDRESS_TEXT = 64

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TooManyFailures(LurkcoinError):
    """ERR_TOOMANYREQUESTS (HTTP 429), with the seconds to wait for Retry-After."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("ERR_TOOMANYREQUESTS")
        self.retry_after = max(1, math.ceil(retry_after))

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class FailureCounter:
    """A sliding window of failure times per key (an address or an account uid)."""

    def __init__(self, limit: int, window: float, max_keys: int = MAX_TRACKED) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        # Ordered by most recent failure, oldest first: pruning pops from the front.
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._failures)

    def __bool__(self) -> bool:
        return bool(self._failures)

    def blocked_for(self, key: str, now: float) -> float | None:
        """Seconds until ``key`` may fail again, or None when it is not blocked."""
        times = self._failures.get(key)
        if times is None or len(times) < self.limit:
            return None
        wait = times[0] + self.window - now
        return wait if wait > 0 else None

    def record(self, key: str, now: float) -> bool:
        """Count one failure; True when it used up the key's last allowed one."""
        times = self._failures.get(key)
        if times is None:
            times = self._failures[key] = deque(maxlen=self.limit)
        else:
            self._failures.move_to_end(key)
        times.append(now)
        self._prune(now)
        return len(times) == self.limit and times[0] > now - self.window

    def _prune(self, now: float) -> None:
        """Forget keys whose newest failure left the window, and the oldest beyond the cap."""
        failures = self._failures
        stale = now - self.window
        while failures:
            oldest_key, times = next(iter(failures.items()))
            if times[-1] > stale and len(failures) <= self.max_keys:
                break
            del failures[oldest_key]


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(e, strict=False) for e in entries)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An X-Forwarded-For entry as an address ("[v6]:port" and "v4:port" allowed)."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def throttle_key(address: str) -> str:
    ip = _ip(address)
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return address


def _trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None, networks: tuple[Network, ...]
) -> bool:
    return address is not None and any(address in net for net in networks)


def client_address(request: web.Request, trusted: tuple[Network, ...]) -> str:
    """The address to throttle: the peer, or (behind a trusted proxy) whom it forwards.

    X-Forwarded-For is read right to left and the first address that is not
    itself a trusted proxy wins: entries further left are whatever the client
    claimed and cannot be believed.
    """
    peer = request.remote or "unknown"
    peer_ip = _ip(peer)
    if not trusted or not _trusted(peer_ip, trusted):
        return str(peer_ip) if peer_ip is not None else peer
    hops = [
        hop.strip()
        for header in request.headers.getall("X-Forwarded-For", [])
        for hop in header.split(",")
        if hop.strip()
    ]
    client = str(peer_ip)
    for hop in reversed(hops):
        address = _ip(hop)
        if address is None:
            return hop[:_MAX_ADDRESS_TEXT]
        client = str(address)
        if not _trusted(address, trusted):
            break
    return client


@dataclass(frozen=True, slots=True)
class Failure:
    """What one failed login did to the counters (for the log line)."""

    address_now_blocked: bool
    account_now_blocked: bool


class LoginThrottle:
    """The app's two failure counters and how it finds a client's address."""

    def __init__(
        self,
        failures_per_address: int,
        failures_per_account: int,
        window: float,
        trusted_proxies: Iterable[str] = (),
        *,
        max_keys: int = MAX_TRACKED,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.addresses = FailureCounter(failures_per_address, window, max_keys)
        self.accounts = FailureCounter(failures_per_account, window, max_keys)
        self.trusted = parse_networks(trusted_proxies)
        self.clock = clock
        # Times an address or an account became blocked, for the metrics.
        self.blocks: Counter[str] = Counter()

    @classmethod
    def from_config(cls, section: SecuritySection) -> LoginThrottle:
        return cls(
            section.failures_per_address,
            section.failures_per_account,
            section.failure_window,
            section.trusted_proxies,
        )

    def address(self, request: web.Request) -> str:
        """Whom failures are counted against: the client's IPv4 address, or its
        IPv6 /64 (one customer's usual allocation, so rotating within it gains
        nothing)."""
        return throttle_key(client_address(request, self.trusted))

    def check_address(self, request: web.Request) -> None:
        """Raise TooManyFailures if the request's address is blocked (free when none is)."""
        if not self.addresses:
            return
        wait = self.addresses.blocked_for(self.address(request), self.clock())
        if wait is not None:
            raise TooManyFailures(wait)

    def account_blocked_for(self, uid: str) -> float | None:
        return self.accounts.blocked_for(uid, self.clock()) if self.accounts else None

    def record_failure(self, address: str, uid: str | None) -> Failure:
        now = self.clock()
        by_address = self.addresses.record(address, now)
        by_account = self.accounts.record(uid, now) if uid is not None else False
        self.blocks["address"] += by_address
        self.blocks["account"] += by_account
        return Failure(by_address, by_account)


THROTTLE_KEY = web.AppKey("login_throttle", LoginThrottle)
