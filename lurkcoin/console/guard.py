"""Who may see and do what in the console: sessions, roles, CSRF, login and logout.

Every console request passes ``guard`` (the console app's one middleware):
it finds the session, checks the role the handler declared with ``@requires``
and, for every POST, the form's CSRF token. Handlers never check any of it
themselves. Login is a form (not Basic auth) whose failures count against the
same throttle as API logins.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from aiohttp.typedefs import Handler

from lurkcoin.api.admin_passwords import verify_admin
from lurkcoin.api.app_keys import LEDGER_KEY
from lurkcoin.api.throttle import THROTTLE_KEY, TooManyFailures
from lurkcoin.config import ADMIN_ROLES, AdminSection, Config
from lurkcoin.ledger.audit import Actor
from lurkcoin.models import AdminSession

log = logging.getLogger(__name__)

CONFIG_KEY = web.AppKey("console_config", Config)
# On the main app when the console is mounted: the explorer (/api, /explorer)
# lets a signed-in console user see what the public may not.
ADMIN_KEY = web.AppKey("console_admin", AdminSection)
SESSION_COOKIE = "lurkcoin_admin"
LOGIN_COOKIE = "lurkcoin_login"
COOKIE_PATH = "/admin"
# The session cookie goes to the whole site, so that the explorer's pages and
# API see it too (HttpOnly and SameSite=Strict: no script reads it, no other
# site's page sends it). Only the console's routes act on it.
SESSION_COOKIE_PATH = "/"
# The strictest policy the pages work with: our own stylesheet, inline SVG
# (markup, not script), forms posting back to us, no frames, no scripts.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
_PUBLIC_PREFIXES = ("/admin/static/",)
# Set by the guard for the handlers and templates of a signed-in request.
USER = web.RequestKey("console_user", str)
ROLE = web.RequestKey("console_role", str)
CSRF = web.RequestKey("console_csrf", str)
_ROLE_ATTRIBUTE = "console_role"


def rank(role: str | None) -> int:
    return ADMIN_ROLES.index(role) if role in ADMIN_ROLES else -1


def requires(role: str) -> Callable[[Handler], Handler]:
    """Declare the least role a handler needs ("public" for the login page)."""
    if role != "public" and role not in ADMIN_ROLES:
        raise ValueError(role)

    def mark(handler: Handler) -> Handler:
        setattr(handler, _ROLE_ATTRIBUTE, role)
        return handler

    return mark


def csrf_token(session_id: str) -> str:
    """Derived from the session id, so nothing more is stored; another session's differs."""
    return hmac.new(session_id.encode(), b"lurkcoin console csrf", hashlib.sha256).hexdigest()


def actor(request: web.Request) -> Actor:
    return Actor(request[USER], request.config_dict[THROTTLE_KEY].address(request))


def can(request: web.Request, role: str) -> bool:
    return rank(request.get(ROLE)) >= rank(role)


def render(
    template: str, request: web.Request, context: dict[str, Any], *, status: int = 200
) -> web.Response:
    """A page: its own context plus what every page shows (the user, the CSRF token)."""
    common = {
        "site": request.config_dict[CONFIG_KEY].server.name,
        "onboarding": request.config_dict[CONFIG_KEY].onboarding.enabled,
        "user": request.get(USER),
        "role": request.get(ROLE),
        "csrf": request.get(CSRF, ""),
        "can": lambda role: can(request, role),
    }
    return aiohttp_jinja2.render_template(template, request, common | context, status=status)


def _refuse(request: web.Request, status: int, message: str) -> web.Response:
    return render("error.html", request, {"status": status, "message": message}, status=status)


def redirect(location: str) -> web.Response:
    """303 See Other: after a POST the browser GETs the next page (no resubmission)."""
    return web.Response(status=303, headers={"Location": location})


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    route_handler = request.match_info.handler
    needed = getattr(route_handler, _ROLE_ATTRIBUTE, None)
    if needed == "public" or request.path.startswith(_PUBLIC_PREFIXES):
        return await handler(request)
    if needed is None:  # an undeclared handler: the strictest role, never the loosest
        needed = "owner"
    admin = request.config_dict[CONFIG_KEY].admin
    session = await console_session(request, admin)
    if session is None:
        return redirect("/admin/login")
    role = admin.role(session.user)
    request[USER] = session.user
    request[ROLE] = role or "none"
    request[CSRF] = csrf_token(request.cookies[SESSION_COOKIE])
    if request.method not in ("GET", "HEAD"):
        form = await request.post()
        sent = form.get("csrf")
        if not isinstance(sent, str) or not hmac.compare_digest(sent, request[CSRF]):
            log.warning("console: %s %s without a valid CSRF token", request.method, request.path)
            return _refuse(request, 403, "This form is out of date or did not come from this site.")
    if rank(role) < rank(needed):
        return _refuse(request, 403, f"This needs the {needed} role; you are a {role}.")
    try:
        return await handler(request)
    except web.HTTPNotFound as exc:  # an unknown server or page: say so in a page
        return _refuse(request, 404, exc.text or "Not found.")


async def console_session(request: web.Request, admin: AdminSection) -> AdminSession | None:
    """The live console session whose cookie the request carries, or None."""
    session_id = request.cookies.get(SESSION_COOKIE, "")
    if not session_id:
        return None
    return await request.config_dict[LEDGER_KEY].admin_session(
        session_id,
        users=list(admin.accounts),
        idle=admin.session_idle_timeout,
        max_age=admin.session_max_age,
    )


async def console_viewer(request: web.Request) -> bool:
    """Whether a signed-in console user (any role) sent this request, on any path."""
    admin = request.config_dict.get(ADMIN_KEY)
    if admin is None:  # no console on this server
        return False
    session = await console_session(request, admin)
    return session is not None and rank(admin.role(session.user)) >= rank("viewer")


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Every console reply: never cached, strict CSP, not framed, no referrer leaks."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"


def _set_cookie(
    request: web.Request,
    response: web.StreamResponse,
    name: str,
    value: str,
    path: str = COOKIE_PATH,
) -> None:
    response.set_cookie(
        name,
        value,
        path=path,
        httponly=True,
        samesite="Strict",
        secure=request.secure or request.config_dict[CONFIG_KEY].admin.secure_cookies,
    )


def _login_form(
    request: web.Request, status: int = 200, error: str = "", user: str = ""
) -> web.Response:
    # The login form's own CSRF defence: a random value both in a cookie and in
    # the form (a cross-site page can post the form but cannot read the cookie).
    token = secrets.token_urlsafe(16)
    context: dict[str, Any] = {"login_token": token, "error": error, "user": user}
    response = render("login.html", request, context, status=status)
    _set_cookie(request, response, LOGIN_COOKIE, token)
    return response


@requires("public")
async def login_page(request: web.Request) -> web.StreamResponse:
    return _login_form(request)


@requires("public")
async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    user, password, token = (str(form.get(k, "")) for k in ("user", "password", "login_token"))
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    if not cookie or not hmac.compare_digest(token, cookie):
        return _login_form(request, 403, "The form expired; please sign in again.", user)
    throttle = request.config_dict[THROTTLE_KEY]
    try:
        throttle.check_address(request)
    except TooManyFailures as exc:
        response = _login_form(request, 429, "Too many failed sign-ins; wait and try again.")
        response.headers.update(exc.headers)
        return response
    address = throttle.address(request)
    if not await asyncio.to_thread(verify_admin, request.config_dict[CONFIG_KEY], user, password):
        account = "admin:" + user
        throttle.record_failure(address, account)
        log.warning("console: failed sign-in for %r from %s", user, address)
        wait = throttle.account_blocked_for(account)
        if wait is not None:  # as for API logins: the right password still works
            response = _login_form(request, 429, "Too many failed sign-ins; wait and try again.")
            response.headers.update(TooManyFailures(wait).headers)
            return response
        return _login_form(request, 401, "Wrong user name or password.", user)
    ledger = request.config_dict[LEDGER_KEY]
    session_id = await ledger.open_admin_session(user, address)
    response = redirect("/admin/")
    _set_cookie(request, response, SESSION_COOKIE, session_id, SESSION_COOKIE_PATH)
    response.del_cookie(LOGIN_COOKIE, path=COOKIE_PATH)
    return response


@requires("viewer")
async def logout(request: web.Request) -> web.StreamResponse:
    await request.config_dict[LEDGER_KEY].close_admin_session(request.cookies[SESSION_COOKIE])
    response = redirect("/admin/login")
    response.del_cookie(SESSION_COOKIE, path=SESSION_COOKIE_PATH)
    return response
