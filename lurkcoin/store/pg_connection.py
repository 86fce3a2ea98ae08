"""PostgreSQL connections that take the store's SQL as written for SQLite.

The store's statements are written once, in the SQL both engines share, with
SQLite's ``?`` and ``:name`` placeholders. This module turns one into what
psycopg expects (``%s``/``%(name)s``) and smooths the few places where the
engines differ, once per distinct statement (the result is cached):

- ``INDEXED BY index`` (a SQLite planner hint) is dropped: PostgreSQL plans alone;
- ``x COLLATE NOCASE`` (SQLite's ASCII case folding) becomes ``lower(x)``;
- ``a IS b`` / ``a IS NOT b`` between values (SQLite's null-safe comparison)
  become ``IS [NOT] DISTINCT FROM``;
- a literal ``%`` is doubled (psycopg reads it as a placeholder otherwise).

PostgreSQL text cannot hold the NUL character, which a client can still put
in a lookup (a transaction id, ``?before=%00``). No stored text holds NUL or
any other control character (usernames are cleaned, names, keys and URLs are
validated), so such a value is sent as the same text with each NUL made
U+0001: it finds nothing, exactly as on SQLite, where it finds nothing either.

Values come back as SQLite gives them: a SUM over integers (PostgreSQL's
``numeric``) as an int, and a Python bool goes in as 0 or 1, since the
schema's flags are integer columns on both engines.

Why psycopg 3 and not asyncpg: every ledger operation is a plain synchronous
function of one transaction (lurkcoin.store.writes), run by the writer on its
thread; psycopg's synchronous connection runs exactly those functions
unchanged, and its asynchronous one serves the readers, from one library.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import psycopg
import psycopg.abc
from psycopg import adapt, postgres

_INDEXED_BY = re.compile(r"\s+INDEXED BY \w+", re.IGNORECASE)
_IS_NOT_VALUE = re.compile(r"\bIS NOT (?!NULL\b)", re.IGNORECASE)
_IS_VALUE = re.compile(r"\bIS (?!NOT\b|NULL\b|DISTINCT\b)", re.IGNORECASE)
_NOCASE = re.compile(r"([\w.]+) COLLATE NOCASE", re.IGNORECASE)
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")

_translated: dict[tuple[str, bool], str] = {}

# SQLSTATEs after which the whole transaction is tried again: a deadlock
# between two processes' row locks, a serialization failure, and a unique
# key inserted concurrently by another process (the retry sees its row).
UNREACHABLE = "the database cannot be reached"
RETRYABLE_STATES = frozenset({"40P01", "40001", "23505"})


def to_postgres(sql: str, named: bool = False) -> str:
    """The statement ``sql`` (SQLite placeholders) as psycopg takes it."""
    key = (sql, named)
    found = _translated.get(key)
    if found is not None:
        return found
    out = _INDEXED_BY.sub("", sql)
    out = _NOCASE.sub(r"lower(\1)", out)
    out = _IS_NOT_VALUE.sub("IS DISTINCT FROM ", out)
    out = _IS_VALUE.sub("IS NOT DISTINCT FROM ", out)
    out = out.replace("%", "%%")
    out = _NAMED.sub(r"%(\1)s", out) if named else out.replace("?", "%s")
    if len(_translated) < 10_000:  # statements are a fixed set; never grow without bound
        _translated[key] = out
    return out


class _NumericAsNumber(adapt.Loader):
    """``numeric`` (what SUM over bigint gives) as an int when whole, else a float."""

    def load(self, data: Any) -> int | float:
        value = Decimal(bytes(data).decode())
        return int(value) if value == value.to_integral_value() else float(value)


class _BoolAsInteger(adapt.Dumper):
    """A Python bool as 0/1: the schema's flags (revertable, imported) are integers."""

    oid = postgres.types["int8"].oid

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


def configure_types(context: psycopg.abc.AdaptContext) -> None:
    context.adapters.register_loader("numeric", _NumericAsNumber)
    context.adapters.register_dumper(bool, _BoolAsInteger)


Params = Sequence[Any] | Mapping[str, Any]


def query(sql: str, params: Params) -> str:
    return to_postgres(sql, named=isinstance(params, Mapping))


def _storable(value: Any) -> Any:
    return value.replace("\x00", "\x01") if isinstance(value, str) and "\x00" in value else value


def bind(params: Params) -> Params:
    """The parameters with NUL made unmatchable (see the module's docstring)."""
    if isinstance(params, Mapping):
        return {k: _storable(v) for k, v in params.items()}
    return [_storable(v) for v in params]


class PgConnection:
    """A synchronous psycopg connection that reads like the sqlite3 one the store uses.

    Autocommit, so BEGIN, SAVEPOINT and COMMIT are the store's own statements,
    exactly as with SQLite's ``isolation_level=None``.
    """

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.raw = conn

    @classmethod
    def connect(cls, url: str, *, application_name: str = "lurkcoin") -> "PgConnection":
        conn = psycopg.connect(url, autocommit=True, application_name=application_name)
        configure_types(conn)
        return cls(conn)

    def execute(self, sql: str, params: Params = ()) -> psycopg.Cursor[Any]:
        return self.raw.execute(query(sql, params), bind(params))

    def executemany(self, sql: str, rows: Sequence[Params]) -> psycopg.Cursor[Any]:
        cur = self.raw.cursor()
        first = rows[0] if rows else ()
        cur.executemany(query(sql, first), [bind(r) for r in rows])
        return cur

    def executescript(self, script: str) -> None:
        """A migration: several statements, no parameters (the simple query protocol)."""
        self.raw.execute(script.encode(), prepare=False)

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    @property
    def closed(self) -> bool:
        return self.raw.closed or self.raw.broken

    def close(self) -> None:
        self.raw.close()


def sqlstate(exc: BaseException) -> str | None:
    return getattr(exc, "sqlstate", None) if isinstance(exc, psycopg.Error) else None


def unreachable(exc: BaseException) -> bool:
    """The database went away (restart, network): not a bug, and not this operation's fault."""
    if not isinstance(exc, psycopg.Error):
        return False
    state = sqlstate(exc) or ""
    # 08: connection exceptions; 57P01-57P03: admin shutdown, crash shutdown, cannot connect now.
    return isinstance(exc, psycopg.OperationalError) and (
        state == "" or state.startswith("08") or state.startswith("57P")
    )
