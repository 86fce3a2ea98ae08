"""The operator's commands that work on the ledger's accounts (backups and the check: backups.py).

Each command is ``async def command(ledger, args) -> int`` run on a freshly
opened Ledger (see ``run``); problems are raised as CliError and become one
line on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
from collections.abc import Awaitable, Callable, Collection, Sequence
from pathlib import Path
from typing import Any, TypeAlias

from lurkcoin.cli.exit_codes import ExitCode
from lurkcoin.config import Config
from lurkcoin.core.errors import ERRORS, LurkcoinError
from lurkcoin.core.fees import MAX_FEE_BPS, describe_fee
from lurkcoin.core.money import (
    MAX_TARGET_BALANCE,
    AmountError,
    format_balance,
    parse_amount,
    render_json,
)
from lurkcoin.ledger.accounts import MAX_OPERATOR_AMOUNT
from lurkcoin.ledger.engine import Ledger
from lurkcoin.models import Server
from lurkcoin.webhooks.status import delivery_state_json, render_delivery_states

Command = Callable[[Ledger, argparse.Namespace], Awaitable[int]]
# The CLI's subcommand registry. A string: argparse._SubParsersAction is generic
# only to the type checker (Any: the CLI's own parser class).
SubParsers: TypeAlias = "argparse._SubParsersAction[Any]"

STDIO = "-"
FIRST_SERVER_HINT = "create-server NAME --balance 1000"


class CliError(Exception):
    """Bad input or a refused operation: one line for the operator, then ``status``."""

    def __init__(self, message: str, status: int = ExitCode.CANNOT_RUN) -> None:
        super().__init__(message)
        self.status = status


# Wording for the operator where the API's message speaks to a game server.
_OPERATOR_MESSAGES = {
    "ERR_SERVEREXISTS": "a server with that name already exists",
    "ERR_CANNOTAFFORD": f"a balance cannot go below {format_balance(0)}",
    "ERR_CANNOTPAYNOTHING": "the amount must not be zero",
    "ERR_INVALIDWEBHOOKURL": "invalid webhook URL: expected http(s)://host[:port][/path]",
}


def describe(err: LurkcoinError) -> str:
    """A ledger error as the operator should read it."""
    if err.message == ERRORS.get(err.code, (0, ""))[1]:  # not a more specific message
        return _OPERATOR_MESSAGES.get(err.code, err.message)
    return err.message


def amount_arg(text: str) -> int:
    """argparse type: an amount of lurkcoins as exact cents (negative allowed)."""
    try:
        cents = parse_amount(text)
    except AmountError as exc:
        why = "too large" if exc.kind == "too_large" else "not a decimal number"
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount: {why}") from None
    # The ledger refuses these too; checked here so that the usage error names the argument.
    if abs(cents) > MAX_OPERATOR_AMOUNT:
        raise argparse.ArgumentTypeError(
            f"{text!r} is more than {format_balance(MAX_OPERATOR_AMOUNT)}"
        )
    return cents


def balance_arg(text: str) -> int:
    """argparse type: an opening balance (not negative)."""
    cents = amount_arg(text)
    if cents < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a balance cannot be negative")
    return cents


def target_balance_arg(text: str) -> int:
    """argparse type: a target balance, within the range the ledger accepts."""
    cents = amount_arg(text)
    if not 0 <= cents <= MAX_TARGET_BALANCE:
        raise argparse.ArgumentTypeError(
            f"{text!r}: a target balance must be between {format_balance(0)} and "
            f"{format_balance(MAX_TARGET_BALANCE)}"
        )
    return cents


def _signed(cents: int) -> str:
    return ("+" if cents > 0 else "") + format_balance(cents)


def named_server(ledger: Ledger, name: str) -> Server:
    """The server of that name, or a CliError that says there is none."""
    server = ledger.server(name)
    if server is None:
        raise CliError(f"no server named {name!r} (see lurkcoin list-servers)")
    return server


def print_table(rows: Sequence[tuple[str, ...]], right_aligned: Collection[int] = ()) -> None:
    """Columns two spaces apart; the first row is the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(
                cell.rjust(width) if i in right_aligned else cell.ljust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )


def run(config: Config, args: argparse.Namespace) -> int:
    """Open the ledger on the configured database, run ``args.ledger_command``, close it."""
    if (
        not args.creates_database
        and not config.database.url
        and not Path(config.database.path).exists()
    ):
        raise CliError(
            f"no database at {Path(config.database.path).resolve()}: "
            "'lurkcoin serve' or 'lurkcoin create-server' creates it"
        )

    async def go() -> int:
        ledger = await Ledger.open(config)
        try:
            status: int = await args.ledger_command(ledger, args)
            return status
        finally:
            await ledger.close()

    return asyncio.run(go())


# -- accounts -----------------------------------------------------------------


async def create_server(ledger: Ledger, args: argparse.Namespace) -> int:
    try:
        server, token = await ledger.create_server(
            args.name,
            balance=args.balance,
            target_balance=args.target_balance,
            webhook_url=args.webhook,
        )
    except LurkcoinError as err:
        raise CliError(f"cannot create server {args.name!r}: {describe(err)}") from None
    print(
        f"Created server {server.name!r} (uid {server.uid}) with balance "
        f"{format_balance(server.balance)}, target balance "
        f"{format_balance(server.target_balance)}"
        + (f", webhook {server.webhook_url}." if server.webhook_url else ".")
    )
    print("Its API token is shown only once; store it now:")
    print(token)
    return 0


def print_json(document: object) -> None:
    """A ``--json`` result on stdout (its shape is documented in the README)."""
    print(json.dumps(document, indent=2, ensure_ascii=False))


def _server_json(s: Server) -> dict[str, object]:
    return {
        "name": s.name,
        "uid": s.uid,
        "balance_cents": s.balance,
        "target_balance_cents": s.target_balance,
        "webhook_url": s.webhook_url,
        "created_at": s.created_at,
    }


async def list_servers(ledger: Ledger, args: argparse.Namespace) -> int:
    servers = ledger.servers()
    if args.json:
        print_json(
            {
                "servers": [_server_json(s) for s in servers],
                "circulating_cents": sum(s.balance for s in servers),
            }
        )
        return 0
    if not servers:
        print(f"No servers yet; create one with: lurkcoin {FIRST_SERVER_HINT}")
        return 0
    rows = [("NAME", "UID", "BALANCE", "TARGET BALANCE", "WEBHOOK")]
    rows += [
        (
            s.name,
            s.uid,
            format_balance(s.balance),
            format_balance(s.target_balance),
            s.webhook_url or "-",
        )
        for s in servers
    ]
    print_table(rows, right_aligned={2, 3})
    total = sum(s.balance for s in servers)
    print(
        f"{len(servers)} server{'s' if len(servers) != 1 else ''}, "
        f"{format_balance(total)} in circulation"
    )
    return 0


async def adjust(ledger: Ledger, args: argparse.Namespace) -> int:
    server = named_server(ledger, args.name)
    try:
        after = await ledger.adjust_balance(server.name, args.amount, args.reason)
    except LurkcoinError as err:
        raise CliError(
            f"cannot adjust {server.name!r} by {_signed(args.amount)}: "
            f"{describe(err)} (balance {format_balance(server.balance)})"
        ) from None
    print(
        f"Adjusted {after.name!r} by {_signed(args.amount)}: balance "
        f"{format_balance(server.balance)} -> {format_balance(after.balance)}."
    )
    return 0


async def set_target_balance(ledger: Ledger, args: argparse.Namespace) -> int:
    server = named_server(ledger, args.name)
    await ledger.set_target_balance(server, args.amount)
    print(
        f"Target balance of {server.name!r} is now {format_balance(args.amount)} "
        f"(was {format_balance(server.target_balance)})."
    )
    return 0


def fee_arg(text: str) -> int:
    """argparse type: an exchange fee in whole basis points (0 to 10,000)."""
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_FEE_BPS:
        raise argparse.ArgumentTypeError(
            f"{text!r}: an exchange fee is a whole number of basis points from 0 to "
            f"{MAX_FEE_BPS} (100 = 1%)"
        )
    return int(text)


async def set_fee(ledger: Ledger, args: argparse.Namespace) -> int:
    server = named_server(ledger, args.name)
    await ledger.set_fee(server, args.bps)
    print(
        f"Exchange fee of {server.name!r} is now {describe_fee(args.bps)} "
        f"(was {describe_fee(server.fee_bps)})."
    )
    return 0


async def set_webhook(ledger: Ledger, args: argparse.Namespace) -> int:
    if (args.url is None) == (not args.clear):
        raise CliError("give either a webhook URL or --clear")
    if args.clear and (args.sign or args.unsigned):
        raise CliError("--sign and --unsigned go with a URL, not --clear")
    server = named_server(ledger, args.name)
    # None keeps the server's current signing state.
    sign = True if args.sign else False if args.unsigned else None
    try:
        stored, secret = await ledger.set_webhook(server, args.url, sign=sign)
    except LurkcoinError as err:
        raise CliError(f"{describe(err)}; got {args.url!r}") from None
    if stored is None:
        print(f"Webhook of {server.name!r} cleared.")
        return 0
    print(f"Webhook of {server.name!r} is now {stored}")
    if secret is not None:
        print("Deliveries are signed (Standard Webhooks). The signing secret, shown only once:")
        print(secret)
    elif args.unsigned:
        print("Deliveries are unsigned.")
    return 0


async def list_webhooks(ledger: Ledger, args: argparse.Namespace) -> int:
    states = await ledger.outbox.delivery_states()
    if args.json:
        print_json({"webhooks": [delivery_state_json(s) for s in states]})
        return 0
    print(render_delivery_states(states) if states else "No webhooks configured.")
    return 0


async def delete_server(ledger: Ledger, args: argparse.Namespace) -> int:
    server = named_server(ledger, args.name)
    try:
        await ledger.delete_server(server.name)
    except LurkcoinError as err:
        if err.code != "ERR_SERVERNOTEMPTY":
            raise
        if server.balance:
            why = (
                f"it holds {format_balance(server.balance)}; take it out first with "
                f"lurkcoin adjust {shlex.quote(server.name)} "
                f"{render_json(-server.balance)} --reason TEXT"
            )
        else:
            why = "payments are waiting for it to acknowledge or reject them"
        raise CliError(f"cannot delete {server.name!r}: {why}") from None
    print(f"Deleted server {server.name!r}.")
    return 0


# -- pending expiry ---------------------------------------------------------------


async def expire_pending(ledger: Ledger, args: argparse.Namespace) -> int:
    """Run pending expiry once now (the server also runs it by itself)."""
    if ledger.config.ledger.pending_expiry_seconds <= 0:
        raise CliError('pending expiry is off: set [ledger] pending_expiry (for example "30d")')
    found = await ledger.expire_pending(dry_run=args.dry_run)
    verb = "would expire" if args.dry_run else "expired"
    for t in found:
        print(
            f"{t.id}  {format_balance(t.amount)} from {t.source}@{t.source_server} "
            f"to {t.target}@{t.target_server}, made at {t.time}"
        )
    print(f"{len(found)} {verb}.")
    return 0
