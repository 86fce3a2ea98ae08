"""The read queries of store/reads.py on PostgreSQL: a small pool of async connections.

Every query is the one the SQLite reader runs (translated by pg_connection);
only how a connection is had differs. A snapshot is one REPEATABLE READ,
READ ONLY transaction on one connection, so the invariant check sees one
state of the ledger as it does on SQLite.
"""

from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from lurkcoin.core.errors import ServiceUnavailable
from lurkcoin.store.pg_connection import (
    UNREACHABLE,
    Params,
    bind,
    configure_types,
    query,
    unreachable,
)
from lurkcoin.store.reads import Reader

POOL_SIZE = 4
CONNECT_TIMEOUT = 10.0
# Retry-After of a read refused while the database cannot be reached.
RETRY_AFTER = 5.0


async def _configure(conn: psycopg.AsyncConnection[Any]) -> None:
    configure_types(conn)


class PgReader(Reader):
    def __init__(
        self,
        url: str,
        pool: AsyncConnectionPool[Any] | None,
        conn: psycopg.AsyncConnection[Any] | None = None,
    ) -> None:
        super().__init__(url, [])
        self._url = url
        self._pool = pool
        # Set for a snapshot: every query on this one connection and transaction.
        self._conn = conn

    @classmethod
    async def open(
        cls, path: str, connections: int = POOL_SIZE, *, uri: bool = False
    ) -> "PgReader":
        """``path`` is the database URL (``uri`` is SQLite's and means nothing here)."""
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            path,
            min_size=1,
            max_size=connections,
            kwargs={"autocommit": True, "application_name": "lurkcoin-reader"},
            configure=_configure,
            open=False,
            timeout=CONNECT_TIMEOUT,
        )
        await pool.open(wait=True, timeout=CONNECT_TIMEOUT)
        return cls(path, pool)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _rows(self, sql: str, params: Params = ()) -> list[Any]:
        try:
            return await self._query(sql, params)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            if not unreachable(exc) and not isinstance(exc, PoolTimeout):
                raise
            # The database restarts or the network fails: a 503 with Retry-After, not a 500.
            raise ServiceUnavailable(UNREACHABLE, RETRY_AFTER) from exc

    async def _query(self, sql: str, params: Params) -> list[Any]:
        if self._conn is not None:
            cur = await self._conn.execute(query(sql, params), bind(params))
            return await cur.fetchall() if cur.description else []
        assert self._pool is not None, "reader is closed"
        async with self._pool.connection() as conn:
            cur = await conn.execute(query(sql, params), bind(params))
            return await cur.fetchall() if cur.description else []

    @contextlib.asynccontextmanager
    async def snapshot(self) -> AsyncIterator[Reader]:
        assert self._pool is not None, "reader is closed"
        async with self._pool.connection() as conn:
            await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                yield PgReader(self._url, None, conn)
            finally:
                await conn.execute("ROLLBACK")
