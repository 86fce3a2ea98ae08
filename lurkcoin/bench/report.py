"""Turning a bench run into numbers: percentiles, the printed table and the JSON document."""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from typing import Any

from lurkcoin.bench.scenarios import Stats

PERCENTILES = (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_summary(samples: Iterable[float], seconds: float) -> dict[str, Any]:
    """Count, rate and latency percentiles (milliseconds) of one set of requests."""
    values = sorted(samples)
    out: dict[str, Any] = {
        "requests": len(values),
        "per_second": round(len(values) / seconds, 1) if seconds else 0.0,
    }
    for name, q in PERCENTILES:
        out[f"{name}_ms"] = round(percentile(values, q) * 1000, 2)
    out["max_ms"] = round(values[-1] * 1000, 2) if values else 0.0
    out["mean_ms"] = round(sum(values) / len(values) * 1000, 2) if values else 0.0
    return out


def traffic(stats: Stats, seconds: float) -> dict[str, Any]:
    """The measured window: all requests, each endpoint, and what failed, by code."""
    everything: array[float] = array("d")
    for samples in stats.latencies.values():
        everything.extend(samples)
    endpoints = {
        label: latency_summary(samples, seconds)
        for label, samples in sorted(stats.latencies.items())
    }
    for label, summary in endpoints.items():
        summary["ok"] = stats.outcomes.get((label, "ok"), 0)
    errors: dict[str, int] = {}
    for (label, outcome), count in sorted(stats.outcomes.items()):
        if outcome != "ok":
            key = f"{label}: {outcome}"
            errors[key] = errors.get(key, 0) + count
    return {"all": latency_summary(everything, seconds), "endpoints": endpoints, "errors": errors}


def megabytes(n: float | None) -> str:
    return "n/a" if n is None else f"{n / 1e6:,.1f} MB"


def render_text(result: dict[str, Any]) -> str:
    """The table ``lurkcoin bench`` prints."""
    t = result["traffic"]
    a = t["all"]
    lines = [
        (
            f"lurkcoin bench: scenario {result['scenario']}, {result['concurrency']} clients, "
            f"{result['duration_s']:.1f} s after {result['warmup_s']:.1f} s warm-up, "
            f"{result['servers']} servers, {result['target']}"
        ),
    ]
    prefill = result.get("prefill")
    if prefill:
        lines.append(
            f"prefilled            {prefill['transactions']:,} transactions + "
            f"{prefill['pending']:,} pending in {prefill['seconds']:.1f} s "
            f"({prefill['per_second']:,.0f}/s)"
        )
    lines += [
        "",
        (
            f"{'endpoint':<26}{'requests':>10}{'req/s':>10}{'p50 ms':>9}{'p95 ms':>9}"
            f"{'p99 ms':>9}{'max ms':>9}"
        ),
    ]
    rows = list(t["endpoints"].items())
    if len(rows) != 1:
        rows.append(("all", a))
    for label, s in rows:
        lines.append(
            f"{label:<26}{s['requests']:>10,}{s['per_second']:>10,.1f}"
            f"{s['p50_ms']:>9.2f}{s['p95_ms']:>9.2f}{s['p99_ms']:>9.2f}"
            f"{s['max_ms']:>9.2f}"
        )
    lines.append("")
    if t["errors"]:
        lines.append("errors")
        lines += [f"  {key:<40}{count:>10,}" for key, count in t["errors"].items()]
    else:
        lines.append("errors               none")
    gc = result.get("group_commit")
    if gc:
        lines.append(
            f"group commit         {gc['batches']:,} batches, "
            f"{gc['operations']:,} operations, "
            f"{gc['average_batch']:.1f} operations per batch (fsync)"
        )
    else:
        lines.append("group commit         n/a (the server has no /metrics)")
    server = result["server"]
    lines.append(
        f"server memory        {megabytes(server.get('rss_bytes'))} resident"
        + (f", peak {megabytes(server['peak_rss_bytes'])}" if server.get("peak_rss_bytes") else "")
    )
    cpu = result["cpu"]
    server_cpu = "n/a" if cpu["server_s"] is None else cpu["server_s"]
    others = (
        "" if cpu["other_processes_s"] is None else f", other processes {cpu['other_processes_s']}"
    )
    database_cpu = "" if cpu.get("database_s") is None else f", PostgreSQL {cpu['database_s']}"
    lines.append(
        f"cpu seconds          server {server_cpu}{database_cpu}, bench client {cpu['client_s']}"
        f"{others} (of {cpu['available_s']} on {cpu['cores']} cores)"
    )
    payments = sum(s["requests"] for label, s in t["endpoints"].items() if label == "pay")
    if payments and cpu["server_s"] is not None:
        per = f"cpu per payment      server {cpu['server_s'] / payments * 1000:.3f} ms"
        if cpu.get("database_s") is not None:
            per += f", PostgreSQL {cpu['database_s'] / payments * 1000:.3f} ms"
        lines.append(per)
    db = result.get("database")
    if db and "url" in db:
        lines.append(f"database             {db['url']} ({db['workers']} worker(s))")
    elif db:
        lines.append(
            f"database             {megabytes(db['bytes'])} + WAL "
            f"{megabytes(db['wal_bytes'])}, {db['transactions']:,} transactions"
        )
    c = result["conservation"]
    lines.append(f"conservation         {'OK' if c['ok'] else 'FAILED'}: {c['detail']}")
    return "\n".join(lines) + "\n"
