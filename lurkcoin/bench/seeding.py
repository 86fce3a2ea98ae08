"""The bench's accounts and prefill, written through the Ledger and lurkcoin.store.prefill."""

from __future__ import annotations

from pathlib import Path

from lurkcoin.bench.scenarios import Account
from lurkcoin.config import Config
from lurkcoin.ledger import Ledger

# Every bench server starts with this much, far more than a run can move.
FUND = 100_000_000  # ¤1,000,000.00 in cents
SERVER_PREFIX = "bench-"


def ledger_config(database: Path, url: str = "") -> Config:
    """The bench's ledger: the SQLite file, or the PostgreSQL database at ``url``."""
    config = Config()
    config.database.path = str(database)
    config.database.url = url
    return config


async def seed(
    database: Path, count: int, target_balance: int, url: str = ""
) -> tuple[list[Account], int]:
    """Create (or take over) bench-0 … bench-K-1, funded; returns them and the money in circulation.

    A server left from an earlier run on the same database gets a fresh
    token and is topped up, so a prefilled database can be benched again.
    """
    ledger = await Ledger.open(ledger_config(database, url))
    try:
        accounts = []
        for i in range(count):
            name = f"{SERVER_PREFIX}{i}"
            server = ledger.server(name)
            if server is None:
                _, token = await ledger.create_server(
                    name, balance=FUND, target_balance=target_balance
                )
            else:
                token = await ledger.regenerate_token(server, keep_old=False)
                if server.balance < FUND:
                    await ledger.adjust_balance(name, FUND - server.balance, "bench top-up")
                if server.target_balance != target_balance:
                    await ledger.set_target_balance(server, target_balance)
            accounts.append(Account(name, token))
        return accounts, sum(s.balance for s in ledger.servers())
    finally:
        await ledger.close()


async def ring_ids(database: Path, accounts: list[Account]) -> list[tuple[int, str]]:
    ledger = await Ledger.open(ledger_config(database))
    try:
        servers = [ledger.require_server(a.name) for a in accounts]
        return [(s.id, s.name) for s in servers]
    finally:
        await ledger.close()


async def circulating(database: Path, url: str = "") -> int:
    ledger = await Ledger.open(ledger_config(database, url))
    try:
        return sum(s.balance for s in ledger.servers())
    finally:
        await ledger.close()
