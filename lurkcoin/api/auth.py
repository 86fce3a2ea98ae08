"""Authentication of game servers: the one place a request becomes a Server.

Every endpoint that needs a login calls :func:`authenticate`, which checks, in
this order: the client address is not throttled (429, credentials unchecked);
the credentials are a server's token (HTTP Basic; a regenerated token and the
old one both work until the new one is first used) or a read-only API key
(``Authorization: key=<key>``, or Basic with the key as the password); a key
has every scope the endpoint needs (403 ERR_FORBIDDEN otherwise; endpoints that
change anything need no scope, so only the token opens them). A wrong
credential is counted per address and per account; once the account has too
many, wrong ones get 429 instead of 401 while the right token keeps working.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import logging
from dataclasses import dataclass

from aiohttp import web

from lurkcoin.api.access import set_account
from lurkcoin.api.app_keys import LEDGER_KEY
from lurkcoin.api.throttle import THROTTLE_KEY, LoginThrottle, TooManyFailures
from lurkcoin.core.errors import LurkcoinError
from lurkcoin.ledger import Ledger
from lurkcoin.ledger.audit import Actor
from lurkcoin.ledger.credentials import KEY_PREFIX
from lurkcoin.models import ApiKey, Server

log = logging.getLogger(__name__)

# The header scheme of a read-only key: "Authorization: key=lk_...".
_KEY_SCHEME = "key="


def _replace_each_byte(err: UnicodeError) -> tuple[str, int]:
    """One U+FFFD per invalid byte, as Go reads a byte string."""
    assert isinstance(err, UnicodeDecodeError)
    return "\ufffd", err.start + 1


# Python's requests encodes a Basic user name as Latin-1, so "Ünï" arrives as
# invalid UTF-8. Read byte by byte, each non-ASCII letter still becomes one
# "_" in the uid, exactly as with the UTF-8 spelling (and as the reference).
EACH_BYTE = "lurkcoin-replace-each-byte"
codecs.register_error(EACH_BYTE, _replace_each_byte)


@dataclass(frozen=True, slots=True)
class Credentials:
    name: str
    token: str

    def __repr__(self) -> str:  # never print a token into a log
        return f"Credentials(name={self.name!r}, token=<hidden>)"


def parse_basic(header: str | None) -> Credentials | None:
    """Name and token of an ``Authorization: Basic`` header, or None if malformed.

    The scheme is matched without regard to case; the decoded text is split
    at its first colon, so tokens may contain colons (clients write a colon
    in a server's name as ``_``, which maps to the same uid).
    """
    if not header:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        # validate=True: strict alphabet and padding, like Go's StdEncoding.
        decoded = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
    name, colon, token = decoded.partition(b":")
    if not colon:
        return None
    try:
        token_text = token.decode("utf-8")
    except UnicodeDecodeError:
        return None  # every stored token is text, so no match is possible
    return Credentials(name.decode("utf-8", errors=EACH_BYTE), token_text)


def parse_key(header: str | None) -> str | None:
    """The key of an ``Authorization: key=<key>`` header (``key`` in any case), else None."""
    if not header or header[: len(_KEY_SCHEME)].lower() != _KEY_SCHEME:
        return None
    return header[len(_KEY_SCHEME) :].strip()


def invalid_login() -> LurkcoinError:
    return LurkcoinError("ERR_INVALIDLOGIN")


def forbidden() -> LurkcoinError:
    return LurkcoinError("ERR_FORBIDDEN")


async def _login(ledger: Ledger, credentials: Credentials) -> tuple[Server, ApiKey | None] | None:
    """The server (and read-only key, if one was used) these Basic credentials log in as."""
    if not credentials.token:
        return None  # never a login, even for a server imported with an empty token
    server = await ledger.authenticate(credentials.name, credentials.token)
    if server is not None:
        return server, None
    if credentials.token.startswith(KEY_PREFIX):
        return ledger.authenticate_key(credentials.token, credentials.name)
    return None


def _failed(
    request: web.Request, throttle: LoginThrottle, ledger: Ledger, name: str | None
) -> LurkcoinError:
    """Count a wrong credential and log it (never the credential): 401, or 429 if throttled."""
    address = throttle.address(request)
    account = ledger.server(name) if name is not None else None
    uid = account.uid if account is not None else None
    # Checked before counting: the first failure over the limit is the first 429.
    wait = throttle.account_blocked_for(uid) if uid is not None else None
    outcome = throttle.record_failure(address, uid)
    # Only a real server's stored name is logged: a client that mixed up its
    # name and token must not put the token in the log.
    if account is not None:
        who = f"account {account.name!r}"
    else:
        who = "an API key" if name is None else "an unknown account"
    log.info("failed login for %s from %s", who, address)
    if outcome.address_now_blocked:
        log.info(
            "throttling logins from %s: %d failures within %g s",
            address,
            throttle.addresses.limit,
            throttle.addresses.window,
        )
    if outcome.account_now_blocked:
        log.info(
            "throttling failed logins for %s: %d failures within %g s",
            who,
            throttle.accounts.limit,
            throttle.accounts.window,
        )
    return TooManyFailures(wait) if wait is not None else invalid_login()


async def authenticate(request: web.Request, *scopes: str) -> Server:
    """The server the request logs in as, or ERR_INVALIDLOGIN (or 429, or 403).

    ``scopes``: what a read-only key needs to use this endpoint; without any,
    only the server's own token logs in. Tokens and keys are looked up in
    memory and compared by hash in constant time (Ledger.authenticate).
    """
    header = request.headers.get("Authorization")
    credentials = parse_basic(header)
    if credentials is not None:
        return await authenticate_credentials(request, credentials, *scopes)
    throttle = request.app[THROTTLE_KEY]
    throttle.check_address(request)
    key = parse_key(header)
    if key is None:
        raise invalid_login()  # no credentials at all: nothing was guessed
    ledger = request.app[LEDGER_KEY]
    found = ledger.authenticate_key(key) if key else None
    if found is None:
        raise _failed(request, throttle, ledger, None)
    server = _allowed(found, scopes)
    set_account(request, server.uid)
    return server


async def authenticate_credentials(
    request: web.Request, credentials: Credentials | None, *scopes: str
) -> Server:
    """Like :func:`authenticate`, for a name and token the caller read (lurkcoinV2 parameters).

    ``None``: the request carried no credentials at all (401, not counted).
    The token may also be a read-only key of the named server.
    """
    throttle = request.app[THROTTLE_KEY]
    throttle.check_address(request)
    if credentials is None:
        raise invalid_login()
    ledger = request.app[LEDGER_KEY]
    found = await _login(ledger, credentials)
    if found is None:
        raise _failed(request, throttle, ledger, credentials.name)
    server = _allowed(found, scopes)
    set_account(request, server.uid)
    return server


def _allowed(found: tuple[Server, ApiKey | None], scopes: tuple[str, ...]) -> Server:
    """The server, unless a read-only key lacks one of the endpoint's scopes (403)."""
    server, api_key = found
    if api_key is not None and not (scopes and api_key.scopes.issuperset(scopes)):
        raise forbidden()
    return server


def server_actor(request: web.Request, server: Server) -> Actor:
    """A server changing its own settings, as the audit log names it."""
    throttle = request.app[THROTTLE_KEY]
    return Actor(f"server:{server.name}", throttle.address(request))
