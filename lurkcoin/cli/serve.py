"""``lurkcoin serve``: migrate the database, then run the HTTP server until SIGINT or SIGTERM.

The webhook dispatcher runs inside the same process, started after the
Ledger opens and stopped before it closes.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shlex
from pathlib import Path

from aiohttp import web

from lurkcoin.api.app import LEDGER_KEY, create_app
from lurkcoin.cli.commands import FIRST_SERVER_HINT, CliError
from lurkcoin.config import Config
from lurkcoin.ledger.engine import Ledger
from lurkcoin.store.health import DISK_FULL
from lurkcoin.webhooks import webhook_context


async def _prepare_database(config: Config) -> int:
    """Create or migrate the database before listening; returns how many servers it has.

    A database that cannot be written is refused here rather than served with
    every payment failing; a full disk is not (reads work, and writes resume
    by themselves when space returns).
    """
    ledger = await Ledger.open(config)
    try:
        problem = await ledger.writes_blocked()
        if problem is not None and problem != DISK_FULL:
            raise CliError(
                f"cannot write the database {Path(config.database.path).resolve()}: {problem}"
            )
        return len(ledger.servers())
    finally:
        await ledger.close()


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(config: Config, args: argparse.Namespace) -> int:
    """Run until a signal; web.run_app turns SIGINT and SIGTERM into a clean shutdown."""
    # Command-line flags win over the file and the environment.
    if args.host:
        config.server.host = args.host
    if args.port is not None:
        config.server.port = args.port
    host, port = config.server.host, config.server.port
    servers = asyncio.run(_prepare_database(config))
    line = (
        f"lurkcoin listening on {_url(host, port)}, database {Path(config.database.path).resolve()}"
    )
    if servers == 0:
        again = f"--config {shlex.quote(args.config)} " if args.config else ""
        line += (
            f"; no server account yet, create the first with: lurkcoin {again}{FIRST_SERVER_HINT}"
        )
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # One log line per request would cost more than the request itself.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    try:
        app = create_app(config, extra_contexts=[webhook_context(LEDGER_KEY)])
        web.run_app(
            app, host=host, port=port, print=lambda _aiohttp_banner: print(line, flush=True)
        )
    except OSError as exc:  # raised before serving: the address is taken or not ours
        raise CliError(f"cannot listen on {_url(host, port)}: {exc.strerror or exc}") from None
    return 0
