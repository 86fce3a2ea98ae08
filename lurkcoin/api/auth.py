"""HTTP Basic authentication of game servers: the one place a request becomes a Server.

Every endpoint that needs a login calls :func:`authenticate`, so throttling of
failed logins (429), scoped or read-only keys and token rotation are added
here and nowhere else.
"""

from __future__ import annotations

import base64
import binascii
import codecs
from dataclasses import dataclass

from aiohttp import web

from lurkcoin.api.keys import LEDGER_KEY
from lurkcoin.core.errors import LurkcoinError
from lurkcoin.models import Server


def _replace_each_byte(err: UnicodeError) -> tuple[str, int]:
    """One U+FFFD per invalid byte, as Go reads a byte string."""
    assert isinstance(err, UnicodeDecodeError)
    return "\ufffd", err.start + 1


# Python's requests encodes a Basic user name as Latin-1, so "Ünï" arrives as
# invalid UTF-8. Read byte by byte, each non-ASCII letter still becomes one
# "_" in the uid, exactly as with the UTF-8 spelling (and as the reference).
_EACH_BYTE = "lurkcoin-replace-each-byte"
codecs.register_error(_EACH_BYTE, _replace_each_byte)


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
    return Credentials(name.decode("utf-8", errors=_EACH_BYTE), token_text)


def invalid_login() -> LurkcoinError:
    return LurkcoinError("ERR_INVALIDLOGIN")


async def authenticate(request: web.Request) -> Server:
    """The server the request logs in as, or ERR_INVALIDLOGIN.

    The name is looked up by uid in memory and the token compared in constant
    time (Ledger.authenticate). An empty token never logs in, even for a
    server imported with an empty one.
    """
    credentials = parse_basic(request.headers.get("Authorization"))
    if credentials is None or not credentials.token:
        raise invalid_login()
    server = request.app[LEDGER_KEY].authenticate(credentials.name, credentials.token)
    if server is None:
        raise invalid_login()
    return server
