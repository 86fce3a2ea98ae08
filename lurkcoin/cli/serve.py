"""``lurkcoin serve``: migrate the database, then run the HTTP server until SIGINT or SIGTERM.

The webhook dispatcher runs inside the same process, started after the
Ledger opens and stopped before it closes.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shlex
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from lurkcoin.api.app import LEDGER_KEY, create_app
from lurkcoin.cli.commands import FIRST_SERVER_HINT, CliError
from lurkcoin.config import Config
from lurkcoin.ledger import DISK_FULL, Ledger
from lurkcoin.logs import configure_logging
from lurkcoin.webhooks import webhook_context

StartupHook = Callable[[web.Application], Awaitable[None]]


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


def _on_signal(signum: signal.Signals, action: Callable[[], None]) -> StartupHook:
    """A startup hook that runs ``action`` on the event loop whenever ``signum`` arrives."""

    async def install(app: web.Application) -> None:
        asyncio.get_running_loop().add_signal_handler(signum, action)

    return install


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
    logs = configure_logging(config.logging)
    for record in getattr(args, "config_warnings", ()):
        logging.getLogger(record.name).handle(record)
    servers = asyncio.run(_prepare_database(config))
    line = (
        f"lurkcoin listening on {_url(host, port)}, database {Path(config.database.path).resolve()}"
    )
    if servers == 0:
        again = f"--config {shlex.quote(args.config)} " if args.config else ""
        line += (
            f"; no server account yet, create the first with: lurkcoin {again}{FIRST_SERVER_HINT}"
        )
    try:
        app = create_app(config, extra_contexts=[webhook_context(LEDGER_KEY)])
        app.on_startup.append(_on_signal(signal.SIGHUP, logs.reopen))
        web.run_app(
            app,
            host=host,
            port=port,
            print=lambda _aiohttp_banner: print(line, flush=True),
            access_log=None,  # lurkcoin.api.access writes our own
        )
    except OSError as exc:  # raised before serving: the address is taken or not ours
        raise CliError(f"cannot listen on {_url(host, port)}: {exc.strerror or exc}") from None
    return 0
