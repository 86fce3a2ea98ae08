"""Request ids and the access log: one line per request, never a secret in it.

Each request gets an id: the ``X-Request-Id`` a trusted proxy
(``[security] trusted_proxies``) sent, if it looks like an id, else a new
random one. It is returned in the reply's ``X-Request-Id`` and attached to
every log line written while the request is answered.

The access line (logger ``lurkcoin.access``, level INFO) is written when
the reply's headers are ready: method, path, status, milliseconds, bytes,
client address, the server account that logged in, and the request id. The
path's query keeps its names but not its values (a client may put
``?token=`` there), and no header is ever logged.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
import uuid
from urllib.parse import quote

from aiohttp import web
from aiohttp.typedefs import Handler

from lurkcoin.api.throttle import THROTTLE_KEY, client_address
from lurkcoin.logs import REQUEST_ID

access_log = logging.getLogger("lurkcoin.access")

REQUEST_ID_HEADER = "X-Request-Id"
# What an id from a proxy may look like (nginx's $request_id, UUIDs, ...).
_VALID_ID = re.compile(r"[A-Za-z0-9._:+=/-]{1,128}")
# Query parameters whose values are never secret, so worth keeping in the log.
_PLAIN_PARAMETERS = frozenset({"limit", "before"})

_ID = web.RequestKey("request_id", str)
_STARTED = web.RequestKey("started", float)
_ACCOUNT = web.RequestKey("account", str)
_ERROR_CODE = web.RequestKey("error_code", str)


def set_account(request: web.Request, uid: str) -> None:
    """Record which server account the request logged in as (for the access log)."""
    request[_ACCOUNT] = uid


def set_error_code(request: web.Request, code: str) -> None:
    """Record the API error code the request was answered with (for the metrics)."""
    request[_ERROR_CODE] = code


def error_code(request: web.Request) -> str | None:
    return request.get(_ERROR_CODE)


def elapsed(request: web.Request) -> float:
    """Seconds since the request reached the app (0 if it never did)."""
    started = request.get(_STARTED)
    return time.perf_counter() - started if started is not None else 0.0


def logged_path(request: web.Request) -> str:
    """The path, with each query value not known to be harmless replaced by ``...``."""
    path = quote(request.path, safe="/:@!$&'()*+,;=-._~")
    if not request.query:
        return path
    parts = [
        f"{quote(name, safe='')}={quote(value, safe='') if name in _PLAIN_PARAMETERS else '...'}"
        for name, value in request.query.items()
    ]
    return f"{path}?{'&'.join(parts)}"


def _request_id(request: web.Request) -> str:
    """The id a trusted proxy sent (when it looks like one), else a new random one."""
    given = request.headers.get(REQUEST_ID_HEADER)
    throttle = request.app.get(THROTTLE_KEY)
    if given and _VALID_ID.fullmatch(given) and throttle is not None:
        try:
            peer = ipaddress.ip_address((request.remote or "").split("%", 1)[0])
        except ValueError:
            peer = None
        if peer is not None and any(peer in net for net in throttle.trusted):
            return given
    return uuid.uuid4().hex


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give the request its id and start its clock; log lines inside carry the id."""
    request[_STARTED] = time.perf_counter()
    request[_ID] = _request_id(request)
    token = REQUEST_ID.set(request[_ID])
    try:
        return await handler(request)
    finally:
        REQUEST_ID.reset(token)


async def log_access(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: return the request id and write the access line."""
    request_id = request.get(_ID)
    if request_id is None:  # answered before the middleware ran (a router redirect...)
        request_id = request[_ID] = uuid.uuid4().hex
    response.headers[REQUEST_ID_HEADER] = request_id
    if not access_log.isEnabledFor(logging.INFO):
        return
    started = request.get(_STARTED)
    millis = (time.perf_counter() - started) * 1000 if started is not None else 0.0
    throttle = request.app.get(THROTTLE_KEY)
    client = client_address(request, throttle.trusted if throttle is not None else ())
    path = logged_path(request)
    size = response.content_length
    account = request.get(_ACCOUNT)
    access_log.info(
        "%s %s %d %.1fms %sB client=%s account=%s",
        request.method,
        path,
        response.status,
        millis,
        "-" if size is None else size,
        client,
        account or "-",
        extra={
            "request_id": request_id,
            "http": {
                "method": request.method,
                "path": path,
                "status": response.status,
                "duration_ms": round(millis, 3),
                "bytes": size,
                "client": client,
                "account": account,
            },
        },
    )
