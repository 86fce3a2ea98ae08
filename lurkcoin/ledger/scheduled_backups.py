"""Verified copies of the live database in a folder (``[backup] directory``), newest kept.

One backup: a consistent online copy (SQLite's backup on a connection of its
own, so payments go on) written under a hidden temporary name, opened
read-only and checked as ``lurkcoin check`` checks the live ledger, and only
then renamed to ``lurkcoin-YYYYMMDD-HHMMSS.sqlite3`` (UTC: names sort by
time). Then the oldest copies beyond ``keep`` are removed. A copy that fails
its check is deleted and nothing is pruned, so the verified copies from
before a problem stay.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lurkcoin.ledger.check import check_copy
from lurkcoin.ledger.engine import Ledger

PREFIX = "lurkcoin-"
SUFFIX = ".sqlite3"
_STAMP = "%Y%m%d-%H%M%S"
_NAME = re.compile(r"lurkcoin-([0-9]{8}-[0-9]{6})\.sqlite3")
# A copy being written or checked: hidden, and never mistaken for a backup.
_PARTIAL = re.compile(r"\.lurkcoin-[0-9]{8}-[0-9]{6}\.sqlite3\.partial")
# Problems quoted in the error when a copy fails its check.
_SHOWN_PROBLEMS = 3


class BackupFailed(Exception):
    """A scheduled backup did not produce a verified copy; the message says why."""


@dataclass(frozen=True)
class BackupMade:
    path: Path
    size: int
    seconds: float
    servers: int
    removed: list[Path]


def backup_name(at: float) -> str:
    """The file name of a backup started at Unix time ``at``."""
    return PREFIX + datetime.fromtimestamp(at, UTC).strftime(_STAMP) + SUFFIX


def existing_backups(directory: Path) -> list[Path]:
    """The folder's backups, oldest first (other files are never touched)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return [directory / name for name in sorted(names) if _NAME.fullmatch(name)]


def newest_backup_time(directory: Path) -> float | None:
    """When the newest backup in the folder was started, from its name; None if none."""
    found = existing_backups(directory)
    if not found:
        return None
    match = _NAME.fullmatch(found[-1].name)
    assert match is not None
    return datetime.strptime(match[1], _STAMP).replace(tzinfo=UTC).timestamp()


def remove_partials(directory: Path) -> list[Path]:
    """Delete copies a stopped or crashed server left half-made."""
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    for name in names:
        if _PARTIAL.fullmatch(name):
            try:
                os.unlink(directory / name)
                removed.append(directory / name)
            except OSError:
                pass
    return removed


def prune(directory: Path, keep: int) -> list[Path]:
    """Remove the oldest backups beyond ``keep``; returns those removed."""
    removed = []
    for old in existing_backups(directory)[:-keep]:
        try:
            os.unlink(old)
            removed.append(old)
        except FileNotFoundError:
            pass
    return removed


def _usable_folder(directory: Path) -> None:
    if not directory.exists():
        raise BackupFailed(f"the backup directory {directory} does not exist")
    if not directory.is_dir():
        raise BackupFailed(f"the backup directory {directory} is not a directory")


def _create_private(path: Path) -> None:
    """An empty file only its owner can read: a copy holds token hashes."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        raise BackupFailed(f"cannot write in {path.parent}: {exc.strerror or exc}") from None


def _keep(partial: Path, final: Path, keep: int) -> list[Path]:
    """Give the verified copy its name, durably, then prune (blocking: run on a thread)."""
    os.replace(partial, final)
    folder = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(folder)  # the rename survives a crash
    finally:
        os.close(folder)
    return prune(final.parent, keep)


async def take_backup(
    ledger: Ledger, directory: str | Path, keep: int, now: float | None = None
) -> BackupMade:
    """Make, verify and keep one backup in ``directory``; prune to ``keep``.

    Raises BackupFailed with the reason when no verified copy was made.
    """
    started = time.monotonic()
    folder = Path(directory).absolute()
    _usable_folder(folder)
    name = backup_name(time.time() if now is None else now)
    final = folder / name
    partial = folder / f".{name}.partial"
    _create_private(partial)
    try:
        await ledger.backup_to(str(partial))
        report = await check_copy(str(partial))
        if not report.ok:
            shown = "; ".join(report.problems[:_SHOWN_PROBLEMS])
            more = len(report.problems) - _SHOWN_PROBLEMS
            raise BackupFailed(
                f"the copy fails the ledger check: {shown}"
                + (f" (and {more} more)" if more > 0 else "")
            )
        size = partial.stat().st_size
        keeping = asyncio.ensure_future(asyncio.to_thread(_keep, partial, final, keep))
        try:
            removed = await asyncio.shield(keeping)
        except asyncio.CancelledError:
            # A shutdown: the rename and the pruning take a moment, and once
            # finished the folder holds exactly the copies it should.
            await keeping
            raise
    except sqlite3.Error as exc:
        raise BackupFailed(f"the copy could not be made or read: {exc}") from None
    except OSError as exc:
        raise BackupFailed(f"cannot write in {folder}: {exc.strerror or exc}") from None
    finally:
        try:
            partial.unlink()
        except OSError:  # renamed into place (or the folder went away)
            pass
    return BackupMade(final, size, time.monotonic() - started, report.servers, removed)
