"""Where the server's log lines go and how they look: ``[logging]`` level, format and file.

``format = "json"`` writes one JSON object per line (time, level, logger,
message, and the request id and HTTP fields when there are any), for log
shippers; ``"text"`` is for people. ``file`` (lurkcoin-core's ``logfile``)
is reopened on SIGHUP, so logrotate can move it away and signal us.

Nothing secret is ever passed to a log call: tokens, keys, passwords and
webhook secrets stay out of messages, and the access log drops query values
(see lurkcoin.api.access). tests/test_logging.py checks every line.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any, TextIO

from lurkcoin.config import LoggingSection

# The request being answered, for every line logged while answering it.
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "lurkcoin_request_id", default=None
)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to each record logged while a request is answered."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; a traceback, if any, is one string field."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        http = getattr(record, "http", None)
        if http:
            entry["http"] = http
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class ReopenableFileHandler(logging.FileHandler):
    """A log file that :meth:`reopen` closes and opens again by name (after logrotate)."""

    def reopen(self) -> None:
        self.acquire()
        try:
            stream, self.stream = self.stream, self._open()
            if stream is not None:
                stream.close()
        finally:
            self.release()


class LogSetup:
    """The handler ``configure_logging`` installed; ``reopen()`` is the SIGHUP action."""

    def __init__(self, handler: logging.Handler) -> None:
        self.handler = handler

    def reopen(self) -> None:
        if isinstance(self.handler, ReopenableFileHandler):
            self.handler.reopen()


class _Held(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__()
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def hold_records(name: str) -> Iterator[list[logging.LogRecord]]:
    """Keep what logger ``name`` says until logging is configured (config warnings)."""
    logger = logging.getLogger(name)
    held: list[logging.LogRecord] = []
    handler, propagate = _Held(held), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield held
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def make_handler(section: LoggingSection, stream: TextIO | None = None) -> logging.Handler:
    handler: logging.Handler
    if section.file:
        handler = ReopenableFileHandler(section.file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
    if section.format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RequestIdFilter())
    return handler


def configure_logging(section: LoggingSection) -> LogSetup:
    """Send the root logger's records to one handler, as ``[logging]`` says."""
    handler = make_handler(section)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(section.level)
    # Our own access log replaces aiohttp's; its request errors are logged by
    # lurkcoin.api.access without tracebacks.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("lurkcoin.access").setLevel(
        logging.NOTSET if section.access_log else logging.WARNING
    )
    return LogSetup(handler)
