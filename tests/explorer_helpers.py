"""A small public ledger for the explorer tests: three servers, varied history, every status."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import aiohttp
from live_server import LiveServer

from lurkcoin.ledger import Ledger

SERVERS = ("Alpha", "Bravo", "Charlie")
USERS = ("ann", "bob", "cyd", "")
BASE_TIME = 1_700_000_000


def _history(count: int, seed: int) -> list[dict[str, Any]]:
    """Transactions spread over days, with tied times and amounts and self-payments."""
    rng = random.Random(seed)
    made = []
    for i in range(count):
        source_server = rng.choice(SERVERS)
        target_server = source_server if i % 9 == 0 else rng.choice(SERVERS)
        source = rng.choice(USERS)
        target = source if i % 9 == 0 else rng.choice(USERS)
        amount = rng.choice((1, 2, 5, 5, 12.5, 100))
        made.append(
            {
                "id": f"TIMPORT-{i:04d}",
                "source": source,
                "source_server": source_server,
                "target": target,
                "target_server": target_server,
                "amount": amount,
                "sent_amount": amount,
                "received_amount": amount,
                # Several transactions share each time: ties for the keyset.
                "time": BASE_TIME + (i // 3) * 20_000,
                "revertable": True,
            }
        )
    return made


def backup(count: int = 90, seed: int = 12) -> list[dict[str, Any]]:
    history = _history(count, seed)
    records = []
    for index, name in enumerate(SERVERS):
        mine = [t for t in history if name in (t["source_server"], t["target_server"])]
        records.append(
            {
                "version": 0,
                "name": name,
                "balance": 1_000_000 * (index + 1),
                "target_balance": 0 if index == 0 else 2_000_000,
                "history": list(reversed(mine)),  # newest first
                "pending_transactions": [],
                "token": f"token-of-{name}",
                "webhook_url": None,
            }
        )
    return records


async def fill(ledger: Ledger) -> None:
    """The imported history, then live payments left pending, acknowledged and rejected."""
    await ledger.import_backup(backup())
    alpha, bravo = ledger.server("Alpha"), ledger.server("Bravo")
    assert alpha is not None and bravo is not None
    made = []
    for i in range(12):
        made.append(
            await ledger.pay(
                alpha if i % 2 else bravo,
                source_user="ann" if i % 3 else "dee",
                target_user="bob",
                target_server="Charlie",
                amount=300 + 100 * (i % 4),
                local_currency=False,
            )
        )
    charlie = ledger.server("Charlie")
    assert charlie is not None
    await ledger.acknowledge(charlie, [t.id for t in made[:4]])
    await ledger.reject(charlie, [t.id for t in made[4:7]])


@dataclass
class Api:
    """GETs against a live server's /api/."""

    server: LiveServer
    session: aiohttp.ClientSession

    async def get(
        self, path: str, /, headers: dict[str, str] | None = None, **params: Any
    ) -> tuple[int, Any, Any]:
        query = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()}
        async with self.session.get(
            self.server.url + path, params=query, headers=headers or {}
        ) as response:
            body = await response.json() if response.status != 304 else None
            return response.status, body, response.headers

    async def ok(self, path: str, /, **params: Any) -> Any:
        status, body, _ = await self.get(path, **params)
        assert status == 200, body
        assert body["success"] is True
        return body["result"]

    async def error(self, path: str, expected: int, /, **params: Any) -> dict[str, Any]:
        got, body, headers = await self.get(path, **params)
        assert got == expected, body
        assert body["success"] is False
        assert "X-RateLimit-Limit" in headers  # errors carry the rate headers too
        return body

    async def walk(self, **params: Any) -> list[dict[str, Any]]:
        """Every transaction of a query, following next_cursor to the end."""
        rows: list[dict[str, Any]] = []
        page = await self.ok("/api/transactions.json", **params)
        for _ in range(1000):
            rows += page["transactions"]
            cursor = page["pagination"]["next_cursor"]
            if cursor is None:
                return rows
            page = await self.ok("/api/transactions.json", cursor=cursor, **params)
        raise AssertionError("the cursor walk never ended")
