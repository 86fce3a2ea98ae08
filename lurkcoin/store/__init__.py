"""The store: every SQL statement lurkcoin runs, on SQLite (embedded) or PostgreSQL."""

from __future__ import annotations

from lurkcoin.config import DatabaseSection
from lurkcoin.store.sqlite import SqliteStore


def make_store(database: DatabaseSection) -> SqliteStore:
    """The store ``[database]`` names: PostgreSQL when ``url`` is set, else the SQLite file."""
    if database.url:
        from lurkcoin.store.postgres import PgStore  # psycopg only when PostgreSQL is used

        return PgStore(
            database.url, max_batch=database.max_batch, retry_interval=database.retry_interval
        )
    return SqliteStore(
        database.path,
        synchronous=database.synchronous,
        max_batch=database.max_batch,
        max_bytes=database.max_size * 1024 * 1024,
        retry_interval=database.retry_interval,
    )
