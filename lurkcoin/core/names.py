"""Server lookup keys (uids) and the cleaning of user names inside transactions."""

from __future__ import annotations

import functools
import re

MAX_USERNAME_LENGTH = 48  # Unicode code points

_NOT_UID_CHAR = re.compile(r"[^a-z0-9_]")
_REPLACEMENT_CHARACTER = "\ufffd"


def _simple_lower(char: str) -> str:
    """Lower-case one code point the way Go's unicode.ToLower does (1:1).

    Python's str.lower() uses full case mapping, under which U+0130 (I with
    dot above) becomes two code points, "i" + U+0307; Go maps it to "i".
    Per-character lowering also avoids Python's context-dependent final sigma.
    """
    lowered = char.lower()
    return lowered if len(lowered) == 1 else lowered[0]


# Names longer than this are not memoised: nobody's server is called that,
# and a cache full of long names from failed logins would pin megabytes.
_CACHED_NAME_LENGTH = 64


def server_uid(name: str) -> str:
    """Lookup key of a server: 'My Server!' and 'myserver_' are the same server."""
    if len(name) <= _CACHED_NAME_LENGTH:
        return _cached_uid(name)
    return _uid(name)


def _uid(name: str) -> str:
    lowered = "".join(_simple_lower(char) for char in name)
    return _NOT_UID_CHAR.sub("_", lowered.replace(" ", ""))


# Pure and called several times per request with the same few names.
_cached_uid = functools.lru_cache(maxsize=4096)(_uid)


def clean_username(name: str) -> str:
    """Trim ASCII spaces and replace each non-printable code point with U+FFFD.

    str.isprintable() accepts letters, marks, numbers, punctuation, symbols
    and the ASCII space, like Go's unicode.IsPrint.
    """
    trimmed = name.strip(" ")
    if trimmed.isprintable():
        return trimmed
    return "".join(c if c.isprintable() else _REPLACEMENT_CHARACTER for c in trimmed)


def username_too_long(cleaned: str) -> bool:
    """Whether a cleaned user name is over the reference's 48-code-point limit."""
    return len(cleaned) > MAX_USERNAME_LENGTH


# A requested server name (self-service onboarding): short enough to show
# anywhere, and what the uid rule can tell apart from every other name.
MAX_SERVER_NAME_LENGTH = 64


def server_name_problem(name: str) -> str | None:
    """What is wrong with ``name`` as a new server's name, or None if nothing is.

    The rule every server is created by (a uid with a letter or digit), plus
    what a name typed by a stranger needs: printable, no spaces around it, no
    ":" (HTTP Basic logins cannot carry it) and at most 64 code points.
    """
    if not name:
        return "must not be empty"
    if len(name) > MAX_SERVER_NAME_LENGTH:
        return f"at most {MAX_SERVER_NAME_LENGTH} characters, got {len(name)}"
    if not name.isprintable():
        return "only printable characters (no control characters or line breaks)"
    if name != name.strip():
        return "no spaces at the start or end"
    if ":" in name:
        return "no ':' (a login cannot carry it)"
    if not server_uid(name).strip("_"):
        return "needs at least one letter or digit (a-z, 0-9)"
    return None
