"""Validation and normalisation of webhook URLs (spec, "Webhooks")."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from lurkcoin.core.errors import LurkcoinError

MAX_WEBHOOK_URL_LENGTH = 2048
_SUFFIX = "/lurkcoin"
_SCHEMES = frozenset({"http", "https"})
_HOST_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?")


def _invalid() -> LurkcoinError:
    return LurkcoinError("ERR_INVALIDWEBHOOKURL")


def _is_plain_ascii(url: str) -> bool:
    # urlsplit silently strips tabs, newlines and leading spaces, so such
    # URLs would be stored differently from what was sent; refuse them and
    # anything non-ASCII (internationalised hosts can be given in punycode).
    return all("\x21" <= char <= "\x7e" for char in url)


def _is_valid_host(hostname: str) -> bool:
    # urlsplit returns the host lower-cased and without IPv6 brackets.
    if ":" in hostname:
        try:
            ipaddress.IPv6Address(hostname)
        except ValueError:
            return False
        return True
    return _HOST_NAME.fullmatch(hostname) is not None


def normalise_webhook_url(url: str) -> str:
    """The URL a webhook is stored under, or ERR_INVALIDWEBHOOKURL.

    http(s) only, a host is required, credentials are refused, query and
    fragment are dropped and the path ends in "/lurkcoin".
    """
    if not url or len(url) > MAX_WEBHOOK_URL_LENGTH or not _is_plain_ascii(url):
        raise _invalid()
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a non-numeric or out-of-range port
    except ValueError:
        raise _invalid() from None
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise _invalid()
    if not parts.hostname or not _is_valid_host(parts.hostname):
        raise _invalid()
    # Credentials in a stored URL would leak through every place it is shown.
    if "@" in parts.netloc:
        raise _invalid()
    path = parts.path
    if not path.endswith(_SUFFIX):
        # Add the "/" between only when the path does not end in one already.
        path += _SUFFIX[1:] if path.endswith("/") else _SUFFIX
    normalised = f"{scheme}://{parts.netloc}{path}"
    if len(normalised) > MAX_WEBHOOK_URL_LENGTH:
        raise _invalid()
    return normalised
