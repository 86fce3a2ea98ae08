"""``lurkcoin migrate-database --from PATH_OR_URL --to PATH_OR_URL``: move a ledger.

A SQLite file is named by its path, PostgreSQL by a postgresql:// URL. The
target must be new (a SQLite file that does not exist yet, or an empty
PostgreSQL database); the copy is verified before success is reported
(lurkcoin.ledger.migration). Exit status: 0 copied and verified, 1 copied
but the verification found a difference (the report names it), 2 refused.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from lurkcoin.cli.commands import CliError, SubParsers
from lurkcoin.config import Config
from lurkcoin.core.database_url import redact
from lurkcoin.core.money import format_balance
from lurkcoin.ledger.migration import CopyError, database_section, migrate_database


def add_migrate_parser(subparsers: SubParsers, parents: Sequence[argparse.ArgumentParser]) -> None:
    help_text = "copy the whole ledger to a new database (SQLite path or postgresql:// URL)"
    p = subparsers.add_parser(
        "migrate-database", help=help_text, description=help_text, parents=list(parents)
    )
    p.set_defaults(run=run)
    p.add_argument("--from", dest="source", required=True, metavar="PATH_OR_URL")
    p.add_argument("--to", dest="target", required=True, metavar="PATH_OR_URL")


def run(config: Config, args: argparse.Namespace) -> int:
    source, target = database_section(args.source), database_section(args.target)
    if not source.url and not Path(source.path).is_file():
        raise CliError(f"no database at {Path(source.path).resolve()}")
    if not target.url and Path(target.path).exists():
        raise CliError(f"{Path(target.path).resolve()} exists: copy into a new file")
    if (source.url or str(Path(source.path).resolve())) == (
        target.url or str(Path(target.path).resolve())
    ):
        raise CliError("--from and --to name the same database")
    tty = sys.stderr.isatty()

    def progress(table: str, rows: int) -> None:
        if tty:
            print(f"\r{table}: {rows:,} rows\033[K", end="", file=sys.stderr, flush=True)

    try:
        report = asyncio.run(migrate_database(config, source, target, progress))
    except CopyError as exc:
        raise CliError(f"not copied: {exc}") from None
    finally:
        if tty:
            print("\r\033[K", end="", file=sys.stderr, flush=True)
    name = redact(target.url) or target.path
    for table, rows in report.copied.items():
        print(f"{table}: {rows} rows")
    if not report.ok:
        print(f"copied to {name}, but the verification found differences:")
        for problem in report.problems:
            print(f"  {problem}")
        return 1
    print(
        f"copied to {name} and verified: row counts, money totals and every balance match, "
        f"check clean ({format_balance(report.circulating)} in circulation)"
    )
    return 0
