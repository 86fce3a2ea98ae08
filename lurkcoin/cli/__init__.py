"""The ``lurkcoin`` command: run the server and administer the ledger.

Bad input never ends in a traceback: it is one ``lurkcoin: error: ...`` line
on stderr and exit status 2. Every exit status is one of
lurkcoin.cli.exit_codes (1 when ``check`` finds a broken invariant).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import traceback
from typing import NoReturn

from lurkcoin import __version__
from lurkcoin.bench import add_bench_parser, run_bench
from lurkcoin.cli import backups, commands, security
from lurkcoin.cli.account_requests import add_account_request_commands
from lurkcoin.cli.audit import add_audit_commands
from lurkcoin.cli.commands import (
    CliError,
    amount_arg,
    balance_arg,
    describe,
    fee_arg,
    target_balance_arg,
)
from lurkcoin.cli.exit_codes import ExitCode, epilog
from lurkcoin.cli.migrate import add_migrate_parser
from lurkcoin.config import Config, ConfigError, config_file, load_config
from lurkcoin.core.errors import LurkcoinError
from lurkcoin.ledger import SchemaTooNew
from lurkcoin.logs import hold_records

PROG = "lurkcoin"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line instead of argparse's usage dump, pointing at the right --help."""
        self.exit(2, f"{PROG}: error: {message} (see '{self.prog} --help')\n")


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return int(text)


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(
            f"expected a number of processes from 1 to 64, got {text!r}"
        )
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="A lurkcoinV3 payment server and its admin tools.",
        epilog=epilog().replace("`", ""),
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    config_help = "TOML config file (default: $LURKCOIN_CONFIG, else ./lurkcoin.toml if present)"
    parser.add_argument("--config", metavar="PATH", help=config_help)
    # Also accepted after the command; SUPPRESS keeps a value given before it.
    config_after = _Parser(add_help=False)
    config_after.add_argument(
        "--config", metavar="PATH", help=config_help, default=argparse.SUPPRESS
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(
        name: str, ledger_command: commands.Command, help: str, creates_database: bool = False
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, parents=[config_after])
        p.set_defaults(
            run=commands.run, ledger_command=ledger_command, creates_database=creates_database
        )
        return p

    serve_help = "run the HTTP server (creates the database on first start)"
    p: argparse.ArgumentParser = sub.add_parser(
        "serve", help=serve_help, description=serve_help, parents=[config_after]
    )
    p.set_defaults(run=_serve)
    p.add_argument("--host", help="address to listen on (overrides [server] host)")
    p.add_argument("--port", type=_port, help="port to listen on (overrides [server] port)")
    p.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help="server processes sharing the port (above 1 needs a PostgreSQL ledger)",
    )

    p = command(
        "create-server",
        commands.create_server,
        "create a server account and print its API token",
        creates_database=True,
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument(
        "--balance",
        type=balance_arg,
        default=0,
        metavar="AMOUNT",
        help="opening balance in lurkcoins (default 0)",
    )
    p.add_argument(
        "--target-balance",
        type=target_balance_arg,
        default=0,
        metavar="AMOUNT",
        help="target balance for the exchange rate (default 0: a fixed 1:1 rate)",
    )
    p.add_argument("--webhook", metavar="URL", help="URL told about incoming payments")

    json_help = "print the result as JSON (see the README for its shape)"
    p = command("list-servers", commands.list_servers, "list the server accounts")
    p.add_argument("--json", action="store_true", help=json_help)

    p = command(
        "adjust",
        commands.adjust,
        "add to (or, with a negative AMOUNT, take from) a server's balance",
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("amount", type=amount_arg, metavar="AMOUNT")
    p.add_argument(
        "--reason",
        required=True,
        metavar="TEXT",
        help="why, kept in the ledger with the adjustment",
    )

    p = command(
        "set-target-balance",
        commands.set_target_balance,
        "set the target balance that drives a server's exchange rate",
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("amount", type=target_balance_arg, metavar="AMOUNT")

    p = command(
        "set-fee",
        commands.set_fee,
        "set the exchange fee a server's payments from other servers pay (basis points)",
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("bps", type=fee_arg, metavar="BPS", help="0 to 10000; 100 = 1%%, 0 = no fee")

    p = command(
        "regenerate-token",
        security.regenerate_token,
        "replace a server's API token and print the new one",
    )
    p.add_argument("name", metavar="NAME")
    security.add_regenerate_token_options(p)

    p = command("set-webhook", commands.set_webhook, "set or clear a server's webhook URL")
    p.add_argument("name", metavar="NAME")
    p.add_argument("url", metavar="URL", nargs="?")
    p.add_argument("--clear", action="store_true", help="remove the webhook")
    signing = p.add_mutually_exclusive_group()
    signing.add_argument(
        "--sign", action="store_true", help="sign deliveries with a new secret (printed once)"
    )
    signing.add_argument("--unsigned", action="store_true", help="stop signing deliveries")

    p = command(
        "webhooks", commands.list_webhooks, "show the webhook delivery state of every server"
    )
    p.add_argument("--json", action="store_true", help=json_help)

    p = command(
        "delete-server",
        commands.delete_server,
        "delete a server account (refused while it holds money or pending payments)",
    )
    p.add_argument("name", metavar="NAME")

    p = command(
        "import",
        backups.import_,
        "import a lurkcoin-core backup (JSON; '-' reads stdin)",
        creates_database=True,
    )
    p.add_argument("file", metavar="FILE")

    p = command(
        "export",
        backups.export,
        "export every server as a lurkcoin-core backup (JSON; '-' writes stdout)",
    )
    p.add_argument("file", metavar="FILE")

    p = command(
        "backup", backups.backup, "copy the live database to DEST (safe while the server runs)"
    )
    p.add_argument("dest", metavar="DEST")

    p = command(
        "check", backups.check, "check the ledger's invariants; exit status 1 if one is broken"
    )
    p.add_argument("--json", action="store_true", help=json_help)

    p = command(
        "expire-pending",
        commands.expire_pending,
        "reject and refund the payments pending longer than [ledger] pending_expiry",
    )
    p.add_argument("--dry-run", action="store_true", help="only list what would expire now")

    security.add_security_commands(sub, parents=[config_after])
    add_audit_commands(sub, parents=[config_after], json_help=json_help)
    add_account_request_commands(sub, parents=[config_after])
    add_migrate_parser(sub, parents=[config_after])
    add_bench_parser(sub).set_defaults(run=_bench)
    return parser


def _serve(config: Config, args: argparse.Namespace) -> int:
    # Imported on use: aiohttp.web and the API would slow down every other command.
    from lurkcoin.cli.serve import serve

    return serve(config, args)


def _bench(config: Config, args: argparse.Namespace) -> int:
    return run_bench(args)  # it starts or reaches its own server


def _fail(message: str, status: int = ExitCode.CANNOT_RUN) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return status


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version or a usage error, already printed
        return exc.code if isinstance(exc.code, int) else ExitCode.CANNOT_RUN
    try:
        # Warnings wait for `serve` to set up logging as [logging] says.
        with hold_records("lurkcoin.config") as warnings:
            config = load_config(config_file(args.config, os.environ))
    except ConfigError as exc:
        return _fail(str(exc))
    args.config_warnings = warnings
    if args.run is not _serve:
        for record in warnings:
            print(f"{PROG}: warning: {record.getMessage()}", file=sys.stderr)
    try:
        status: int = args.run(config, args)
        return status
    except CliError as exc:
        return _fail(str(exc), exc.status)
    except LurkcoinError as err:
        return _fail(describe(err))
    except (SchemaTooNew, sqlite3.Error) as exc:
        return _fail(f"database {config.database.path}: {exc}")
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # Whoever read our output went away (lurkcoin export - | head): nothing to
        # report; point stdout at /dev/null so the interpreter's final flush is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.OUTPUT_CLOSED
    except OSError as exc:  # a file or the disk failed under a command
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(f"{where}{exc.strerror or exc}")
    except Exception:
        # A bug: the traceback is what a report of it needs, and the status
        # must not look like "the check found a problem" (1).
        traceback.print_exc()
        return ExitCode.INTERNAL_ERROR
