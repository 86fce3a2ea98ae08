"""A PostgreSQL URL as logs, banners and metrics may show it: never its password (pure, no I/O)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_CONNINFO_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_QUERY_PASSWORD = re.compile(r"(password=)[^&]*", re.IGNORECASE)


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***`` ("" stays "")."""
    if not url:
        return ""
    if "://" not in url:  # the key=value form
        return _CONNINFO_PASSWORD.sub(r"\1***", url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return "postgresql://…"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        netloc = f"{userinfo}@{host}"
    query = _QUERY_PASSWORD.sub(r"\1***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
