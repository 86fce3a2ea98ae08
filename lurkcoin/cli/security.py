"""Security commands: admin password hashes, read-only API keys, token regeneration.

``add_security_commands(sub, parents=[config_after])`` adds ``hash-password``
and ``api-key create|list|revoke``; ``add_regenerate_token_options`` and
``regenerate_token`` give ``regenerate-token`` its ``--revoke-old`` flag.
Keys created here reach a running server within a second (it reloads what
another process changed), and so does a revocation.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TextIO

from lurkcoin.cli.commands import CliError, Command, SubParsers, describe, named_server, run
from lurkcoin.config import Config
from lurkcoin.core.errors import LurkcoinError
from lurkcoin.ledger.credentials import SCOPES
from lurkcoin.ledger.engine import Ledger
from lurkcoin.models import ApiKey

MIN_PASSWORD_LENGTH = 8


# -- hash-password -------------------------------------------------------------------


def read_password(stdin: TextIO) -> str:
    """Twice without echo from a terminal; else one line from stdin (for scripts)."""
    if stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != password:
            raise CliError("the two passwords differ; nothing was hashed")
    else:
        password = stdin.readline().removesuffix("\n").removesuffix("\r")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise CliError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    return password


def hash_password(config: Config, args: argparse.Namespace) -> int:
    # Imported on use: argon2 is needed by this command only.
    from lurkcoin.api.admin_passwords import hash_password as argon2id_hash

    print(argon2id_hash(read_password(sys.stdin)))
    return 0


# -- api-key -------------------------------------------------------------------------


def _when(at: int) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _scopes(key: ApiKey) -> str:
    return ",".join(sorted(key.scopes))


async def create_api_key(ledger: Ledger, args: argparse.Namespace) -> int:
    server = named_server(ledger, args.name)
    try:
        info, key = await ledger.create_api_key(server, args.scope, args.label, operator=True)
    except LurkcoinError as err:
        raise CliError(f"cannot create an API key for {server.name!r}: {describe(err)}") from None
    label = f", label {info.label!r}" if info.label else ""
    print(
        f"Created API key {info.id} ({info.prefix}...) of {server.name!r} with scopes "
        f"{_scopes(info)}{label}. It can read, never pay or change anything."
    )
    print("It is shown only once; store it now:")
    print(key)
    return 0


async def list_api_keys(ledger: Ledger, args: argparse.Namespace) -> int:
    server = named_server(ledger, args.name)
    keys = ledger.api_keys(server)
    if not keys:
        print(
            f"{server.name!r} has no API keys; create one with: lurkcoin api-key create "
            f"NAME --scope balance"
        )
        return 0
    rows = [("ID", "PREFIX", "SCOPES", "CREATED", "LABEL")]
    rows += [
        (str(k.id), k.prefix + "...", _scopes(k), _when(k.created_at), k.label or "-") for k in keys
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


async def revoke_api_key(ledger: Ledger, args: argparse.Namespace) -> int:
    server = named_server(ledger, args.name)
    try:
        await ledger.revoke_api_key(server, args.id)
    except LurkcoinError:
        raise CliError(
            f"{server.name!r} has no API key {args.id} (see lurkcoin api-key list {args.name})"
        ) from None
    print(f"Revoked API key {args.id} of {server.name!r}; it no longer works.")
    return 0


def _key_id(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 2**63:
        raise argparse.ArgumentTypeError(f"{text!r} is not a key id (see api-key list)")
    return int(text)


# -- regenerate-token --revoke-old ------------------------------------------------------


def add_regenerate_token_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--revoke-old",
        action="store_true",
        help="the old token stops working at once (default: it keeps working "
        "until the new one is first used)",
    )


async def regenerate_token(ledger: Ledger, args: argparse.Namespace) -> int:
    server = named_server(ledger, args.name)
    revoke_old = getattr(args, "revoke_old", False)
    token = await ledger.regenerate_token(server, keep_old=not revoke_old)
    if revoke_old:
        print(f"New API token of {server.name!r}; the old one no longer works.")
    else:
        print(
            f"New API token of {server.name!r}; the old one keeps working until this one "
            "is first used."
        )
    print("It is shown only once; store it now:")
    print(token)
    return 0


# -- wiring ---------------------------------------------------------------------------


def add_security_commands(
    subparsers: SubParsers, parents: Sequence[argparse.ArgumentParser] = ()
) -> None:
    """Add ``hash-password`` and ``api-key`` to the CLI's subcommands.

    ``parents``: parsers whose options every command also takes after its
    name (the CLI's ``--config``).
    """

    def ledger_command(
        subs: SubParsers, name: str, command: Command, help: str
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = subs.add_parser(
            name, help=help, description=help, parents=list(parents)
        )
        p.set_defaults(run=run, ledger_command=command, creates_database=False)
        return p

    help_text = (
        "print the argon2id hash of an admin password for [admin] accounts "
        "(asks twice on a terminal, else reads one line from stdin)"
    )
    p = subparsers.add_parser(
        "hash-password", help=help_text, description=help_text, parents=list(parents)
    )
    p.set_defaults(run=hash_password)

    help_text = "create, list or revoke a server's read-only API keys"
    p = subparsers.add_parser(
        "api-key", help=help_text, description=help_text, parents=list(parents)
    )
    actions = p.add_subparsers(dest="api_key_action", metavar="ACTION", required=True)

    p = ledger_command(
        actions, "create", create_api_key, "create a read-only API key and print it (shown once)"
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument(
        "--scope",
        action="append",
        required=True,
        choices=sorted(SCOPES),
        help="what the key may read; repeat for several (explorer: every transaction "
        "in the public explorer, when [explorer] public_transactions is false)",
    )
    p.add_argument("--label", default="", metavar="TEXT", help="a note saying who holds it")

    p = ledger_command(actions, "list", list_api_keys, "list a server's API keys")
    p.add_argument("name", metavar="NAME")

    p = ledger_command(
        actions,
        "revoke",
        revoke_api_key,
        "revoke an API key (a running server drops it within a second)",
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("id", type=_key_id, metavar="ID")
