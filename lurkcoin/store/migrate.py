"""Numbered SQL migrations, each applied in one transaction with its version.

One numbered sequence for both engines: ``migrations/NNNN_name.sql`` for
SQLite and ``migrations/postgresql/NNNN_name.sql``, its twin, for PostgreSQL
(a test checks that the two sequences match). The schema version is SQLite's
``user_version``, or the one row of ``lurkcoin_schema`` on PostgreSQL, written
inside the same transaction as the migration, so a crash leaves either the old
or the new schema. A database newer than this program is refused rather than
guessed at.
"""

from __future__ import annotations

import re
import sqlite3
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lurkcoin.store.pg_connection import PgConnection

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class SchemaTooNew(Exception):
    """The database was written by a newer lurkcoin."""


def migrations_dir(engine: str = "sqlite") -> Traversable:
    """The migrations shipped inside the package (also from a zip or a --target install)."""
    base = files("lurkcoin.store").joinpath("migrations")
    return base if engine == "sqlite" else base.joinpath(engine)


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


def _too_new(current: int, latest: int) -> SchemaTooNew:
    return SchemaTooNew(
        f"the database has schema version {current} but this lurkcoin knows "
        f"only up to {latest}; upgrade lurkcoin"
    )


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, directory: Traversable | None = None) -> int:
    """Bring the schema up to date; returns the version now in force."""
    migrations = available_migrations(directory)
    latest = migrations[-1][0] if migrations else 0
    current = schema_version(conn)
    if current > latest:
        raise _too_new(current, latest)
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


# Any number: it only has to be the same in every process that migrates.
_PG_MIGRATION_LOCK = 0x6C75726B


def pg_schema_version(conn: "PgConnection") -> int:
    row = conn.execute(
        "SELECT version FROM lurkcoin_schema WHERE EXISTS "
        "(SELECT 1 FROM pg_tables WHERE tablename = 'lurkcoin_schema' "
        "AND schemaname = current_schema())"
    ).fetchone()
    return int(row[0]) if row else 0


def migrate_postgres(conn: "PgConnection", directory: Traversable | None = None) -> int:
    """The PostgreSQL twin of migrate(): several processes may start at once.

    An advisory lock held for the transaction makes the others wait; each
    then finds the version already written and applies nothing twice.
    """
    migrations = available_migrations(directory or migrations_dir("postgresql"))
    latest = migrations[-1][0] if migrations else 0
    conn.execute("BEGIN")
    try:
        conn.execute("SELECT pg_advisory_xact_lock(?)", (_PG_MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS lurkcoin_schema (version BIGINT NOT NULL)")
        if conn.execute("SELECT 1 FROM lurkcoin_schema").fetchone() is None:
            conn.execute("INSERT INTO lurkcoin_schema (version) VALUES (0)")
        current = pg_schema_version(conn)
        if current > latest:
            raise _too_new(current, latest)
        for number, path in migrations:
            if number > current:
                conn.executescript(path.read_text(encoding="utf-8"))
                conn.execute("UPDATE lurkcoin_schema SET version = ?", (number,))
        conn.execute("COMMIT")
    except BaseException:
        if not conn.closed:
            conn.execute("ROLLBACK")
        raise
    return max(current, latest)
