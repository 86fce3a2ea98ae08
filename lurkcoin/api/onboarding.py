"""Self-service onboarding over HTTP: POST /api/account_requests and its one-time claim.

Public endpoints in the explorer's envelope; every error names the field
and what it allows in ``details``. A request body is one JSON object of at
most 4096 bytes sent as ``application/json`` (a cross-site HTML form cannot
send that type without asking first), with only the documented fields.
Requests are rate limited per client address (an in-memory counter checked
before anything else); a claim with a wrong id or secret counts as a failed
login against the address. No reply may be cached: they carry secrets.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from lurkcoin.api.app_keys import LEDGER_KEY
from lurkcoin.api.body import MAX_BODY_BYTES, MISSING, JsonFields, decode_object, read_body
from lurkcoin.api.explorer_http import RateLimited, RateLimiter
from lurkcoin.api.replies import failure, success
from lurkcoin.api.throttle import THROTTLE_KEY, client_address
from lurkcoin.config import Config, OnboardingSection
from lurkcoin.core.errors import LurkcoinError
from lurkcoin.core.names import server_name_problem
from lurkcoin.core.urls import MAX_WEBHOOK_URL_LENGTH, normalise_webhook_url
from lurkcoin.webhooks.delivery import ForbiddenAddress, check_literal_host

log = logging.getLogger(__name__)

MAX_CONTACT_LENGTH = 200
MAX_MESSAGE_LENGTH = 1000
MAX_SECRET_LENGTH = 200
REQUEST_FIELDS = ("name", "contact", "webhook_url", "message")
CLAIM_FIELDS = ("id", "secret")
_JSON_TYPES = ("application/json",)
_LOCAL_HOSTS = ("localhost",)


@dataclass(frozen=True)
class OnboardingState:
    settings: OnboardingSection
    limiter: RateLimiter
    allow_private_webhooks: bool

    @classmethod
    def from_config(cls, config: Config) -> OnboardingState:
        section = config.onboarding
        return cls(
            section,
            RateLimiter(section.rate_limit, section.rate_window),
            config.webhooks.allow_private_addresses,
        )


ONBOARDING_KEY = web.AppKey("onboarding", OnboardingState)


def invalid(name: str, problem: str) -> LurkcoinError:
    return LurkcoinError("ERR_INVALIDPARAMETER", "Invalid request field.", f"{name}: {problem}")


def guarded(handler: Handler) -> Handler:
    """Coded errors become the error envelope (with Retry-After on a 429); nothing is cached."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            response = await handler(request)
        except LurkcoinError as err:
            response = failure(request, err)
            if isinstance(err, RateLimited):
                response.headers["Retry-After"] = str(err.retry_after)
        except Exception:
            log.exception("unhandled error in %s %s", request.method, request.path)
            response = failure(request, LurkcoinError("ERR_INTERNALERROR"))
        response.headers["Cache-Control"] = "no-store"
        return response

    return wrapped


async def read_fields(request: web.Request, known: tuple[str, ...]) -> JsonFields:
    """The body as one JSON object of known fields, or an error whose details say why."""
    try:
        raw = await read_body(request)
    except LurkcoinError as err:
        if err.code == "ERR_PAYLOADTOOLARGE":
            raise LurkcoinError(err.code, details=f"body: at most {MAX_BODY_BYTES} bytes") from None
        raise
    media_type = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if media_type not in _JSON_TYPES:
        raise LurkcoinError("ERR_INVALIDREQUEST", details="Content-Type: expected application/json")
    try:
        fields = decode_object(raw)
    except LurkcoinError:
        raise LurkcoinError(
            "ERR_INVALIDREQUEST",
            details="body: expected one JSON object (UTF-8, no repeated keys)",
        ) from None
    unknown = fields.unknown(known)
    if unknown:
        raise invalid(unknown[0][:60], f"unknown field; the fields are {', '.join(known)}")
    for name in known:
        fields_value(fields, name)  # a name given twice in different case is refused here
    return fields


def fields_value(fields: JsonFields, name: str) -> Any:
    try:
        return fields.get(name)
    except LurkcoinError:
        raise invalid(name, "given twice (field names ignore case)") from None


def text_field(
    fields: JsonFields, name: str, limit: int, *, required: bool, lines: bool = False
) -> str:
    """A string field, spaces around it dropped; control characters only as line breaks."""
    value = fields_value(fields, name)
    if value is MISSING or value is None:
        if required:
            raise invalid(name, "required")
        return ""
    if not isinstance(value, str):
        raise invalid(name, "expected a string")
    value = value.strip()
    if required and not value:
        raise invalid(name, "must not be empty")
    if len(value) > limit:
        raise invalid(name, f"at most {limit} characters, got {len(value)}")
    allowed = "".join(c for c in value if c not in "\r\n\t") if lines else value
    # Lone surrogates are not printable; U+FFFD stands for bytes that were not UTF-8.
    if not allowed.isprintable() or "\ufffd" in value:
        raise invalid(name, "only printable characters" + (" and line breaks" if lines else ""))
    return value


def webhook_field(fields: JsonFields, allow_private: bool) -> str | None:
    raw = text_field(fields, "webhook_url", MAX_WEBHOOK_URL_LENGTH, required=False)
    if not raw:
        return None
    try:
        url = normalise_webhook_url(raw)
    except LurkcoinError:
        raise LurkcoinError(
            "ERR_INVALIDWEBHOOKURL",
            details="webhook_url: expected an http:// or https:// URL with a host name and no "
            f"user or password, at most {MAX_WEBHOOK_URL_LENGTH} characters",
        ) from None
    host = urlsplit(url).hostname or ""
    if not allow_private:
        try:
            if host.rstrip(".") in _LOCAL_HOSTS or host.endswith(".localhost"):
                raise ForbiddenAddress(f"{host} is a loopback host")
            check_literal_host(host)
        except ForbiddenAddress as exc:
            raise LurkcoinError(
                "ERR_INVALIDWEBHOOKURL",
                details=f"webhook_url: must reach a public address ({exc})",
            ) from None
    return url


def _rate_limit(request: web.Request, state: OnboardingState) -> None:
    allowance = state.limiter.take(request.app[THROTTLE_KEY].address(request))
    if not allowance.allowed:
        wait = max(1, allowance.reset - math.floor(state.limiter.clock()))
        raise RateLimited(wait, state.limiter.limit, state.limiter.window)


async def request_account(request: web.Request) -> web.StreamResponse:
    """POST /api/account_requests: queue a request; answers its id and secret (once)."""
    state = request.app[ONBOARDING_KEY]
    _rate_limit(request, state)
    fields = await read_fields(request, REQUEST_FIELDS)
    name = text_field(fields, "name", 1000, required=True)
    problem = server_name_problem(name)
    if problem is not None:
        raise invalid("name", problem)
    contact = text_field(fields, "contact", MAX_CONTACT_LENGTH, required=True)
    webhook_url = webhook_field(fields, state.allow_private_webhooks)
    message = text_field(fields, "message", MAX_MESSAGE_LENGTH, required=False, lines=True)
    throttle = request.app[THROTTLE_KEY]
    queued, secret = await request.app[LEDGER_KEY].request_account(
        name=name,
        contact=contact,
        webhook_url=webhook_url,
        message=message,
        address=client_address(request, throttle.trusted),
    )
    log.info("onboarding: account request #%d for %r", queued.id, queued.name)
    return success(
        {
            "id": queued.id,
            "secret": secret,
            "name": queued.name,
            "webhook_url": queued.webhook_url,
            "status": queued.status,
            "created_at": queued.created_at,
        }
    )


def _request_id(fields: JsonFields) -> int:
    value = fields_value(fields, "id")
    if value is MISSING or value is None:
        raise invalid("id", "required")
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < 2**63:
        raise invalid("id", "expected the whole number POST /api/account_requests answered")
    return value


async def claim_account(request: web.Request) -> web.StreamResponse:
    """POST /api/account_requests/claim: the new server's token, once, after approval."""
    throttle = request.app[THROTTLE_KEY]
    throttle.check_address(request)
    fields = await read_fields(request, CLAIM_FIELDS)
    request_id = _request_id(fields)
    secret = text_field(fields, "secret", MAX_SECRET_LENGTH, required=True)
    try:
        server, token = await request.app[LEDGER_KEY].claim_account(
            request_id, secret, address=client_address(request, throttle.trusted)
        )
    except LurkcoinError as err:
        if err.code == "ERR_REQUESTNOTFOUND":  # a guess: count it like a failed login
            throttle.record_failure(throttle.address(request), None)
        raise
    log.info("onboarding: the token of request #%d (%s) was claimed", request_id, server.name)
    return success({"name": server.name, "token": token, "webhook_url": server.webhook_url})
