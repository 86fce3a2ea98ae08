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
