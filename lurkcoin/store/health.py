"""Whether the database takes writes: a full disk, a read-only file, failing I/O.

These are conditions of the machine, not bugs: while one lasts every write
fails the same way, so it is logged once when it starts and once when it ends
(never a traceback per batch), clients get HTTP 503 with Retry-After, reads
keep working, and a probe write retries on its own until writes succeed again.
"""

from __future__ import annotations

import logging
import sqlite3
import time

log = logging.getLogger(__name__)

DISK_FULL = "the disk is full (or the database reached [database] max_size)"
READ_ONLY = "the database is read-only"

# SQLite's (extended) result code names, by prefix, and what they mean to an operator.
_CONDITIONS = (
    ("SQLITE_FULL", DISK_FULL),
    ("SQLITE_READONLY", READ_ONLY),
    ("SQLITE_CANTOPEN", "the database's files cannot be opened for writing"),
    ("SQLITE_IOERR", "the disk reports I/O errors"),
)


def storage_problem(exc: BaseException) -> str | None:
    """What stops writes, if ``exc`` is a condition of the disk rather than a bug."""
    if not isinstance(exc, sqlite3.Error):
        return None
    name = getattr(exc, "sqlite_errorname", "") or ""
    for prefix, reason in _CONDITIONS:
        if name.startswith(prefix):
            return reason
    return None


class WriteHealth:
    """The current condition of the writer, logged only when it changes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.problem: str | None = None
        self.since = 0.0

    def failed(self, reason: str, exc: BaseException) -> None:
        if reason != self.problem:
            log.warning(
                "writes to %s are failing: %s (%s); answering 503 and retrying until they succeed",
                self.path,
                reason,
                exc,
            )
            self.problem, self.since = reason, time.time()

    def succeeded(self) -> None:
        if self.problem is not None:
            log.warning(
                "writes to %s succeed again after %.0f s (%s)",
                self.path,
                time.time() - self.since,
                self.problem,
            )
            self.problem = None


def probe_space(conn: sqlite3.Connection) -> None:
    """A write that needs fresh pages and leaves nothing behind, for the recovery probe.

    A transaction that changes nothing commits without touching the disk, so
    this one makes and drops a table holding 64 KiB: the COMMIT writes pages.
    """
    conn.execute("CREATE TABLE lurkcoin_space_probe (filler BLOB)")
    conn.execute("INSERT INTO lurkcoin_space_probe VALUES (zeroblob(65536))")
    conn.execute("DROP TABLE lurkcoin_space_probe")
