"""``lurkcoin serve --workers N``: N server processes on one port, sharing one PostgreSQL ledger.

The parent migrates the database once, then forks N workers. Each opens its
own listening socket on the same address with SO_REUSEPORT, so the kernel
spreads connections across them, and its own Ledger (writer, readers, caches
kept coherent by LISTEN/NOTIFY). The parent only supervises: it forwards
SIGTERM, SIGINT and SIGHUP to the workers, restarts a worker that dies, and
exits when they have all stopped after a signal.

SQLite is refused: its one writer per file is what makes payments fast, and
several processes would only queue on its lock. Each worker counts failed
logins for itself, so the per-address and per-account limits are divided
by N (README, "Running on PostgreSQL").
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType

from lurkcoin.cli.commands import CliError
from lurkcoin.config import Config

log = logging.getLogger(__name__)

# A worker that dies sooner than this after starting is not restarted in a loop.
MIN_LIFETIME = 5.0


def check_workers(config: Config, workers: int) -> None:
    """Refuse what several workers cannot do, with what to do instead."""
    if workers <= 1:
        return
    if not config.database.url:
        raise CliError(
            "--workers above 1 needs a PostgreSQL ledger ([database] url or "
            "LURKCOIN_DATABASE_URL): a SQLite file has one writer, which one process uses best"
        )
    if config.server.unix_socket:
        raise CliError("--workers above 1 serves TCP only: leave [server] unix_socket empty")
    if not config.server.host or config.server.port == 0:
        raise CliError("--workers above 1 needs [server] host and a fixed port (not 0)")


def share_limits(config: Config, workers: int) -> None:
    """Each worker throttles logins alone: together they allow what one process would."""
    security = config.security
    security.failures_per_address = max(1, security.failures_per_address // workers)
    security.failures_per_account = max(1, security.failures_per_account // workers)


def supervise(workers: int, run_worker: Callable[[int], int]) -> int:
    """Fork ``workers`` processes running ``run_worker(index)``; returns the exit status."""
    children: dict[int, tuple[int, float]] = {}  # pid -> (index, started)
    stopping = False

    def start(index: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(signum, signal.SIG_DFL)
            os.environ.pop("NOTIFY_SOCKET", None)  # systemd hears the parent only
            status = 1
            try:
                status = run_worker(index)
            except CliError as exc:
                print(f"lurkcoin: worker {index}: {exc}", file=sys.stderr, flush=True)
                status = 2
            except BaseException:
                log.exception("worker %d failed", index)
            finally:
                os._exit(status)
        children[pid] = (index, time.monotonic())

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if signum != signal.SIGHUP:
            stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    for index in range(workers):
        start(index)
    status = 0
    while children:
        try:
            pid, code = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        index, started = children.pop(pid, (-1, 0.0))
        if index < 0:
            continue
        exit_code = os.waitstatus_to_exitcode(code)
        if stopping:
            status = max(status, exit_code if exit_code > 0 else 0)
            continue
        log.error("worker %d (pid %d) exited with %d; restarting it", index, pid, exit_code)
        if time.monotonic() - started < MIN_LIFETIME:
            time.sleep(MIN_LIFETIME)  # a worker that cannot start: do not spin
        if not stopping:
            start(index)
    return status
