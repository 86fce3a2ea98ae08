"""HTTP manners of the public explorer API: rate limit, CORS, caching and ETags.

Every /api/ handler is wrapped by :func:`public`, so these headers are set in
one place: the per-address rate limit is checked first (an in-memory counter:
a client over its limit costs one dict lookup and never reaches a query),
errors become the JSON error envelope with the same headers, and a reply
whose ETag the client already holds becomes a bodiless 304.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler

from lurkcoin.api.replies import failure
from lurkcoin.api.throttle import THROTTLE_KEY
from lurkcoin.config import ExplorerSection
from lurkcoin.core.errors import LurkcoinError

log = logging.getLogger(__name__)

# What a cache may do with each kind of reply.
PUBLIC_CACHE = "public, max-age=60, stale-while-revalidate=120"
FINAL_CACHE = "public, max-age=31536000, immutable"  # a transaction that cannot change
REVALIDATE_CACHE = "public, no-cache"  # may change any moment: ask with If-None-Match
PRIVATE_CACHE = "private, no-store"  # a key unlocked it

_RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": ", ".join((*_RATE_HEADERS, "Retry-After", "ETag")),
}
PREFLIGHT_HEADERS = {
    **CORS_HEADERS,
    "Access-Control-Allow-Methods": "GET, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, If-None-Match",
    "Access-Control-Max-Age": "86400",
}
MAX_TRACKED = 100_000


class RateLimited(LurkcoinError):
    """ERR_RATELIMITED (HTTP 429) with the seconds to wait."""

    def __init__(self, retry_after: int, limit: int, window: float) -> None:
        super().__init__(
            "ERR_RATELIMITED",
            details=f"at most {limit} requests per {window:g} seconds from one address; "
            f"retry in {retry_after} s",
        )
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Allowance:
    limit: int
    remaining: int
    reset: int  # Unix time the window ends
    allowed: bool


class RateLimiter:
    """Fixed windows aligned to the clock, one counter per client address.

    The whole table is dropped when a window ends, so memory is bounded by the
    addresses seen in one window (and by ``max_tracked``: beyond it, new
    addresses share one counter rather than growing the table).
    """

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        max_tracked: int = MAX_TRACKED,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_tracked = max_tracked
        self.clock = clock
        self._window_index = -1
        self._counts: dict[str, int] = {}

    def take(self, address: str) -> Allowance:
        now = self.clock()
        index = math.floor(now / self.window)
        if index != self._window_index:
            self._window_index = index
            self._counts = {}
        if address not in self._counts and len(self._counts) >= self.max_tracked:
            address = "(overflow)"
        used = self._counts.get(address, 0) + 1
        self._counts[address] = used
        reset = math.ceil((index + 1) * self.window)
        return Allowance(self.limit, max(0, self.limit - used), reset, used <= self.limit)


@dataclass(frozen=True)
class ExplorerState:
    settings: ExplorerSection
    limiter: RateLimiter


EXPLORER_KEY = web.AppKey("explorer", ExplorerState)


def etag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def _matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 weak comparison against an If-None-Match list."""
    wanted = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == wanted:
            return True
    return False


def _finish(request: web.Request, response: web.Response, allowance: Allowance) -> web.Response:
    response.headers.update(CORS_HEADERS)
    response.headers["X-RateLimit-Limit"] = str(allowance.limit)
    response.headers["X-RateLimit-Remaining"] = str(allowance.remaining)
    response.headers["X-RateLimit-Reset"] = str(allowance.reset)
    if response.status != 200 or not isinstance(response.body, bytes):
        return response
    etag = etag_of(response.body)
    response.headers["ETag"] = etag
    if _matches(request.headers.get("If-None-Match", ""), etag):
        not_modified = web.Response(status=304)
        for name in ("Cache-Control", "ETag", "Vary", *CORS_HEADERS, *_RATE_HEADERS):
            if name in response.headers:
                not_modified.headers[name] = response.headers[name]
        return not_modified
    return response


def public(handler: Handler) -> Handler:
    """Wrap an /api/ handler: rate limit, error envelope, CORS, rate headers, ETag and 304."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        state = request.app[EXPLORER_KEY]
        allowance = state.limiter.take(request.app[THROTTLE_KEY].address(request))
        try:
            if not allowance.allowed:
                wait = max(1, allowance.reset - math.floor(state.limiter.clock()))
                raise RateLimited(wait, state.limiter.limit, state.limiter.window)
            response = await handler(request)
            assert isinstance(response, web.Response)
        except LurkcoinError as err:
            response = failure(request, err)
            if isinstance(err, RateLimited):
                response.headers["Retry-After"] = str(err.retry_after)
        except Exception:
            log.exception("unhandled error in %s %s", request.method, request.path)
            response = failure(request, LurkcoinError("ERR_INTERNALERROR"))
        return _finish(request, response, allowance)

    return wrapped


async def preflight(request: web.Request) -> web.StreamResponse:
    """CORS preflight (OPTIONS): any origin may GET, with Authorization and If-None-Match."""
    return web.Response(status=204, headers=PREFLIGHT_HEADERS)
