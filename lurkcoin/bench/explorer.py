"""The ``explorer`` scenario: every client cycles through the public /api/ endpoints.

Each endpoint is its own label, so the report gives p50/p99 per endpoint.
The transaction queries include a keyset cursor a million rows deep (or as
deep as the ledger goes) and the deepest ``offset``, the two paging costs
that must not grow with the ledger.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from urllib.parse import quote

from lurkcoin.api.explorer import MAX_OFFSET
from lurkcoin.api.explorer_cursor import encode, fingerprint
from lurkcoin.bench.client import ConnectionPool, build_request
from lurkcoin.bench.scenarios import Run, Worker, _send
from lurkcoin.store.explorer_reads import TransactionFilter, newest_positions

CURSOR_DEPTH = 1_000_000


def explorer_paths(database: Path, server_names: list[str]) -> list[tuple[str, str]]:
    """(label, path) of every request the scenario makes, from what the ledger holds."""
    newest, deep = newest_positions(str(database), CURSOR_DEPTH)
    if deep is None:  # a smaller ledger: a cursor at its newest row (page 2)
        _, deep = newest_positions(str(database), 0)
    default_query = {
        "filters": dataclasses.asdict(TransactionFilter()),
        "sort": "time",
        "descending": True,
    }
    name = quote(server_names[0])
    other = quote(server_names[-1])
    paths = [
        ("stats", "/api/stats.json"),
        ("servers", "/api/servers.json"),
        ("server", f"/api/servers/{name}.json"),
        ("exchange_rates", "/api/exchange_rates.json"),
        ("history", "/api/history.json"),
        ("transactions", "/api/transactions.json?limit=100"),
        ("transactions_by_server", f"/api/transactions.json?server={other}&limit=100"),
        ("transactions_by_user", "/api/transactions.json?user=player7&limit=100"),
        ("transactions_by_amount", "/api/transactions.json?sort=amount:desc&limit=100"),
        ("transactions_offset_max", f"/api/transactions.json?offset={MAX_OFFSET}&limit=100"),
    ]
    if deep is not None:
        cursor = encode("next", deep, fingerprint(default_query))
        paths.append(
            ("transactions_cursor_deep", f"/api/transactions.json?limit=100&cursor={cursor}")
        )
    if newest is not None:
        paths.append(("transaction", f"/api/transactions/{quote(newest)}.json"))
    return paths


def make_explorer_worker(paths: list[tuple[str, str]]) -> Worker:
    async def explorer(run: Run, index: int) -> None:
        requests = [(label, build_request(run.endpoint, "GET", path)) for label, path in paths]
        pool = ConnectionPool(run.endpoint)
        i = index  # clients start at different endpoints
        try:
            while not run.stopping:
                label, data = requests[i % len(requests)]
                i += 1
                await _send(run, pool, label, data)
        finally:
            pool.close()

    return explorer
