"""`lurkcoin bench` smoke tests: every scenario runs against a real spawned server.

Each run is short and gentle (a few clients for a second or two): these tests
prove the tool works and that the books balance afterwards, not how fast
anything is. The numbers come from running the bench itself (README,
"Performance").
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from live_server import StartServer, make_config

from lurkcoin.api.metrics import _is_loopback, parse_metrics
from lurkcoin.bench.report import percentile
from lurkcoin.store.prefill import ring_deltas

# The PostgreSQL half leaves these out: the prefill and the file are SQLite's
# (test_postgres.py runs the bench on PostgreSQL).
pytestmark = pytest.mark.sqlite_only


def bench(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lurkcoin",
            "bench",
            "--spawn",
            "--concurrency",
            "4",
            "--duration",
            "1.5",
            "--warmup",
            "0.3",
            "--servers",
            "3",
            "--json",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def assert_sound(result: dict[str, Any]) -> None:
    """Traffic flowed, nothing failed, no money appeared or vanished."""
    assert result["ok"]
    traffic = result["traffic"]
    assert traffic["all"]["requests"] > 0
    assert traffic["errors"] == {}
    money = result["conservation"]
    assert money["check_ok"], money["check_output"]
    assert money["api_before_cents"] == money["api_after_cents"]
    assert money["ledger_before_cents"] == money["ledger_after_cents"]
    assert result["server"]["rss_bytes"] > 0  # read from /metrics


@pytest.mark.parametrize("scenario", ["balance", "mixed", "mod"])
def test_scenario_runs_and_books_balance(scenario: str) -> None:
    result = bench("--scenario", scenario)
    assert_sound(result)
    assert result["scenario"] == scenario


def test_pay_on_a_prefilled_ledger_reports_group_commit() -> None:
    result = bench(
        "--scenario", "pay", "--prefill-transactions", "2000", "--prefill-pending", "300"
    )
    assert_sound(result)
    paid = result["traffic"]["endpoints"]["pay"]["ok"]
    assert paid > 0
    assert result["prefill"]["transactions"] == 2000
    assert result["database"]["transactions"] >= 2300 + paid
    commits = result["group_commit"]
    assert commits["batches"] > 0 and commits["average_batch"] >= 1


def test_explorer_reports_every_endpoint_on_a_prefilled_ledger() -> None:
    result = bench("--scenario", "explorer", "--prefill-transactions", "3000")
    assert_sound(result)
    endpoints = result["traffic"]["endpoints"]
    for label in (
        "stats",
        "servers",
        "server",
        "exchange_rates",
        "history",
        "transactions",
        "transactions_by_server",
        "transactions_by_user",
        "transactions_by_amount",
        "transactions_offset_max",
        "transactions_cursor_deep",
        "transaction",
    ):
        assert endpoints[label]["ok"] > 0, label


def test_text_table() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lurkcoin",
            "bench",
            "--spawn",
            "--scenario",
            "balance",
            "--concurrency",
            "2",
            "--duration",
            "0.5",
            "--warmup",
            "0",
            "--servers",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "p99 ms" in done.stdout and "conservation         OK" in done.stdout


def test_bad_options_are_one_line() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lurkcoin",
            "bench",
            "--url",
            "http://127.0.0.1:9",
            "--scenario",
            "pay",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("lurkcoin: error: --url needs --database")


def test_ring_deltas_are_the_partial_laps() -> None:
    ring = 4
    for first, last in [(1, 1), (1, 4), (3, 17), (8, 11), (5, 1000)]:
        expected = [0] * ring
        for i in range(first, last + 1):
            cents = 1 + (i // ring) % 100
            expected[i % ring] -= cents
            expected[(i + 1) % ring] += cents
        assert ring_deltas(first, last, ring) == expected


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([], 0.5) == 0.0


def test_metrics_helpers() -> None:
    assert _is_loopback("127.0.0.1") and _is_loopback("::1")
    assert not _is_loopback("10.0.0.1") and not _is_loopback(None) and not _is_loopback("")
    page = "# HELP a x\n# TYPE a counter\na 3\nb 4.5\n"
    assert parse_metrics(page) == {"a": 3.0, "b": 4.5}


async def test_metrics_endpoint_counts_batches(serve: StartServer, tmp_path: Path) -> None:
    server = await serve(make_config(tmp_path / "m.db"))
    await server.ledger.create_server("Alpha", balance=100)
    async with aiohttp.ClientSession() as session, session.get(f"{server.url}/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        values = parse_metrics(await resp.text())
    assert values["lurkcoin_write_batches_total"] >= 1
    assert values["lurkcoin_batched_operations_total"] >= values["lurkcoin_write_batches_total"]
    assert values["process_resident_memory_bytes"] > 1_000_000
