"""``lurkcoin serve``: migrate the database, then serve until SIGTERM or SIGINT.

Startup: logging as ``[logging]`` says, the open-file limit raised, the
database migrated and checked writable, then the listeners of
lurkcoin.api.listeners opened and systemd told ``READY=1``.

Shutdown (SIGTERM or SIGINT): systemd is told ``STOPPING=1``, the listeners
stop accepting, requests in flight finish (for at most ``[server]
shutdown_timeout`` seconds), the writer commits what is queued, the webhook
dispatcher stops and the database closes. A payment answered before the
signal is committed; one cut off is not half-done, and a client retrying it
with its Idempotency-Key gets the same transaction once.

SIGHUP reopens the log file and reloads the TLS certificate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shlex
import signal
import sqlite3
from pathlib import Path

from aiohttp import web

from lurkcoin.api.app import LEDGER_KEY, create_app
from lurkcoin.api.listeners import (
    HEADER_LIMITS,
    KEEPALIVE_TIMEOUT,
    Listeners,
    QuietServerLogger,
    raise_open_file_limit,
)
from lurkcoin.api.throttle import parse_networks
from lurkcoin.cli.commands import FIRST_SERVER_HINT, CliError
from lurkcoin.cli.exit_codes import ExitCode
from lurkcoin.cli.workers import check_workers, share_limits, supervise
from lurkcoin.config import Config
from lurkcoin.core.database_url import redact
from lurkcoin.ledger import DISK_FULL, Ledger
from lurkcoin.logs import LogSetup, configure_logging
from lurkcoin.systemd import Notifier
from lurkcoin.webhooks import webhook_context

log = logging.getLogger(__name__)


async def _prepare_database(config: Config) -> int:
    """Create or migrate the database before listening; returns how many servers it has.

    A database that cannot be written is refused here rather than served with
    every payment failing; a full disk is not (reads work, and writes resume
    by themselves when space returns).
    """
    try:
        ledger = await Ledger.open(config)
    except sqlite3.OperationalError:
        folder = Path(config.database.path).resolve().parent
        if not config.database.url and _read_only(folder):
            # SQLite cannot even open a WAL database there: say why, not "unable to open".
            raise CliError(
                f"cannot write the database {Path(config.database.path).resolve()}: "
                f"{folder} is on a read-only file system"
            ) from None
        raise
    try:
        problem = await ledger.writes_blocked()
        if problem is not None and problem != DISK_FULL:
            where = redact(config.database.url) or Path(config.database.path).resolve()
            raise CliError(f"cannot write the database {where}: {problem}")
        return len(ledger.servers())
    finally:
        await ledger.close()


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _where(config: Config) -> str:
    server = config.server
    places = []
    if server.host:
        host = f"[{server.host}]" if ":" in server.host else server.host
        places.append(f"{'https' if server.tls_cert else 'http'}://{host}:{server.port}")
    if server.unix_socket:
        places.append(f"unix:{server.unix_socket}")
    return ", ".join(places)


async def _run(config: Config, banner: str, logs: LogSetup, *, reuse_port: bool = False) -> None:
    app = create_app(config, extra_contexts=[webhook_context(LEDGER_KEY)])
    runner = web.AppRunner(
        app,
        access_log=None,  # lurkcoin.api.access writes our own
        logger=QuietServerLogger(),
        keepalive_timeout=KEEPALIVE_TIMEOUT,
        shutdown_timeout=config.server.shutdown_timeout,
        **HEADER_LIMITS,
    )
    await runner.setup()
    listeners = Listeners(
        runner,
        config.server,
        parse_networks(config.security.trusted_proxies),
        reuse_port=reuse_port,
    )
    notifier = Notifier()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    watchdog: asyncio.Task[None] | None = None
    try:
        try:
            await listeners.open()
        except OSError as exc:
            raise CliError(f"cannot listen on {_where(config)}: {exc.strerror or exc}") from None
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)

        def reload() -> None:
            logs.reopen()
            listeners.reload_tls()

        loop.add_signal_handler(signal.SIGHUP, reload)
        print(banner.replace("{where}", ", ".join(listeners.urls)), flush=True)
        notifier.notify("READY=1")

        async def alive() -> bool:
            problem = await app[LEDGER_KEY].readiness()
            return problem is None or app[LEDGER_KEY].write_problem() is not None

        watchdog = asyncio.create_task(notifier.watchdog(alive), name="lurkcoin-watchdog")
        await stop.wait()
        log.info("shutting down: finishing requests in flight")
        notifier.notify("STOPPING=1")
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(signum)
        if watchdog is not None:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
        listeners.close()
        await runner.cleanup()


def serve(config: Config, args: argparse.Namespace) -> int:
    """Run until SIGTERM or SIGINT, then shut down cleanly; 0 when all went well."""
    # Command-line flags win over the file and the environment.
    if args.host:
        config.server.host = args.host
    if args.port is not None:
        config.server.port = args.port
    if not config.server.host and not config.server.unix_socket:
        raise CliError("nothing to listen on: set [server] host or [server] unix_socket")
    logs = configure_logging(config.logging)
    for record in getattr(args, "config_warnings", ()):
        logging.getLogger(record.name).handle(record)
    workers = getattr(args, "workers", 1) or 1
    check_workers(config, workers)
    if config.database.url and config.backup.directory:
        raise CliError(
            "[backup] directory takes copies of a SQLite ledger; back a PostgreSQL ledger up "
            "with pg_dump or point-in-time recovery, and leave it empty"
        )
    raise_open_file_limit()
    servers = asyncio.run(_prepare_database(config))
    where = config.database.url and redact(config.database.url)
    banner = (
        f"lurkcoin listening on {{where}}, database {where or Path(config.database.path).resolve()}"
    )
    if servers == 0:
        again = f"--config {shlex.quote(args.config)} " if args.config else ""
        banner += (
            f"; no server account yet, create the first with: lurkcoin {again}{FIRST_SERVER_HINT}"
        )
    if workers > 1:
        share_limits(config, workers)

        def run_worker(index: int) -> int:
            asyncio.run(_run(config, f"worker {index}: {banner}", logs, reuse_port=True))
            return 0

        Notifier().notify("READY=1")  # the workers are forked; each reports its listener
        return supervise(workers, run_worker)
    try:
        asyncio.run(_run(config, banner, logs))
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return ExitCode.INTERRUPTED
    return ExitCode.OK
