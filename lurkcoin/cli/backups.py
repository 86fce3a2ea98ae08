"""The CLI's long jobs: ``backup``, ``import``, ``export`` and the invariant ``check``.

Each shows its progress on standard error while that is a terminal
(lurkcoin.progress) and is silent otherwise. ``export`` streams: the backup
is written piece by piece as the Ledger reads it in keyset pages, so memory
stays flat however many transactions there are. ``check --json`` prints the
report as JSON (shape in the README); its exit status is the same either way.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from lurkcoin.cli.commands import STDIO, CliError, describe, print_json
from lurkcoin.cli.exit_codes import ExitCode
from lurkcoin.core.errors import LurkcoinError
from lurkcoin.core.money import format_balance
from lurkcoin.ledger.check import CHECK_STEPS, CheckReport
from lurkcoin.ledger.engine import Ledger
from lurkcoin.progress import Progress


async def _replace_atomically(dest: str, write: Callable[[str], Awaitable[None]]) -> None:
    """Write through a temporary file beside ``dest``, then rename it into place.

    A failed or interrupted run never leaves a half-written file under ``dest``,
    and the file is created readable by its owner only (it holds token hashes).
    """
    target = Path(dest)
    if target.is_dir():
        raise CliError(f"{dest} is a directory; give a file name")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        raise CliError(f"cannot write {dest}: {exc.strerror}") from None
    os.close(fd)
    try:
        await write(tmp)
        os.replace(tmp, target)
    except OSError as exc:  # a full disk, a file system gone read-only
        raise CliError(f"cannot write {dest}: {exc.strerror or exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


async def backup(ledger: Ledger, args: argparse.Namespace) -> int:
    with Progress() as progress:

        async def copy(tmp: str) -> None:
            progress.phase("copying the database", unit="pages")
            await ledger.backup_to(tmp, progress=progress.update)

        await _replace_atomically(args.dest, copy)
    print(
        f"Backed up {Path(ledger.config.database.path).resolve()} to {args.dest} "
        f"({len(ledger.servers())} servers)."
    )
    return 0


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """Ctrl-C during a blocking read ends the command (status 130).

    asyncio.run's own SIGINT handler only cancels the main task, which a
    read blocked in the kernel never notices: Python's handler raises at once.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _read_text(name: str, announce: Callable[[], None] = lambda: None) -> str:
    """The file's text (``-``: standard input); ``announce()`` once reading can start.

    For standard input, only after Ctrl-C is made to interrupt the read: a
    person (or a test) reacting to the announcement must not find it ignored.
    """
    try:
        if name == STDIO:
            with _interruptible():
                announce()
                return sys.stdin.read()
        announce()
        return Path(name).read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot read {name}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CliError(f"{name}: not a UTF-8 text file") from None


async def import_(ledger: Ledger, args: argparse.Namespace) -> int:
    with Progress() as progress:
        where = "standard input" if args.file == STDIO else args.file
        text = _read_text(args.file, lambda: progress.phase(f"reading {where}"))
        progress.phase("checking the backup")
        try:
            # The ledger parses the JSON itself, keeping every amount exact.
            report = await ledger.import_backup(
                text, progress=lambda done, total: _importing(progress, done, total)
            )
        except LurkcoinError as err:
            raise CliError(f"{args.file}: {describe(err)}; nothing was imported") from None
    print(
        f"Imported {report.servers_created} servers ({report.servers_skipped} already "
        f"present) and {report.transactions_created} transactions "
        f"({report.pending} pending) from {args.file}."
    )
    return 0


def _importing(progress: Progress, done: int, total: int) -> None:
    if done == 0:
        progress.phase("importing", total, "rows")
    else:
        progress.update(done, total)


async def export(ledger: Ledger, args: argparse.Namespace) -> int:
    with Progress() as progress:
        if progress.enabled:  # counting costs a scan of the history index: only for people
            progress.phase("exporting", await ledger.export_size(), "transactions")
        # aclosing: a failed write (a closed pipe, a full disk) ends the
        # snapshot's read transaction here, not in the event loop's shutdown.
        async with contextlib.aclosing(
            ledger.export_backup_parts(progress=progress.advance)
        ) as parts:
            if args.file == STDIO:
                async for part in parts:
                    sys.stdout.write(part)
                sys.stdout.flush()
                return 0

            async def write(tmp: str) -> None:
                with open(tmp, "w", encoding="utf-8") as out:
                    async for part in parts:
                        out.write(part)

            await _replace_atomically(args.file, write)
    print(f"Exported {len(ledger.servers())} servers to {args.file}.")
    return 0


def check_json(report: CheckReport) -> dict[str, object]:
    """`lurkcoin check --json` (money in integer cents)."""
    return {
        "ok": report.ok,
        "servers": report.servers,
        "circulating_cents": report.circulating,
        "fees_collected_cents": report.fees_collected,
        "failed_refunds": [
            {
                "id": t.id,
                "amount_cents": t.amount,
                "source": t.source,
                "source_server": t.source_server,
                "target": t.target,
                "target_server": t.target_server,
                "reason": t.refund_failed,
            }
            for t in report.failed_refunds
        ],
        "audit_entries": report.audit_entries,
        "problems": report.problems,
    }


async def check(ledger: Ledger, args: argparse.Namespace) -> int:
    with Progress() as progress:
        progress.phase("checking the ledger", CHECK_STEPS, "steps")
        report = await ledger.check(progress.advance)
    if args.json:
        print_json(check_json(report))
    else:
        _print_check(report)
    if not report.ok:
        count = len(report.problems)
        raise CliError(
            f"the ledger breaks {count} invariant{'s' if count != 1 else ''}"
            + (" (see problems)" if args.json else " (see above)"),
            status=ExitCode.PROBLEMS_FOUND,
        )
    if not args.json:
        print("OK: every invariant holds.")
    return 0


def _print_check(report: CheckReport) -> None:
    print(f"Servers: {report.servers}")
    print(f"Money in circulation: {format_balance(report.circulating)}")
    print(f"Exchange fees collected: {format_balance(report.fees_collected)}")
    print(f"Failed refunds: {len(report.failed_refunds) or 'none'}")
    for t in report.failed_refunds:
        print(
            f"  - {t.id}: {format_balance(t.amount)} from {t.source}@{t.source_server} "
            f"to {t.target}@{t.target_server}: {t.refund_failed}"
        )
    print(f"Audit log: {report.audit_entries} entries")
    print(f"Problems: {len(report.problems) or 'none'}")
    for problem in report.problems:
        print(f"  - {problem}")
