"""Numbered SQL migrations, each applied in one transaction with its version.

The schema version is SQLite's ``user_version``, written inside the same
transaction as the migration, so a crash leaves either the old or the new
schema. A database newer than this program is refused rather than guessed at.
"""

from __future__ import annotations

import re
import sqlite3
from importlib.resources import files
from importlib.resources.abc import Traversable

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class SchemaTooNew(Exception):
    """The database was written by a newer lurkcoin."""


def migrations_dir() -> Traversable:
    """The migrations shipped inside the package (also from a zip or a --target install)."""
    return files("lurkcoin.store").joinpath("migrations")


def available_migrations(directory: Traversable | None = None) -> list[tuple[int, Traversable]]:
    directory = directory or migrations_dir()
    found = []
    for path in directory.iterdir():
        m = _NAME.match(path.name)
        if m:
            found.append((int(m.group(1)), path))
    found.sort(key=lambda item: item[0])
    numbers = [n for n, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise RuntimeError(f"migrations in {directory} are not numbered 1..n: {numbers}")
    return found


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, directory: Traversable | None = None) -> int:
    """Bring the schema up to date; returns the version now in force."""
    migrations = available_migrations(directory)
    latest = migrations[-1][0] if migrations else 0
    current = schema_version(conn)
    if current > latest:
        raise SchemaTooNew(
            f"the database has schema version {current} but this lurkcoin knows "
            f"only up to {latest}; upgrade lurkcoin"
        )
    for number, path in migrations:
        if number <= current:
            continue
        script = path.read_text(encoding="utf-8")
        # executescript() commits first, so run the statements ourselves inside
        # one explicit transaction together with the version bump.
        conn.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(conn) >= number:  # another process got there first
                conn.execute("ROLLBACK")
                continue
            for statement in _split_statements(script):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return schema_version(conn)


def _split_statements(script: str) -> list[str]:
    """Split a migration into complete statements (sqlite3 tells us where they end)."""
    statements, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                statements.append(buf.strip())
            buf = ""
    if buf.strip() and not all(
        ln.strip().startswith("--") or not ln.strip() for ln in buf.splitlines()
    ):
        raise RuntimeError("migration ends with an incomplete statement")
    return statements
