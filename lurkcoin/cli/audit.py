"""``lurkcoin audit verify|show``: the tamper-evident log of operator changes.

``verify`` walks the hash chain and exits with status 1 naming every entry
that does not fit (``--json``: as JSON, same status); ``show`` prints the
newest entries.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime

from lurkcoin.cli.commands import CliError, SubParsers, print_json, run
from lurkcoin.cli.exit_codes import ExitCode
from lurkcoin.ledger.engine import Ledger


async def verify(ledger: Ledger, args: argparse.Namespace) -> int:
    entries, breaks = await ledger.verify_audit()
    if args.json:
        print_json(
            {
                "ok": not breaks,
                "entries": entries,
                "breaks": [{"entry_id": b.entry_id, "why": b.why} for b in breaks],
            }
        )
    else:
        for b in breaks:
            print(f"  - entry #{b.entry_id}: {b.why}")
    if breaks:
        raise CliError(
            f"the audit log is broken at {len(breaks)} place{'s' if len(breaks) != 1 else ''} "
            f"(of {entries} entries; see {'breaks' if args.json else 'above'})",
            status=ExitCode.PROBLEMS_FOUND,
        )
    if not args.json:
        print(f"OK: {entries} audit entries, the hash chain is intact.")
    return 0


async def show(ledger: Ledger, args: argparse.Namespace) -> int:
    entries = await ledger.audit_entries(limit=args.limit, subject=args.server)
    if not entries:
        print("The audit log is empty.")
    for e in reversed(entries):
        when = datetime.fromtimestamp(e.at, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        reason = f" ({e.reason})" if e.reason else ""
        print(f"#{e.id} {when} {e.actor}@{e.address} {e.action} {e.subject}{reason}")
    return 0


def add_audit_commands(
    subparsers: SubParsers,
    parents: Sequence[argparse.ArgumentParser] = (),
    json_help: str = "print the result as JSON",
) -> None:
    help_text = "check or show the audit log of operator changes"
    p = subparsers.add_parser("audit", help=help_text, description=help_text, parents=list(parents))
    actions = p.add_subparsers(dest="audit_action", metavar="ACTION", required=True)
    help_text = "check the audit log's hash chain; exit status 1 naming each broken entry"
    p = actions.add_parser("verify", help=help_text, description=help_text, parents=list(parents))
    p.set_defaults(run=run, ledger_command=verify, creates_database=False)
    p.add_argument("--json", action="store_true", help=json_help)
    help_text = "print the newest audit entries, oldest of them first"
    p = actions.add_parser("show", help=help_text, description=help_text, parents=list(parents))
    p.set_defaults(run=run, ledger_command=show, creates_database=False)
    p.add_argument("--limit", type=int, default=50, metavar="N", help="how many (default 50)")
    p.add_argument("--server", metavar="NAME", help="only changes to this server")
