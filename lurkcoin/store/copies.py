"""Consistent copies of a live SQLite database, and reading such a copy back read-only.

A copy is made on a connection of its own (never the writer's), inside one
read transaction: in WAL mode a reader never blocks the writer, so payments
go on while the pages are copied, and the open read transaction pins the
snapshot, so SQLite's backup can go step by step (reporting progress)
without restarting when a payment commits meanwhile. The copy is switched
from WAL to a rollback journal before it is closed: one self-contained file,
readable with ``mode=ro`` without -wal or -shm files beside it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from lurkcoin.store.reads import Reader

# Pages copied per backup step: progress is reported after each (4 MiB of 4 KiB pages).
PAGES_PER_STEP = 1024


def read_only_uri(path: str) -> str:
    """A ``file:`` URI that opens ``path`` strictly read-only."""
    return f"file:{quote(str(Path(path).resolve()))}?mode=ro"


def copy_database(
    source: str, dest: str, progress: Callable[[int, int], None] | None = None
) -> None:
    """Copy the database at ``source`` into the (new or empty) file ``dest``, consistently.

    Blocking (run it on a worker thread). ``progress(pages_done, pages_total)``
    is called after each step.
    """
    src = sqlite3.connect(read_only_uri(source), uri=True, isolation_level=None)
    try:
        src.execute("PRAGMA busy_timeout = 10000")
        # The read transaction starts at its first read and holds that snapshot to the end.
        src.execute("BEGIN")
        src.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        target = sqlite3.connect(dest, isolation_level=None)
        try:

            def report(status: int, remaining: int, total: int) -> None:
                if progress is not None:
                    progress(total - remaining, total)

            src.backup(target, pages=PAGES_PER_STEP, progress=report)
            target.execute("PRAGMA journal_mode = DELETE")
        finally:
            target.close()
        src.execute("COMMIT")
    finally:
        src.close()


async def open_copy(path: str) -> tuple[Reader, int, int]:
    """A Reader on a copy opened read-only, and the copy's issuance and fee account ids.

    Raises sqlite3.Error when the file is no lurkcoin database.
    """
    reader = await Reader.open(read_only_uri(path), connections=1, uri=True)
    try:
        ids = dict(
            await reader.rows("SELECT uid, id FROM servers WHERE uid IN ('@issuance', '@fees')")
        )
        if len(ids) != 2:
            raise sqlite3.DatabaseError("the copy has no issuance or fee account")
        return reader, int(ids["@issuance"]), int(ids["@fees"])
    except BaseException:
        await reader.close()
        raise
