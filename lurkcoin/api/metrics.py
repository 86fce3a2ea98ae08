"""``GET /metrics``: the writer's group-commit counters and the process's memory, for Prometheus.

Only loopback clients are answered (403 otherwise): the numbers say how busy
the ledger is, which is nobody else's business. Behind a reverse proxy on the
same host every client looks local, so do not route /metrics through one.
"""

from __future__ import annotations

import ipaddress
import os
import resource
import sys
import time

from aiohttp import web

from lurkcoin.api.keys import LEDGER_KEY

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_STARTED = time.time()
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes() -> int:
    """Current resident set size; the peak where /proc is not available."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE_SIZE
    except (OSError, IndexError, ValueError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def _is_loopback(remote: str | None) -> bool:
    if not remote:
        return False
    try:
        return ipaddress.ip_address(remote.split("%", 1)[0]).is_loopback
    except ValueError:
        return False  # a Unix socket peer has no address: not answered either


def _file_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _sample(name: str, kind: str, help_text: str, value: float) -> str:
    return f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n{name} {value}\n"


def render(app: web.Application) -> str:
    """The metrics page in the Prometheus text exposition format."""
    ledger = app[LEDGER_KEY]
    store = ledger.store
    usage = resource.getrusage(resource.RUSAGE_SELF)
    parts = [
        _sample(
            "lurkcoin_write_batches_total",
            "counter",
            "Write transactions committed by the single writer (one fsync each).",
            store.batches,
        ),
        _sample(
            "lurkcoin_batched_operations_total",
            "counter",
            "Ledger operations committed inside those batches.",
            store.batched_operations,
        ),
        _sample("lurkcoin_servers", "gauge", "Live server accounts.", len(ledger.servers())),
        _sample(
            "lurkcoin_database_bytes",
            "gauge",
            "Size of the SQLite database file.",
            _file_size(store.path),
        ),
        _sample(
            "lurkcoin_wal_bytes",
            "gauge",
            "Size of the SQLite write-ahead log.",
            _file_size(store.path + "-wal"),
        ),
        _sample(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            resident_bytes(),
        ),
        _sample(
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time spent.",
            round(usage.ru_utime + usage.ru_stime, 3),
        ),
        _sample(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since the Unix epoch.",
            round(_STARTED, 3),
        ),
    ]
    return "".join(parts)


async def metrics(request: web.Request) -> web.StreamResponse:
    if not _is_loopback(request.remote):
        return web.Response(status=403, text="403: /metrics is only served to loopback clients\n")
    return web.Response(
        body=render(request.app).encode("utf-8"), headers={"Content-Type": CONTENT_TYPE}
    )


def parse_metrics(text: str) -> dict[str, float]:
    """Sample name -> value of a metrics page (labels are not used here)."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                values[name] = float(value)
            except ValueError:
                continue
    return values
