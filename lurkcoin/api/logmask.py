"""Keep tokens sent in URLs (lurkcoinV2's ``?token=``) out of the logs.

aiohttp's access log writes each request line with its query string, and its
server log can quote a malformed request line in an error. A filter on those
loggers masks every ``token=<value>`` before any handler formats the record.
Our own log lines name only paths, never queries.
"""

from __future__ import annotations

import logging
import re

MASK = "<hidden>"
_TOKEN_IN_URL = re.compile(r"(token=)[^&\s\"'#\\]*", re.IGNORECASE)
# The aiohttp loggers that may print a request's URL.
LOGGERS = ("aiohttp.access", "aiohttp.server", "aiohttp.web", "aiohttp.internal")


def mask_tokens(text: str) -> str:
    """``...&token=abc&x=1`` -> ``...&token=<hidden>&x=1``."""
    return _TOKEN_IN_URL.sub(r"\g<1>" + MASK, text)


class MaskTokens(logging.Filter):
    """Rewrites a record's message (and traceback text) with every URL token masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "token=" in message.lower():
            record.msg, record.args = mask_tokens(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_tokens(record.exc_text)
        return True


def install() -> None:
    """Add the filter to every logger in LOGGERS once (safe to call per app)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, MaskTokens) for f in logger.filters):
            logger.addFilter(MaskTokens())
