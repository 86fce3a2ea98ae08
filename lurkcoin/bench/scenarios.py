"""What the bench's clients do: one closed loop per client over one keep-alive connection.

- ``pay``: every client pays ¤0.01 from its server to the next one, to a
  named player (so each payment enters the target's pending queue).
- ``balance``: authenticated ``/v3/balance`` reads.
- ``mixed``: 50% balance, 25% pay (to nobody in particular: settled at once),
  10% summary, 10% history, 5% exchange_rates.
- ``explorer``: the public /api/ endpoints in turn (lurkcoin.bench.explorer).
- ``mod``: what the Minetest mod does. Pay players on other servers in local
  currency (``X-Force-OK: true``, like the mod), poll pending every few
  seconds, acknowledge what it sees and now and then reject one (which
  refunds it).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from array import array
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from lurkcoin.bench.client import (
    ConnectionPool,
    Endpoint,
    HttpError,
    basic_auth,
    build_request,
)

SCENARIOS = ("pay", "balance", "mixed", "mod", "explorer")
# The mod's poll period, and how many ids one acknowledgement carries (the
# body limit is 4096 bytes; an id with its quotes and comma is 22).
POLL_SECONDS = 3.0
ACK_CHUNK = 150
REJECT_ONE_IN = 20


@dataclass(frozen=True)
class Account:
    name: str
    token: str

    @property
    def auth(self) -> str:
        return basic_auth(self.name, self.token)


class Stats:
    """Latencies per endpoint and outcomes ("ok" or "<HTTP status> <error code>")."""

    def __init__(self) -> None:
        self.latencies: dict[str, array[float]] = {}
        self.outcomes: Counter[tuple[str, str]] = Counter()

    def record(self, label: str, status: int, body: bytes, seconds: float) -> bool:
        """Count one answered request; True when it succeeded."""
        ok = status == 200 and b'"success":true' in body
        samples = self.latencies.get(label)
        if samples is None:
            samples = self.latencies[label] = array("d")
        samples.append(seconds)
        self.outcomes[(label, "ok" if ok else _failure(status, body))] += 1
        return ok

    def record_failure(self, label: str, reason: str) -> None:
        self.outcomes[(label, reason)] += 1


def _failure(status: int, body: bytes) -> str:
    try:
        code = json.loads(body).get("error")
    except (ValueError, AttributeError):
        code = None
    return f"{status} {code}" if isinstance(code, str) else f"HTTP {status}"


class Discard(Stats):
    """Where warm-up and after-the-bell requests go."""

    def record(self, label: str, status: int, body: bytes, seconds: float) -> bool:
        return status == 200 and b'"success":true' in body

    def record_failure(self, label: str, reason: str) -> None:
        pass


@dataclass
class Run:
    """Shared by all clients: where to send, as whom, and where results go."""

    endpoint: Endpoint
    accounts: list[Account]
    stats: Stats = field(default_factory=Discard)
    stopping: bool = False

    def account(self, index: int) -> Account:
        return self.accounts[index % len(self.accounts)]

    def next_account(self, index: int) -> Account:
        return self.accounts[(index + 1) % len(self.accounts)]


Worker = Callable[[Run, int], Coroutine[Any, Any, None]]


async def _send(run: Run, pool: ConnectionPool, label: str, data: bytes) -> bytes | None:
    """One request, recorded; the body on success, None otherwise."""
    start = time.perf_counter()
    try:
        status, body = await pool.request(data)
    except (HttpError, OSError) as exc:
        run.stats.record_failure(label, f"connection error ({type(exc).__name__})")
        await asyncio.sleep(0.05)
        return None
    stats = run.stats  # read after the answer: the window may have closed meanwhile
    return body if stats.record(label, status, body, time.perf_counter() - start) else None


def _pay_body(
    source_user: str, target_user: str, target: Account, amount: float, local_currency: bool
) -> dict[str, object]:
    return {
        "source": source_user,
        "target": target_user,
        "target_server": target.name,
        "amount": amount,
        "local_currency": local_currency,
    }


async def pay(run: Run, index: int) -> None:
    me, them = run.account(index), run.next_account(index)
    data = build_request(
        run.endpoint,
        "POST",
        "/v3/pay",
        headers=[("Authorization", me.auth)],
        body=_pay_body(f"bench{index}", "player", them, 0.01, False),
    )
    pool = ConnectionPool(run.endpoint)
    try:
        while not run.stopping:
            await _send(run, pool, "pay", data)
    finally:
        pool.close()


async def balance(run: Run, index: int) -> None:
    data = build_request(
        run.endpoint, "GET", "/v3/balance", headers=[("Authorization", run.account(index).auth)]
    )
    pool = ConnectionPool(run.endpoint)
    try:
        while not run.stopping:
            await _send(run, pool, "balance", data)
    finally:
        pool.close()


async def mixed(run: Run, index: int) -> None:
    me, them = run.account(index), run.next_account(index)
    auth = [("Authorization", me.auth)]
    kinds: list[tuple[str, bytes, int]] = [
        ("balance", build_request(run.endpoint, "GET", "/v3/balance", headers=auth), 50),
        (
            "pay",
            build_request(
                run.endpoint,
                "POST",
                "/v3/pay",
                headers=auth,
                body=_pay_body(f"bench{index}", "", them, 0.01, False),
            ),
            25,
        ),
        ("summary", build_request(run.endpoint, "GET", "/v3/summary", headers=auth), 10),
        ("history", build_request(run.endpoint, "GET", "/v3/history", headers=auth), 10),
        (
            "exchange_rates",
            build_request(
                run.endpoint,
                "POST",
                "/v3/exchange_rates",
                body={"source": me.name, "target": them.name, "amount": 12.5},
            ),
            5,
        ),
    ]
    rng = random.Random(index)
    choices = rng.choices(kinds, weights=[w for _, _, w in kinds], k=4096)
    pool = ConnectionPool(run.endpoint)
    try:
        i = 0
        while not run.stopping:
            label, data, _ = choices[i & 4095]
            i += 1
            await _send(run, pool, label, data)
    finally:
        pool.close()


async def mod(run: Run, index: int) -> None:
    """A game server: pays players elsewhere and works through its pending queue."""
    rng = random.Random(index)
    me = run.account(index)
    head = [("Authorization", me.auth), ("X-Force-OK", "true")]
    others = [a for a in run.accounts if a.name != me.name] or [me]
    payments = [
        build_request(
            run.endpoint,
            "POST",
            "/v3/pay",
            headers=head,
            body=_pay_body(
                f"player{rng.randrange(100)}",
                f"player{rng.randrange(100)}",
                rng.choice(others),
                rng.randrange(100, 2000) / 100,
                True,
            ),
        )
        for _ in range(64)
    ]
    poll = build_request(run.endpoint, "GET", "/v3/pending_transactions", headers=head)
    pool = ConnectionPool(run.endpoint)
    # Spread the first polls over one period, as servers that started at different times.
    next_poll = time.monotonic() + rng.uniform(0, POLL_SECONDS)
    try:
        while not run.stopping:
            if time.monotonic() < next_poll:
                await _send(run, pool, "pay", rng.choice(payments))
                continue
            next_poll = time.monotonic() + POLL_SECONDS * rng.uniform(0.8, 1.2)
            body = await _send(run, pool, "pending_transactions", poll)
            if body is not None:
                await _work_through(run, pool, rng, head, json.loads(body)["result"])
    finally:
        pool.close()


async def _work_through(
    run: Run,
    pool: ConnectionPool,
    rng: random.Random,
    head: list[tuple[str, str]],
    pending: list[dict[str, object]],
) -> None:
    ids = [str(t["id"]) for t in pending]
    if ids and rng.randrange(REJECT_ONE_IN) == 0:
        rejected = ids.pop(rng.randrange(len(ids)))
        await _send(
            run,
            pool,
            "reject_transactions",
            build_request(
                run.endpoint,
                "POST",
                "/v3/reject_transactions",
                headers=head,
                body={"transactions": [rejected]},
            ),
        )
    for start in range(0, len(ids), ACK_CHUNK):
        if run.stopping:
            return
        await _send(
            run,
            pool,
            "acknowledge_transactions",
            build_request(
                run.endpoint,
                "POST",
                "/v3/acknowledge_transactions",
                headers=head,
                body={"transactions": ids[start : start + ACK_CHUNK]},
            ),
        )


WORKERS: dict[str, Worker] = {"pay": pay, "balance": balance, "mixed": mixed, "mod": mod}
# Servers in the mod scenario have a target balance, so local currency is really converted.
USES_EXCHANGE_RATES = frozenset({"mod"})
