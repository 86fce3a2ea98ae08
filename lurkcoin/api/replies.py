"""Building /v3 replies: the success envelope, error bodies and X-Force-OK."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from lurkcoin.api.access import set_error_code
from lurkcoin.api.jsonout import dumps_bytes
from lurkcoin.core.errors import LurkcoinError, error_body

_FORCE_OK_VALUES = frozenset({"true", "yes", "y", "1"})


def _json_response(body: Any, status: int) -> web.Response:
    # aiohttp writes this as "application/json; charset=utf-8", as the reference does.
    return web.Response(
        body=dumps_bytes(body), status=status, content_type="application/json", charset="utf-8"
    )


def success(result: Any) -> web.Response:
    """``{"result": ..., "success": true}``: keys in the reference's (sorted) order."""
    return _json_response({"result": result, "success": True}, 200)


def force_ok(request: web.Request) -> bool:
    """Whether the client asked for errors with HTTP 200 (the Minetest mod always does)."""
    return request.headers.get("X-Force-OK", "").strip().lower() in _FORCE_OK_VALUES


def failure(request: web.Request, err: LurkcoinError) -> web.Response:
    """The error reply: the body from error_body, the code's status unless X-Force-OK.

    A throttled login (429) or a full disk (503) keeps its Retry-After even when
    X-Force-OK makes it a 200.
    """
    set_error_code(request, err.code)
    response = _json_response(error_body(err), 200 if force_ok(request) else err.status)
    response.headers.update(err.headers)
    return response
