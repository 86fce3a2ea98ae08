"""``lurkcoin migrate-database``: move a whole ledger to another database and prove the copy.

Both databases are first brought to this program's schema (opening a Ledger
on each migrates it), then the store copies every row in one target
transaction from one snapshot of the source (lurkcoin.store.copy). Success is
reported only after verification: the same row count and money totals in
every table, the same balance for every server, and the invariant check
clean on the target.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from lurkcoin.config import Config, DatabaseSection
from lurkcoin.ledger.engine import Ledger
from lurkcoin.store import copy as store_copy
from lurkcoin.store.copy import CopyError, Side, TableFacts

__all__ = ["CopyError", "MigrationReport", "database_section", "migrate_database"]


def database_section(where: str) -> DatabaseSection:
    """A SQLite path or a postgresql:// URL, as a [database] section."""
    if where.startswith(("postgresql://", "postgres://")):
        return DatabaseSection(path="", url=where)
    return DatabaseSection(path=where, url="")


@dataclass
class MigrationReport:
    copied: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    circulating: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _open_side(database: DatabaseSection) -> Side:
    if database.url:
        return store_copy.open_postgres(database.url)
    return store_copy.open_sqlite(database.path)


def _copy(
    source_db: DatabaseSection, target_db: DatabaseSection, progress: Callable[[str, int], None]
) -> tuple[dict[str, int], dict[str, TableFacts], dict[str, int]]:
    """The copy itself, synchronous (run on a thread): returns the source's facts with it."""
    source, target = _open_side(source_db), _open_side(target_db)
    try:
        if source.version() != target.version():
            raise CopyError(
                f"schema versions differ (source {source.version()}, target {target.version()})"
            )
        busy = store_copy.empty_besides_seeds(target)
        if busy:
            raise CopyError(
                "the target is not empty (it holds rows in " + ", ".join(busy) + "); "
                "copy into a new database"
            )
        source.begin_snapshot()
        target.begin_write()
        try:
            copied = store_copy.copy_rows(source, target, progress)
            expected = store_copy.facts(source)
            balances = store_copy.balances(source)
            target.conn.execute("COMMIT")
        except BaseException:
            target.conn.execute("ROLLBACK")
            raise
        finally:
            source.conn.execute("ROLLBACK")
        return copied, expected, balances
    finally:
        source.conn.close()  # type: ignore[attr-defined]
        target.conn.close()  # type: ignore[attr-defined]


def _verify(
    target_db: DatabaseSection, expected: dict[str, TableFacts], balances: dict[str, int]
) -> list[str]:
    target = _open_side(target_db)
    try:
        found = store_copy.facts(target)
        found_balances = store_copy.balances(target)
    finally:
        target.conn.close()  # type: ignore[attr-defined]
    problems = []
    for table in sorted(set(expected) | set(found)):
        if expected.get(table) != found.get(table):
            problems.append(f"{table}: source {expected.get(table)}, target {found.get(table)}")
    for uid in sorted(set(balances) | set(found_balances)):
        if balances.get(uid) != found_balances.get(uid):
            problems.append(
                f"balance of {uid}: source {balances.get(uid)}, target {found_balances.get(uid)}"
            )
    return problems


async def migrate_database(
    config: Config,
    source_db: DatabaseSection,
    target_db: DatabaseSection,
    progress: Callable[[str, int], None] = lambda table, rows: None,
) -> MigrationReport:
    """Copy the ledger at ``source_db`` into the empty ``target_db`` and verify it."""
    for database in (source_db, target_db):  # both at this program's schema
        ledger = await Ledger.open(dataclasses.replace(config, database=database))
        await ledger.close()
    copied, expected, balances = await asyncio.to_thread(_copy, source_db, target_db, progress)
    report = MigrationReport(copied)
    report.problems = await asyncio.to_thread(_verify, target_db, expected, balances)
    target = await Ledger.open(dataclasses.replace(config, database=target_db))
    try:
        check = await target.check()
    finally:
        await target.close()
    report.problems += [f"check on the target: {p}" for p in check.problems]
    report.circulating = check.circulating
    return report
