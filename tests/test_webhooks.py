"""The webhook dispatcher end to end: a real ledger on SQLite, real POSTs to a loopback receiver."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest
from aiohttp import web
from webhook_helpers import (
    BODY,
    Receiver,
    delivered,
    pay,
    serving,
    setup_servers,
    state_of,
    wait_state,
    webhook_config,
)

from lurkcoin.config import Config
from lurkcoin.ledger import Ledger
from lurkcoin.webhooks import (
    DISPATCHER_KEY,
    WebhookDispatcher,
    render_delivery_states,
    webhook_context,
)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return webhook_config(tmp_path)


async def test_a_payment_is_announced_with_the_reference_request(
    config: Config, receiver: Receiver
) -> None:
    async with serving(config) as (ledger, _):
        await setup_servers(ledger, receiver.url)
        started = time.monotonic()
        await pay(ledger)
        [request] = await receiver.wait_for(1, timeout=1.0)
        assert request.at - started < 1.0
        assert request.method == "POST"
        assert request.path == "/hook/lurkcoin"  # the stored URL is normalised
        assert request.body == BODY
        assert sorted(k.lower() for k, _ in request.raw_headers) == [
            "content-length",
            "content-type",
            "host",
            "user-agent",
        ]
        assert request.headers["content-type"] == "application/json"
        assert request.headers["user-agent"] == "lurkcoin/3.0"
        assert request.headers["content-length"] == "14"
        state = await wait_state(ledger, delivered)
        assert state.last_status == 200 and state.consecutive_failures == 0
        assert "ok (200)" in render_delivery_states([state])
        await asyncio.sleep(0.2)
        assert len(receiver.requests) == 1


async def test_nothing_is_sent_without_a_pending_transaction(
    config: Config, receiver: Receiver
) -> None:
    async with serving(config) as (ledger, _):
        await setup_servers(ledger, receiver.url)
        await pay(ledger, user="")  # no target user: settled, nothing enters the queue
        await ledger.create_server("Quiet")
        await pay(ledger, target="Quiet")  # pending, but that server has no webhook
        await asyncio.sleep(0.3)
        assert receiver.requests == []


@pytest.mark.parametrize("concurrent", [False, True], ids=["one-by-one", "all-at-once"])
async def test_a_burst_of_payments_coalesces(
    config: Config, receiver: Receiver, concurrent: bool
) -> None:
    receiver.delay = 0.02  # a receiver that takes a moment, like a game server
    async with serving(config) as (ledger, dispatcher):
        await setup_servers(ledger, receiver.url)
        commits: list[float] = []
        ledger.on_commit(
            lambda o: commits.append(time.monotonic()) if o.notified_server_ids else None
        )
        if concurrent:
            await asyncio.gather(*(pay(ledger) for _ in range(50)))
        else:
            for _ in range(50):
                await pay(ledger)
        assert len(await ledger.pending(ledger.require_server("Game"))) == 50
        await wait_state(ledger, delivered)
        await asyncio.sleep(0.2)
        posts = receiver.requests
        assert 1 <= len(posts) <= 12, len(posts)
        assert dispatcher.deliveries == len(posts)
        # The last POST went out after the last payment was committed.
        assert posts[-1].at > commits[-1]


async def test_a_failing_receiver_gets_it_once_it_recovers(
    config: Config, receiver: Receiver
) -> None:
    receiver.status = 500
    async with serving(config) as (ledger, _):
        await setup_servers(ledger, receiver.url)
        await pay(ledger)
        await receiver.wait_for(2)  # the first try and a retry
        state = await state_of(ledger)
        assert state.pending and state.last_status == 500 and state.last_error == "HTTP 500"
        assert state.consecutive_failures >= 1 and state.next_attempt_at is not None
        table = render_delivery_states([state])
        assert "Game" in table and "HTTP 500" in table
        receiver.status = 200
        state = await wait_state(ledger, delivered)
        assert state.last_status == 200 and state.consecutive_failures == 0
        count = len(receiver.requests)
        await asyncio.sleep(0.3)
        assert len(receiver.requests) == count


class LeastJitter(random.Random):
    """Jitter always at its minimum: each retry comes after exactly half its ceiling."""

    def random(self) -> float:
        return 0.0


async def test_each_retry_waits_by_the_count_of_failures_so_far(
    config: Config, receiver: Receiver
) -> None:
    """The dispatcher's own use of the schedule: after n failures, 2 s x 2^(n-1) (halved)."""
    receiver.status = 500
    config.webhooks.retry_cap = 600.0
    ledger = await Ledger.open(config)
    dispatcher = WebhookDispatcher(ledger, rng=LeastJitter())
    await dispatcher.start()
    try:
        await setup_servers(ledger, receiver.url)
        await pay(ledger)
        waits = []
        for failures in (1, 2):
            state = await wait_state(ledger, lambda s, n=failures: s.attempts == n, timeout=3.0)
            assert state.next_attempt_at is not None and state.last_attempt_at is not None
            waits.append(state.next_attempt_at - state.last_attempt_at)
        assert waits == [pytest.approx(1.0), pytest.approx(2.0)]
        assert len(receiver.requests) == 2
    finally:
        await dispatcher.stop()
        await ledger.close()


@pytest.mark.slow
async def test_a_receiver_down_for_five_seconds_gets_it_when_back(
    config: Config, receiver: Receiver
) -> None:
    port = receiver.port
    await receiver.stop()
    async with serving(config) as (ledger, _):
        await setup_servers(ledger, receiver.url)
        await pay(ledger)
        await asyncio.sleep(5.0)
        state = await state_of(ledger)
        assert state.pending and state.consecutive_failures >= 5
        assert state.last_status is None and "cannot connect" in (state.last_error or "")
        await receiver.start(port)
        back = time.monotonic()
        [request] = await receiver.wait_for(1, timeout=2.0)
        assert request.at - back < config.webhooks.retry_cap + 0.5
        await wait_state(ledger, delivered)


async def test_a_pending_delivery_survives_a_restart(config: Config, receiver: Receiver) -> None:
    port = receiver.port
    await receiver.stop()
    async with serving(config) as (ledger, _):
        await setup_servers(ledger, receiver.url)
        await pay(ledger)
        await wait_state(ledger, lambda s: s.consecutive_failures >= 1)
    await receiver.start(port)
    assert receiver.requests == []
    async with serving(config) as (ledger, _):
        await receiver.wait_for(1, timeout=2.0)
        await wait_state(ledger, delivered)


async def test_stopping_mid_delivery_hands_the_row_back(config: Config, receiver: Receiver) -> None:
    receiver.delay = 30.0  # hangs: the dispatcher is stopped while the POST is in flight
    async with serving(config) as (ledger, _):
        await setup_servers(ledger, receiver.url)
        await pay(ledger)
        await receiver.wait_for(1)
    receiver.delay = 0.0
    async with serving(config) as (ledger, _):
        # Due at once, not after the claim's lease (timeout + 5 s) runs out.
        await receiver.wait_for(2, timeout=1.0)
        await wait_state(ledger, delivered)


async def test_giving_up_drops_the_notification(config: Config, receiver: Receiver) -> None:
    receiver.status = 503
    # queued_at has the payment's whole-second time: 1.5 s leaves at least 0.5 s of retries.
    config.webhooks.give_up_after = 1.5
    config.webhooks.retry_cap = 0.2
    async with serving(config) as (ledger, _):
        await setup_servers(ledger, receiver.url)
        await pay(ledger)
        state = await wait_state(ledger, lambda s: s.gave_up_at is not None)
        assert not state.pending and state.last_error == "HTTP 503"
        count = len(receiver.requests)
        assert count >= 2
        await asyncio.sleep(0.4)
        assert len(receiver.requests) == count
        # The next payment is a new notification.
        receiver.status = 200
        await pay(ledger)
        state = await wait_state(ledger, delivered)
        assert state.gave_up_at is None


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_private_addresses_are_refused_unless_allowed(
    config: Config, receiver: Receiver, host: str
) -> None:
    config.webhooks.allow_private_addresses = False
    async with serving(config) as (ledger, _):
        await setup_servers(ledger, f"http://{host}:{receiver.port}/hook")
        await pay(ledger)
        state = await wait_state(ledger, lambda s: s.last_error is not None)
        assert "loopback" in (state.last_error or "") and state.pending
        assert state.last_status is None
        await asyncio.sleep(0.3)  # retries are refused too
        assert receiver.requests == []


async def test_a_redirect_is_not_followed(config: Config, receiver: Receiver) -> None:
    receiver.redirect_to = "/elsewhere"
    async with serving(config) as (ledger, _):
        await setup_servers(ledger, receiver.url)
        await pay(ledger)
        state = await wait_state(ledger, lambda s: s.last_status is not None)
        assert state.last_status == 302 and state.pending
        assert "redirect" in (state.last_error or "")
        await asyncio.sleep(0.3)
        assert receiver.requests and receiver.on("/elsewhere") == []


async def test_a_slow_receiver_delays_neither_payments_nor_other_receivers(
    config: Config, receiver: Receiver
) -> None:
    slow = Receiver(delay=0.8)
    await slow.start()
    try:
        async with serving(config) as (ledger, _):
            await setup_servers(ledger, slow.url)
            await ledger.create_server("Fast", webhook_url=receiver.url)
            await pay(ledger)
            await slow.wait_for(1)
            started = time.monotonic()
            for _ in range(5):
                await pay(ledger)  # to the slow one, while its POST hangs
            assert time.monotonic() - started < 0.5
            await pay(ledger, target="Fast")
            await receiver.wait_for(1, timeout=0.5)
            assert len(slow.requests) == 1  # never two at once for one server
            await slow.wait_for(2, timeout=3.0)  # then the newer payments are announced
    finally:
        await slow.stop()


async def test_concurrency_is_bounded(config: Config, receiver: Receiver) -> None:
    config.webhooks.concurrency = 2
    receiver.delay = 0.2
    async with serving(config) as (ledger, _):
        await ledger.create_server("Bank", balance=1_000_000)
        names = [f"Game{i}" for i in range(6)]
        for name in names:
            await ledger.create_server(name, webhook_url=f"{receiver.url}/{name}")
        for name in names:
            await pay(ledger, target=name)
        await receiver.wait_for(6)
        assert receiver.max_active == 2
        assert sorted(r.path for r in receiver.requests) == sorted(
            f"/hook/{name}/lurkcoin" for name in names
        )


async def test_the_app_context_runs_the_dispatcher(config: Config, receiver: Receiver) -> None:
    ledger_key = web.AppKey("ledger", Ledger)
    ledger = await Ledger.open(config)
    app = web.Application()
    app[ledger_key] = ledger
    app.cleanup_ctx.append(webhook_context(ledger_key))
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    try:
        assert app[DISPATCHER_KEY].running
        await setup_servers(ledger, receiver.url)
        await pay(ledger)
        await receiver.wait_for(1)
    finally:
        await runner.cleanup()
        await ledger.close()
    assert not app[DISPATCHER_KEY].running
