"""``lurkcoin bench``: measure throughput, latency and memory over real HTTP, then check the books.

The CLI wires it with ``add_bench_parser(subparsers)`` and, for the parsed
``bench`` command, ``run_bench(args)`` (it needs no opened ledger: it makes
or reaches its own server).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from lurkcoin.bench.scenarios import SCENARIOS


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def _count(text: str) -> int:
    cleaned = text.replace("_", "").replace(",", "")
    if not cleaned.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    return int(cleaned)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 24 * 3600:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds")
    return value


def add_bench_parser(
    subparsers: argparse._SubParsersAction[Any],  # of the CLI's own parser class
) -> argparse.ArgumentParser:
    """Add the ``bench`` command to the CLI's subcommands."""
    help_text = "measure requests/s, latency and memory over real HTTP, then check the books"
    p: argparse.ArgumentParser = subparsers.add_parser(
        "bench", help=help_text, description=help_text
    )
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--spawn",
        action="store_true",
        help="start 'lurkcoin serve' on a fresh temporary database (or --database)",
    )
    where.add_argument(
        "--url", metavar="URL", help="bench a running server (needs --database, its database file)"
    )
    p.add_argument(
        "--scenario",
        choices=SCENARIOS,
        required=True,
        help="pay, balance, mixed (reads, pays, history, quotes) or mod (like the "
        "Minetest mod: pay in local currency, poll, acknowledge, reject)",
    )
    p.add_argument(
        "--concurrency",
        type=_positive_int,
        default=64,
        metavar="N",
        help="concurrent keep-alive clients (default 64)",
    )
    p.add_argument(
        "--duration", type=_seconds, default=20.0, metavar="S", help="seconds measured (default 20)"
    )
    p.add_argument(
        "--warmup",
        type=_seconds,
        default=2.0,
        metavar="S",
        help="seconds of load before measuring (default 2)",
    )
    p.add_argument(
        "--servers",
        type=_positive_int,
        default=8,
        metavar="K",
        help="funded server accounts the clients pay between (default 8)",
    )
    p.add_argument(
        "--prefill-transactions",
        type=_count,
        default=0,
        metavar="M",
        help="bulk-insert M processed transactions first (--spawn only)",
    )
    p.add_argument(
        "--prefill-pending",
        type=_count,
        default=0,
        metavar="P",
        help="bulk-insert P unacknowledged pending transactions first (--spawn only)",
    )
    p.add_argument(
        "--database",
        metavar="PATH",
        help="the database to use (--spawn: instead of a temporary one, kept)",
    )
    p.add_argument(
        "--database-url",
        default="",
        metavar="URL",
        help="bench on this PostgreSQL database (postgresql://...) instead of SQLite",
    )
    p.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        metavar="N",
        help="server processes (--spawn on PostgreSQL only; default 1)",
    )
    p.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (database, server log)"
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def run_bench(args: argparse.Namespace) -> int:
    """Run the parsed ``bench`` command; exit status 1 when the books did not balance."""
    from lurkcoin.bench.report import render_text
    from lurkcoin.bench.runner import Options, bench
    from lurkcoin.bench.server import BenchError
    from lurkcoin.cli.exit_codes import ExitCode

    opts = Options(
        scenario=args.scenario,
        url=args.url,
        spawn=args.spawn,
        concurrency=args.concurrency,
        duration=args.duration,
        warmup=args.warmup,
        servers=args.servers,
        prefill_transactions=args.prefill_transactions,
        prefill_pending=args.prefill_pending,
        database=args.database,
        database_url=args.database_url,
        workers=args.workers,
        config=getattr(args, "config", None),
        keep=args.keep,
    )
    try:
        result = asyncio.run(bench(opts))
    except BenchError as exc:
        print(f"lurkcoin: error: {exc}", file=sys.stderr)
        return ExitCode.CANNOT_RUN
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(render_text(result), end="")
    return ExitCode.OK if result["ok"] else ExitCode.PROBLEMS_FOUND
