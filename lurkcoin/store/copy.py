"""Copy a whole ledger between databases (SQLite and PostgreSQL, either direction).

Row for row, ids and all, in one transaction on the target: a copy that
fails leaves the target as it was. The source is read in one snapshot, so a
server still running on it cannot make the copy inconsistent. The target
must be freshly migrated to the same schema version and hold nothing but
what the migrations put there (refused otherwise: a copy never merges).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from lurkcoin.store.migrate import pg_schema_version, schema_version

# Parents before children (foreign keys); tables the program does not know are refused.
TABLE_ORDER = (
    "servers",
    "transactions",
    "history",
    "adjustments",
    "entries",
    "idempotency_keys",
    "webhook_outbox",
    "webhook_state",
    "api_keys",
    "admin_sessions",
    "audit_log",
    "daily_rollup",
    "account_requests",
)
# Rows the migrations insert into a new database (the system accounts @issuance and
# @fees): replaced by the source's.
_SEEDED = {"servers"}
PAGE = 2000


class Connection(Protocol):
    def execute(self, sql: str, params: Any = ...) -> Any: ...


@dataclass
class Side:
    """One end of the copy: an open connection and which engine it speaks."""

    conn: Connection
    engine: str  # "sqlite" or "postgresql"

    def tables(self) -> list[str]:
        if self.engine == "sqlite":
            sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        else:
            sql = (
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "AND tablename <> 'lurkcoin_schema'"
            )
        return sorted(r[0] for r in self.conn.execute(sql).fetchall())

    def version(self) -> int:
        if self.engine == "sqlite":
            return schema_version(self.conn)  # type: ignore[arg-type]
        return pg_schema_version(self.conn)  # type: ignore[arg-type]

    def begin_snapshot(self) -> None:
        if self.engine == "sqlite":
            self.conn.execute("BEGIN")
        else:
            self.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def begin_write(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE" if self.engine == "sqlite" else "BEGIN")


@dataclass
class TableFacts:
    """What the verification compares between source and target, per table."""

    rows: int
    sums: dict[str, int] = field(default_factory=dict)


def ordered(tables: Sequence[str]) -> list[str]:
    unknown = sorted(set(tables) - set(TABLE_ORDER))
    if unknown:
        raise CopyError(f"tables this lurkcoin does not know: {', '.join(unknown)}")
    return [t for t in TABLE_ORDER if t in tables]


class CopyError(Exception):
    """Why a copy was refused or failed, worded for the operator."""


def _columns(side: Side, table: str) -> list[str]:
    cur = side.conn.execute(f"SELECT * FROM {table} WHERE 1 = 0")
    return [d[0] for d in cur.description]


def _rows(side: Side, table: str, columns: list[str]) -> Iterator[Sequence[Any]]:
    """Every row, fetched a page at a time (constant memory whatever the ledger's size)."""
    sql = f"SELECT {', '.join(_quoted(c) for c in columns)} FROM {table}"
    if side.engine == "sqlite":
        cur: Any = side.conn.execute(sql)
    else:  # a server-side cursor, inside the snapshot's transaction
        cur = side.conn.raw.cursor(name=f"lurkcoin_copy_{table}")  # type: ignore[attr-defined]
        cur.execute(sql)
    try:
        while page := cur.fetchmany(PAGE):
            yield from page
    finally:
        cur.close()


def _quoted(column: str) -> str:
    return f'"{column}"'


def empty_besides_seeds(side: Side) -> list[str]:
    """Tables of the target holding more than the migrations put there."""
    busy = []
    for table in ordered(side.tables()):
        count = int(side.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
        seeded = (
            table in _SEEDED
            and not side.conn.execute(f"SELECT 1 FROM {table} WHERE kind <> 'system'").fetchone()
        )
        if count and not seeded:
            busy.append(table)
    return busy


def copy_rows(
    source: Side, target: Side, progress: Callable[[str, int], None] = lambda t, n: None
) -> dict[str, int]:
    """Copy every table inside the target's open transaction; rows copied per table."""
    copied: dict[str, int] = {}
    for table in ordered(source.tables()):
        columns = _columns(source, table)
        if table in _SEEDED:
            target.conn.execute(f"DELETE FROM {table}")
        marks = ", ".join("?" * len(columns))
        insert = f"INSERT INTO {table} ({', '.join(_quoted(c) for c in columns)}) VALUES ({marks})"
        batch: list[Sequence[Any]] = []
        count = 0
        for row in _rows(source, table, columns):
            batch.append(tuple(row))
            if len(batch) == PAGE:
                _insert_many(target, insert, batch)
                count += len(batch)
                progress(table, count)
                batch = []
        if batch:
            _insert_many(target, insert, batch)
            count += len(batch)
        progress(table, count)
        copied[table] = count
    if target.engine == "postgresql":
        _advance_identities(target)
    return copied


def _insert_many(side: Side, sql: str, rows: list[Sequence[Any]]) -> None:
    conn: Any = side.conn
    conn.executemany(sql, rows)


def _advance_identities(side: Side) -> None:
    """Rows came with their ids: each identity continues after the largest copied."""
    for table, column in side.conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND is_identity = 'YES'"
    ).fetchall():
        side.conn.execute(
            f"SELECT setval(pg_get_serial_sequence(?, ?), "
            f"COALESCE((SELECT MAX({_quoted(column)}) FROM {table}), 0) + 1, false)",
            (table, column),
        )


# Integer columns whose totals must match after a copy, per table.
_SUMMED = {
    "servers": ("balance", "target_balance"),
    "transactions": ("amount", "sent_amount", "received_amount"),
    "entries": ("delta",),
    "adjustments": ("amount",),
    "daily_rollup": ("sent_volume", "received_volume"),
}


def facts(side: Side) -> dict[str, TableFacts]:
    """Row counts and money totals of every table, and each server's balance."""
    found: dict[str, TableFacts] = {}
    for table in ordered(side.tables()):
        sums = _SUMMED.get(table, ())
        select = ", ".join(["COUNT(*)", *(f"COALESCE(SUM({c}), 0)" for c in sums)])
        row = side.conn.execute(f"SELECT {select} FROM {table}").fetchone()
        found[table] = TableFacts(
            int(row[0]), {c: int(v) for c, v in zip(sums, row[1:], strict=True)}
        )
    return found


def balances(side: Side) -> dict[str, int]:
    rows = side.conn.execute("SELECT uid, balance FROM servers ORDER BY id").fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


def open_sqlite(path: str) -> Side:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 10000")
    return Side(conn, "sqlite")


def open_postgres(url: str) -> Side:
    from lurkcoin.store.pg_connection import PgConnection

    return Side(PgConnection.connect(url, application_name="lurkcoin-migrate"), "postgresql")
