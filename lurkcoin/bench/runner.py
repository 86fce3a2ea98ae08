"""One bench run: prepare a ledger, start (or reach) the server, load it, check the books.

With ``spawn`` the server is a real ``python -m lurkcoin serve`` process on a
fresh temporary database (or the given one), configured through the same
LURKCOIN_* variables an operator would use. The bench's servers are created
through the Ledger exactly as ``lurkcoin create-server`` creates them; a
prefill goes straight into SQLite (lurkcoin.store.prefill) before the server
starts. Afterwards the sum of the bench servers' balances must be what it was
(read over the API and from the database), and ``lurkcoin check`` must pass.
"""

from __future__ import annotations

import asyncio
import gc
import os
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lurkcoin.bench import report
from lurkcoin.bench.client import Endpoint
from lurkcoin.bench.explorer import explorer_paths, make_explorer_worker
from lurkcoin.bench.scenarios import (
    USES_EXCHANGE_RATES,
    WORKERS,
    Account,
    Discard,
    Run,
    Stats,
    Worker,
)
from lurkcoin.bench.seeding import FUND, circulating, ring_ids, seed
from lurkcoin.bench.server import (
    BenchError,
    SpawnedServer,
    api_balances,
    metrics,
    postgres_cpu,
    run_check,
)
from lurkcoin.core.database_url import redact
from lurkcoin.core.money import format_balance
from lurkcoin.progress import Progress
from lurkcoin.store.prefill import prefill, transaction_count

# Transactions per prefill transaction: a progress update every second or so.
PREFILL_CHUNK = 250_000


@dataclass
class Options:
    scenario: str
    url: str | None = None
    spawn: bool = False
    concurrency: int = 64
    duration: float = 20.0
    warmup: float = 2.0
    servers: int = 8
    prefill_transactions: int = 0
    prefill_pending: int = 0
    database: str | None = None
    database_url: str = ""
    workers: int = 1
    config: str | None = None
    keep: bool = False


def say(message: str) -> None:
    """Progress goes to stderr, so --json output stays clean."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


# -- the measurement ------------------------------------------------------------------------


@dataclass
class Measured:
    stats: Stats
    seconds: float
    client_cpu: float
    machine_cpu: float | None
    before: dict[str, float] | None
    after: dict[str, float] | None
    # CPU seconds of the spawned server (all its workers) and of PostgreSQL, when known.
    server_cpu: float | None = None
    database_cpu: float | None = None


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_busy() -> float | None:
    """CPU seconds all processes on this machine have used so far (Linux), or None."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
        ticks = [int(x) for x in fields]
    except (OSError, ValueError):
        return None
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle and iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _delta(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else round(after - before, 2)


async def measure(
    endpoint: Endpoint,
    accounts: list[Account],
    opts: Options,
    worker: Worker | None = None,
    server: SpawnedServer | None = None,
) -> Measured:
    run = Run(endpoint, accounts)
    worker = worker or WORKERS[opts.scenario]
    tasks = [asyncio.create_task(worker(run, i)) for i in range(opts.concurrency)]
    try:
        if opts.warmup > 0:
            say(f"warming up for {opts.warmup:g} s")
            await asyncio.sleep(opts.warmup)
        gc.collect()
        gc.freeze()  # nothing allocated so far needs scanning again
        before = await metrics(endpoint)
        say(f"measuring for {opts.duration:g} s")
        stats = Stats()
        tree0 = server.tree_cpu() if server is not None and opts.spawn else None
        pg0 = postgres_cpu() if opts.database_url else None
        cpu0, busy0, t0 = _cpu(), machine_busy(), time.perf_counter()
        run.stats = stats
        await asyncio.sleep(opts.duration)
        run.stats = Discard()
        seconds, client_cpu, busy1 = time.perf_counter() - t0, _cpu() - cpu0, machine_busy()
        machine_cpu = busy1 - busy0 if busy0 is not None and busy1 is not None else None
        tree1 = server.tree_cpu() if server is not None and opts.spawn else None
        pg1 = postgres_cpu() if opts.database_url else None
        after = await metrics(endpoint)
    finally:
        run.stopping = True
        done, pending = await asyncio.wait(tasks, timeout=30)
        for task in pending:
            task.cancel()
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        gc.unfreeze()
    return Measured(
        stats,
        seconds,
        client_cpu,
        machine_cpu,
        before,
        after,
        _delta(tree0, tree1),
        _delta(pg0, pg1),
    )


def _database_facts(server: SpawnedServer, wal: Path) -> dict[str, Any]:
    if server.database_url:
        return {"url": redact(server.database_url), "workers": server.workers}
    return {
        "path": str(server.database),
        "bytes": server.database.stat().st_size,
        "wal_bytes": wal.stat().st_size if wal.exists() else 0,
        "transactions": transaction_count(str(server.database)),
    }


def _group_commit(
    before: dict[str, float] | None, after: dict[str, float] | None
) -> dict[str, Any] | None:
    if not before or not after:
        return None
    batches = int(after["lurkcoin_write_batches_total"] - before["lurkcoin_write_batches_total"])
    ops = int(
        after["lurkcoin_batched_operations_total"] - before["lurkcoin_batched_operations_total"]
    )
    return {
        "batches": batches,
        "operations": ops,
        "average_batch": round(ops / batches, 2) if batches else 0.0,
    }


async def bench(opts: Options) -> dict[str, Any]:
    """Run the bench; the result is what --json prints."""
    if opts.scenario not in WORKERS and opts.scenario != "explorer":
        raise BenchError(f"unknown scenario {opts.scenario!r}")
    if opts.spawn == (opts.url is not None):
        raise BenchError("give exactly one of --spawn and --url")
    if opts.url is not None and opts.database is None:
        raise BenchError(
            "--url needs --database PATH (the server's database file): the bench "
            "creates its servers there and checks the books afterwards"
        )
    if opts.database_url and (
        opts.prefill_transactions or opts.prefill_pending or opts.scenario == "explorer"
    ):
        raise BenchError("--prefill-* and --scenario explorer work on SQLite only")
    if opts.workers > 1 and not (opts.spawn and opts.database_url):
        raise BenchError("--workers above 1 needs --spawn and --database-url (PostgreSQL)")
    if opts.url is not None and (opts.prefill_transactions or opts.prefill_pending):
        raise BenchError("--prefill-* needs --spawn: a prefill must not race a running server")
    workdir = Path(tempfile.mkdtemp(prefix="lurkcoin-bench-"))
    database = Path(opts.database).resolve() if opts.database else workdir / "bench.db"
    server = SpawnedServer(
        database, workdir, opts.config, database_url=opts.database_url, workers=opts.workers
    )
    try:
        return await _bench(opts, server)
    finally:
        server.stop()
        if opts.keep:
            say(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


async def _bench(opts: Options, server: SpawnedServer) -> dict[str, Any]:
    target_balance = FUND if opts.scenario in USES_EXCHANGE_RATES else 0
    say(f"creating {opts.servers} funded servers in {server.database}")
    accounts, _ = await seed(server.database, opts.servers, target_balance, opts.database_url)
    prefilled = None
    if opts.prefill_transactions or opts.prefill_pending:
        say(
            f"prefilling {opts.prefill_transactions:,} transactions and "
            f"{opts.prefill_pending:,} pending"
        )
        ring = await ring_ids(server.database, accounts)
        with Progress() as progress:
            progress.phase(
                "prefilling", opts.prefill_transactions + opts.prefill_pending, "transactions"
            )
            filled = prefill(
                str(server.database),
                ring,
                opts.prefill_transactions,
                opts.prefill_pending,
                chunk=PREFILL_CHUNK,
                progress=progress.update,
            )
        prefilled = {
            "transactions": filled.transactions,
            "pending": filled.pending,
            "seconds": round(filled.seconds, 2),
            "per_second": round(filled.per_second),
        }
    money_before = await circulating(server.database, opts.database_url)
    if opts.spawn:
        await server.start()
        url = server.url
        say(f"server listening on {url}")
    else:
        assert opts.url is not None
        url = opts.url.rstrip("/")
    endpoint = Endpoint.from_url(url)
    api_before = await api_balances(endpoint, accounts, wait=10.0)

    worker = None
    if opts.scenario == "explorer":
        worker = make_explorer_worker(explorer_paths(server.database, [a.name for a in accounts]))
    measured = await measure(endpoint, accounts, opts, worker, server)

    api_after = await api_balances(endpoint, accounts)
    after = measured.after or {}
    rss = after.get("process_resident_memory_bytes")
    peak = server.peak_rss() if opts.spawn else None
    server_cpu = None
    if measured.server_cpu is not None:  # every worker process, not only the one answering
        server_cpu = measured.server_cpu
    elif measured.before and measured.after:
        server_cpu = round(
            measured.after["process_cpu_seconds_total"]
            - measured.before["process_cpu_seconds_total"],
            2,
        )
    others = None
    if measured.machine_cpu is not None and server_cpu is not None:
        others = round(
            max(
                0.0,
                measured.machine_cpu
                - server_cpu
                - measured.client_cpu
                - (measured.database_cpu or 0.0),
            ),
            2,
        )
    if opts.spawn:
        server.stop()
    say("checking the books (lurkcoin check)")
    check_ok, check_output = run_check(server)
    money_after = await circulating(server.database, opts.database_url)
    wal = Path(str(server.database) + "-wal")
    ok = check_ok and money_before == money_after and api_before == api_after
    detail = (
        f"bench servers hold {format_balance(api_after)} (before: "
        f"{format_balance(api_before)}); all servers {format_balance(money_after)} "
        f"(before: {format_balance(money_before)}); lurkcoin check "
        f"{'clean' if check_ok else 'FAILED'}"
    )
    return {
        "scenario": opts.scenario,
        "concurrency": opts.concurrency,
        "duration_s": round(measured.seconds, 3),
        "warmup_s": opts.warmup,
        "servers": opts.servers,
        "target": "spawned server" if opts.spawn else url,
        "url": url,
        "prefill": prefilled,
        "traffic": report.traffic(measured.stats, measured.seconds),
        "group_commit": _group_commit(measured.before, measured.after),
        "server": {"rss_bytes": int(rss) if rss else None, "peak_rss_bytes": peak},
        "cpu": {
            "server_s": server_cpu,
            "database_s": measured.database_cpu,
            "client_s": round(measured.client_cpu, 2),
            "other_processes_s": others,
            "available_s": round(measured.seconds * (os.cpu_count() or 1), 1),
            "cores": os.cpu_count() or 1,
        },
        "database": _database_facts(server, wal),
        "conservation": {
            "ok": ok,
            "api_before_cents": api_before,
            "api_after_cents": api_after,
            "ledger_before_cents": money_before,
            "ledger_after_cents": money_after,
            "check_ok": check_ok,
            "check_output": check_output,
            "detail": detail,
        },
        "ok": ok,
    }
