"""``GET /metrics``: Prometheus metrics, written with prometheus-client.

Requests (per route, method and status) and their latency, payments by
result and API errors by code, the writer's group-commit batch sizes and
COMMIT (fsync) latency, webhook deliveries by outcome, the outbox depth and
its oldest due row, pending transactions and the oldest, login-throttle
blocks, database size, whether writes are failing, scheduled backups (when
on), and the process (memory, CPU, open files).

Every app has its own registry, so several servers in one process (tests)
never mix their numbers. Values kept elsewhere (the Ledger's, the throttle's
and the dispatcher's counters) are read at scrape time.

Answered to loopback clients, and to anyone presenting ``Authorization:
Bearer <[metrics] bearer_token>``; 403 otherwise. Behind a reverse proxy on
the same host every client looks local, so do not route /metrics through one
unless a token is set and the proxy passes only that path's requests that
carry it.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import resource
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.registry import Collector

from lurkcoin.api.access import elapsed, error_code
from lurkcoin.api.app_keys import LEDGER_KEY
from lurkcoin.api.backup_task import BACKUPS_KEY
from lurkcoin.api.throttle import THROTTLE_KEY
from lurkcoin.ledger import Ledger
from lurkcoin.webhooks.dispatcher import DISPATCHER_KEY

if TYPE_CHECKING:
    from lurkcoin.ledger import Backlog
    from lurkcoin.models import BatchOutcome

# The classic text format every Prometheus version reads (our names are all ASCII).
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
# The routes whose requests are payments (their results are counted apart).
PAY_ROUTES = frozenset({"/v3/pay", "/v2/pay"})
_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
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
        return False  # a Unix socket peer has no address: it needs the token


class Metrics:
    """One app's instruments, and the collector of values kept by other parts."""

    def __init__(self, app: web.Application) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "lurkcoin_http_requests",
            "HTTP requests answered, by route, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "lurkcoin_http_request_duration_seconds",
            "Time until the reply was ready, by route.",
            ["route"],
            buckets=_SECONDS,
            registry=r,
        )
        self.payments = Counter(
            "lurkcoin_payments",
            "Payment requests by result: ok, or the error code.",
            ["result"],
            registry=r,
        )
        self.errors = Counter(
            "lurkcoin_api_errors", "API error replies by error code.", ["code"], registry=r
        )
        self.batch_size = Histogram(
            "lurkcoin_write_batch_size",
            "Operations committed together in one transaction (group commit).",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=r,
        )
        self.commit_latency = Histogram(
            "lurkcoin_commit_duration_seconds",
            "Time the writer's COMMIT (its fsync) took.",
            buckets=_SECONDS,
            registry=r,
        )
        self.state = _StateCollector(app)
        r.register(self.state)
        ProcessCollector(registry=r)

    def observe_batch(self, outcome: BatchOutcome) -> None:
        if outcome.size:  # a probe for another process's changes is no batch
            self.batch_size.observe(outcome.size)
            self.commit_latency.observe(outcome.commit_seconds)


class _StateCollector(Collector):
    """Values other parts keep, read when /metrics is scraped."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.backlog: Backlog | None = None  # read (asynchronously) just before collecting

    def collect(self) -> Iterator[Metric]:
        ledger: Ledger | None = self.app.get(LEDGER_KEY)
        if ledger is None:
            return
        batches, operations = ledger.write_counts()
        yield CounterMetricFamily(
            "lurkcoin_write_batches",
            "Write transactions committed by the single writer (one fsync each).",
            value=batches,
        )
        yield CounterMetricFamily(
            "lurkcoin_batched_operations",
            "Ledger operations committed inside those batches.",
            value=operations,
        )
        yield GaugeMetricFamily("lurkcoin_servers", "Live server accounts.", len(ledger.servers()))
        db, wal = ledger.database_bytes()
        yield GaugeMetricFamily("lurkcoin_database_bytes", "Size of the SQLite database file.", db)
        yield GaugeMetricFamily("lurkcoin_wal_bytes", "Size of the SQLite write-ahead log.", wal)
        yield GaugeMetricFamily(
            "lurkcoin_writes_failing",
            "1 while writes fail (disk full, read-only database) and are answered 503.",
            1 if ledger.write_problem() else 0,
        )
        yield from self._backlog()
        throttle = self.app.get(THROTTLE_KEY)
        blocks = CounterMetricFamily(
            "lurkcoin_login_throttle_blocks",
            "Times a client address or an account was blocked after failed logins.",
            labels=["kind"],
        )
        for kind in ("address", "account"):
            blocks.add_metric([kind], throttle.blocks[kind] if throttle is not None else 0)
        yield blocks
        dispatcher = self.app.get(DISPATCHER_KEY)
        deliveries = CounterMetricFamily(
            "lurkcoin_webhook_deliveries",
            "Finished webhook delivery attempts by outcome.",
            labels=["outcome"],
        )
        for outcome in ("delivered", "failed", "gave_up"):
            count = dispatcher.outcomes[outcome] if dispatcher is not None else 0
            deliveries.add_metric([outcome], count)
        yield deliveries
        yield from self._backups()

    def _backups(self) -> Iterator[Metric]:
        """Only while scheduled backups are on ([backup] directory)."""
        state = self.app.get(BACKUPS_KEY)
        if state is None:
            return
        runs = CounterMetricFamily(
            "lurkcoin_backups",
            "Scheduled backups by outcome: ok (copied and checked clean) or failed.",
            labels=["outcome"],
        )
        runs.add_metric(["ok"], state.succeeded)
        runs.add_metric(["failed"], state.failed)
        yield runs
        yield GaugeMetricFamily(
            "lurkcoin_backup_last_failed",
            "1 when the latest scheduled backup failed (the log says why).",
            1 if state.last_failed else 0,
        )
        yield GaugeMetricFamily(
            "lurkcoin_backup_last_success_timestamp_seconds",
            "Unix time the latest verified backup was started (0: none since the server started).",
            state.last_success_at or 0.0,
        )
        yield GaugeMetricFamily(
            "lurkcoin_backup_last_duration_seconds",
            "Time the latest verified backup took, copy and check.",
            state.last_seconds,
        )
        yield GaugeMetricFamily(
            "lurkcoin_backup_last_size_bytes",
            "Size of the latest verified backup file.",
            state.last_bytes,
        )

    def _backlog(self) -> Iterator[Metric]:
        backlog, now = self.backlog, time.time()
        if backlog is None:
            return
        yield GaugeMetricFamily(
            "lurkcoin_pending_transactions",
            "Payments received and not yet acknowledged or rejected.",
            backlog.pending,
        )
        yield GaugeMetricFamily(
            "lurkcoin_pending_oldest_age_seconds",
            "Age of the oldest pending transaction (0 when none).",
            max(0.0, now - backlog.oldest_pending_time) if backlog.oldest_pending_time else 0.0,
        )
        yield GaugeMetricFamily(
            "lurkcoin_webhook_outbox_depth",
            "Servers with a webhook notification waiting to be delivered.",
            backlog.outbox,
        )
        yield GaugeMetricFamily(
            "lurkcoin_webhook_outbox_oldest_due_age_seconds",
            "How long the most overdue webhook notification has been due (0 when none).",
            max(0.0, now - backlog.earliest_due) if backlog.earliest_due is not None else 0.0,
        )


METRICS_KEY = web.AppKey("metrics", Metrics)


def _route(request: web.Request) -> str:
    """The route's template (never the raw path: that would let clients mint labels)."""
    route = request.match_info.route
    canonical = route.resource.canonical if route.resource is not None else None
    return canonical or "unmatched"


async def record_request(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: count the request, its latency, and a payment's result."""
    metrics = request.app.get(METRICS_KEY)
    if metrics is None:
        return
    route, status = _route(request), response.status
    metrics.requests.labels(route, request.method, str(status)).inc()
    metrics.latency.labels(route).observe(elapsed(request))
    code = error_code(request)
    if code is not None:
        metrics.errors.labels(code).inc()
    if route in PAY_ROUTES:
        ok = status == 200 and code is None
        metrics.payments.labels("ok" if ok else (code or f"http_{status}")).inc()


async def metrics_context(app: web.Application) -> AsyncIterator[None]:
    """Count every batch the Ledger commits (started once the Ledger is open)."""
    app[LEDGER_KEY].on_commit(app[METRICS_KEY].observe_batch)
    yield


def install_metrics(app: web.Application) -> None:
    app[METRICS_KEY] = Metrics(app)
    app.on_response_prepare.append(record_request)


def _allowed(request: web.Request) -> bool:
    if _is_loopback(request.remote):
        return True
    token = request.app[LEDGER_KEY].config.metrics.bearer_token
    given = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


async def metrics(request: web.Request) -> web.StreamResponse:
    if not _allowed(request):
        return web.Response(
            status=403,
            text="403: /metrics is served to loopback clients, or with [metrics] bearer_token\n",
        )
    collected = request.app[METRICS_KEY]
    collected.state.backlog = await request.app[LEDGER_KEY].backlog()
    return web.Response(
        body=generate_latest(collected.registry), headers={"Content-Type": CONTENT_TYPE}
    )


def parse_metrics(text: str) -> dict[str, float]:
    """Sample name (with its labels) -> value of a metrics page."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                values[name] = float(value)
            except ValueError:
                continue
    return values
