"""What the router answers when no handler matches, the way the reference's router does.

404 and 405 are plain text; OPTIONS lists the allowed methods; a path that
only differs by a trailing slash or by letter case is redirected to the
registered one (301 for GET, 307 otherwise, so a POST body is sent again).
"""

from __future__ import annotations

import html

from aiohttp import web

_NOT_FOUND = "404 page not found\n"
_METHOD_NOT_ALLOWED = "Method Not Allowed\n"


def _text(status: int, text: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, text=text, content_type="text/plain", charset="utf-8", headers=headers
    )


def _allow_header(methods: set[str]) -> str:
    return ", ".join(sorted(methods | {"OPTIONS"}))


def _resource_methods(app: web.Application) -> dict[str, set[str]]:
    """Registered plain paths and the methods each answers."""
    found: dict[str, set[str]] = {}
    for resource in app.router.resources():
        methods = found.setdefault(resource.canonical, set())
        methods.update(route.method for route in resource)
    return found


def _redirect_path(request: web.Request) -> str | None:
    """The registered path this one meant (trailing slash or letter case), if any."""
    path = request.path
    known = _resource_methods(request.app)
    candidates = [path[:-1]] if path.endswith("/") and len(path) > 1 else []
    candidates += [c.lower() for c in [path, *candidates]]
    for candidate in candidates:
        if candidate != path and request.method in known.get(candidate, set()):
            return candidate
    return None


def _redirect(request: web.Request, path: str) -> web.Response:
    # The raw (still percent-encoded) query: a decoded one could put spaces,
    # quotes or control characters into the header.
    query = request.rel_url.raw_query_string
    location = path + (f"?{query}" if query else "")
    if request.method == "GET":
        body = f'<a href="{html.escape(location)}">Moved Permanently</a>.\n\n'
        return web.Response(
            status=301,
            text=body,
            content_type="text/html",
            charset="utf-8",
            headers={"Location": location},
        )
    return web.Response(status=307, headers={"Location": location})


def router_reply(request: web.Request, exc: web.HTTPException) -> web.Response:
    """Replace aiohttp's reply to an unmatched request with the reference's."""
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allow = _allow_header(set(exc.allowed_methods))
        if request.method == "OPTIONS":
            return web.Response(status=200, headers={"Allow": allow})
        return _text(405, _METHOD_NOT_ALLOWED, {"Allow": allow})
    if isinstance(exc, web.HTTPNotFound):
        target = _redirect_path(request)
        if target is not None:
            return _redirect(request, target)
        return _text(404, _NOT_FOUND)
    return _text(exc.status, f"{exc.status} {exc.reason}\n")
