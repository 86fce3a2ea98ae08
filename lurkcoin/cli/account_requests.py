"""``lurkcoin account-requests list|approve|refuse``: the onboarding queue from a shell.

The same operations as the console's Requests page, audited as the operator
running the command.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime

from lurkcoin.cli.commands import (
    CliError,
    Command,
    SubParsers,
    describe,
    print_table,
    run,
)
from lurkcoin.core.errors import LurkcoinError
from lurkcoin.ledger.engine import Ledger

SHOWN = 500


def _when(at: int | None) -> str:
    return "-" if at is None else datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _one_line(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


async def list_requests(ledger: Ledger, args: argparse.Namespace) -> int:
    statuses = ["pending", "approved", "claimed", "refused"] if args.all else ["pending"]
    found = await ledger.account_requests(statuses, SHOWN, oldest_first=not args.all)
    if not found:
        print("No account request is waiting." if not args.all else "No account requests.")
        return 0
    rows = [("ID", "NAME", "STATUS", "CONTACT", "WEBHOOK", "FROM", "ASKED", "MESSAGE")]
    rows += [
        (
            str(r.id),
            r.name,
            r.status,
            _one_line(r.contact, 40),
            r.webhook_url or "-",
            r.address,
            _when(r.created_at),
            _one_line(r.message or r.reason) or "-",
        )
        for r in found
    ]
    print_table(rows, right_aligned={0})
    return 0


async def approve(ledger: Ledger, args: argparse.Namespace) -> int:
    try:
        server = await ledger.approve_account_request(args.id, note=args.note or "")
    except LurkcoinError as err:
        raise CliError(f"cannot approve request #{args.id}: {describe(err)}") from None
    expiry = ledger.config.onboarding.claim_expiry
    print(
        f"Approved request #{args.id}: created server {server.name!r} (uid {server.uid}). "
        f"The requester may claim its token once, within {expiry}."
    )
    return 0


async def refuse(ledger: Ledger, args: argparse.Namespace) -> int:
    try:
        await ledger.refuse_account_request(args.id, args.reason)
    except LurkcoinError as err:
        raise CliError(f"cannot refuse request #{args.id}: {describe(err)}") from None
    print(f"Refused request #{args.id}.")
    return 0


def _request_id(text: str) -> int:
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) < 2**63:
        raise argparse.ArgumentTypeError(f"{text!r} is not a request id")
    return int(text)


def add_account_request_commands(
    subparsers: SubParsers, parents: Sequence[argparse.ArgumentParser] = ()
) -> None:
    help_text = "the self-service onboarding queue: list, approve or refuse account requests"
    p = subparsers.add_parser(
        "account-requests", help=help_text, description=help_text, parents=list(parents)
    )
    actions = p.add_subparsers(dest="requests_action", metavar="ACTION", required=True)

    def action(name: str, command: Command, help_text: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = actions.add_parser(
            name, help=help_text, description=help_text, parents=list(parents)
        )
        sub.set_defaults(run=run, ledger_command=command, creates_database=False)
        return sub

    sub = action("list", list_requests, "list the waiting requests, oldest first")
    sub.add_argument("--all", action="store_true", help="also decided ones, newest first")
    sub = action(
        "approve", approve, "create the requested server; its requester then claims the token"
    )
    sub.add_argument("id", type=_request_id, metavar="ID")
    sub.add_argument("--note", metavar="TEXT", help="kept in the audit log")
    sub = action("refuse", refuse, "refuse a request; its requester is shown the reason")
    sub.add_argument("id", type=_request_id, metavar="ID")
    sub.add_argument("--reason", required=True, metavar="TEXT", help="shown to the requester")
