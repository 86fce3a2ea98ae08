"""The PostgreSQL half of the suite: every test's ledger on a fresh PostgreSQL database.

``pytest --backend postgresql`` runs the whole suite again with the default
``[database] url`` of every config a test builds (and LURKCOIN_DATABASE_URL,
for the processes it starts) pointing at a database of its own, cloned from
a migrated template, so the same tests check both engines. Tests of what
only SQLite has (its file, its disk errors, its online copy) carry
``@pytest.mark.sqlite_only`` and are left out of that run.

PostgreSQL is reached at LURKCOIN_TEST_POSTGRES_URL (default: the local
server on 127.0.0.1:5432 as user postgres). Without one the run is skipped
and its summary says so; under CI=true that is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from lurkcoin.config import DatabaseSection
from lurkcoin.store.migrate import migrate_postgres
from lurkcoin.store.pg_connection import PgConnection

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


# Taken out of the environment as the suite starts: the lurkcoin processes the
# tests run would warn about a LURKCOIN_ name they do not know.
_ADMIN_URL = os.environ.pop("LURKCOIN_TEST_POSTGRES_URL", "") or DEFAULT_URL


def admin_url() -> str:
    return _ADMIN_URL


def url_for(database: str) -> str:
    """The admin URL (a postgresql:// URL) with another database name."""
    parts = urlsplit(admin_url())
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))


def reachable() -> str | None:
    """None if PostgreSQL answers at the admin URL, else why not."""
    try:
        with psycopg.connect(admin_url(), connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]


class Databases:
    """One database for the run, emptied before each test (far cheaper than one per test).

    Emptying truncates every table and restarts every identity, then puts back what
    the migrations insert (the system accounts), so each test starts from the
    state a fresh ledger has.
    """

    def __init__(self) -> None:
        self.name = f"lkt_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        with psycopg.connect(admin_url(), autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
        self.url = url_for(self.name)
        conn = PgConnection.connect(self.url)
        try:
            self.version = migrate_postgres(conn)
        finally:
            conn.close()
        self._conn = psycopg.connect(self.url, autocommit=True)
        self._tables = [
            r[0]
            for r in self._conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "AND tablename <> 'lurkcoin_schema'"
            )
        ]
        # What the migrations insert (the system accounts), put back in id order after emptying.
        self._seeded = self._conn.execute(
            "SELECT uid, name, kind, created_at, updated_at FROM servers ORDER BY id"
        ).fetchall()
        self._used = False

    def fresh(self) -> str:
        """The database, empty, for the next test."""
        if self._used:
            self._empty()
        self._used = True
        return self.name

    def _empty(self) -> None:
        # A test's server may still hold a lock for a moment while it stops.
        for attempt in range(3):
            try:
                with self._conn.transaction():
                    self._conn.execute("SET LOCAL lock_timeout = '5s'")
                    self._conn.execute(
                        sql.SQL("TRUNCATE {} RESTART IDENTITY").format(
                            sql.SQL(", ").join(sql.Identifier(t) for t in self._tables)
                        )
                    )
                    for row in self._seeded:
                        self._conn.execute(
                            "INSERT INTO servers (uid, name, kind, created_at, updated_at) "
                            "VALUES (%s, %s, %s, %s, %s)",
                            row,
                        )
                    self._conn.execute("UPDATE lurkcoin_schema SET version = %s", (self.version,))
                return
            except psycopg.errors.LockNotAvailable:
                if attempt == 2:
                    raise
                self._conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )

    def close(self) -> None:
        self._conn.close()
        with psycopg.connect(admin_url(), autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name))
            )


def point_defaults_at(url: str) -> Iterator[None]:
    """Every DatabaseSection built meanwhile defaults to ``url`` (the dataclass's own default)."""
    init = DatabaseSection.__init__
    defaults = init.__defaults__
    assert defaults is not None
    names = [f.name for f in DatabaseSection.__dataclass_fields__.values()]
    index = names.index("url") - (len(names) - len(defaults))
    patched = list(defaults)
    patched[index] = url
    init.__defaults__ = tuple(patched)
    try:
        yield
    finally:
        init.__defaults__ = defaults
