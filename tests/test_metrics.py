"""/metrics, read with prometheus-client's own parser: every metric moves as the server works."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from auth_helpers import Client, basic
from live_server import LiveServer, start_server_with
from prometheus_client.parser import text_string_to_metric_families
from webhook_helpers import Receiver, webhook_config

from lurkcoin.api.app import LEDGER_KEY
from lurkcoin.api.metrics import _allowed
from lurkcoin.config import Config
from lurkcoin.webhooks import webhook_context

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(server: LiveServer) -> Samples:
    async with Client(server.port) as client:
        reply = await client.call("GET", "/metrics")
    assert reply.status == 200
    assert reply.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8"
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(reply.body)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def _bank(config: Config, with_dispatcher: bool) -> tuple[LiveServer, dict[str, str]]:
    contexts = [webhook_context(LEDGER_KEY)] if with_dispatcher else []
    server = await start_server_with(config, None, contexts)
    tokens = {}
    for name, cents in (("Bank", 1_000_000), ("Game", 0)):
        _, tokens[name] = await server.ledger.create_server(name, balance=cents)
    return server, tokens


async def _pay(client: Client, tokens: dict[str, str], amount: float) -> int:
    reply = await client.call(
        "POST",
        "/v3/pay",
        basic("Bank", tokens["Bank"]),
        body={"target_server": "Game", "target": "bob", "amount": amount},
    )
    return reply.status


async def test_request_payment_writer_backlog_throttle_and_process_metrics_move(
    tmp_path: Path,
) -> None:
    config = webhook_config(tmp_path)
    config.security.failures_per_address = 2
    server, tokens = await _bank(config, with_dispatcher=False)
    try:
        # Deliveries wait (no dispatcher here), so the outbox row grows old.
        await server.ledger.set_webhook("Game", "http://127.0.0.1:9/hook")
        before = await scrape(server)
        async with Client(server.port) as client:
            assert await _pay(client, tokens, 1.5) == 200
            assert await _pay(client, tokens, 1e9) == 400  # over the max spend
            assert (await client.call("GET", "/v3/nonexistent")).status == 404
        async with Client(server.port, "127.0.0.2") as stranger:
            for _ in range(3):
                await stranger.call("GET", "/v3/balance", basic("Bank", "wrong"))
        await asyncio.sleep(1.1)  # pending and outbox ages are whole seconds
        after = await scrape(server)
    finally:
        await server.stop()

    def moved(name: str, **labels: str) -> bool:
        return value(after, name, **labels) > value(before, name, **labels)

    pay_route = {"route": "/v3/pay"}
    assert moved("lurkcoin_http_requests_total", method="POST", status="200", **pay_route)
    assert moved("lurkcoin_http_requests_total", method="POST", status="400", **pay_route)
    assert moved("lurkcoin_http_request_duration_seconds_count", **pay_route)
    assert moved("lurkcoin_http_request_duration_seconds_bucket", le="+Inf", **pay_route)
    assert moved("lurkcoin_payments_total", result="ok")
    assert moved("lurkcoin_payments_total", result="ERR_TRANSACTIONLIMIT")
    assert moved("lurkcoin_api_errors_total", code="ERR_TRANSACTIONLIMIT")
    assert moved("lurkcoin_api_errors_total", code="ERR_INVALIDLOGIN")
    assert moved("lurkcoin_write_batches_total")
    assert moved("lurkcoin_batched_operations_total")
    assert moved("lurkcoin_write_batch_size_count")
    assert moved("lurkcoin_commit_duration_seconds_count")
    assert moved("lurkcoin_commit_duration_seconds_sum")
    assert moved("lurkcoin_pending_transactions")
    assert moved("lurkcoin_pending_oldest_age_seconds")
    assert moved("lurkcoin_webhook_outbox_depth")
    assert moved("lurkcoin_webhook_outbox_oldest_due_age_seconds")
    assert moved("lurkcoin_login_throttle_blocks_total", kind="address")
    # The process collector is there and counts (in 10 ms ticks: a warm process can
    # serve these few requests within one tick, so "moved" would be load-dependent).
    cpu = "process_cpu_seconds_total"
    assert value(after, cpu) >= value(before, cpu) > 0
    if not config.database.url:  # SQLite's file; PostgreSQL has its own
        assert moved("lurkcoin_wal_bytes")
        assert value(after, "lurkcoin_database_bytes") > 0
    assert value(after, "lurkcoin_servers") == 2
    assert value(after, "lurkcoin_writes_failing") == 0
    assert value(after, "process_resident_memory_bytes") > 1_000_000
    assert value(after, "process_open_fds") > 0
    # Labels come from route templates, never from what a client typed.
    assert not any("/v3/nonexistent" in str(labels) for _, labels in after)


async def test_webhook_delivery_outcomes_move(tmp_path: Path, receiver: Receiver) -> None:
    config = webhook_config(tmp_path)
    server, tokens = await _bank(config, with_dispatcher=True)
    try:
        before = await scrape(server)
        await server.ledger.set_webhook("Game", receiver.url)
        async with Client(server.port) as client:
            assert await _pay(client, tokens, 1) == 200
            deadline = time.monotonic() + 10
            while (
                value(
                    await scrape(server), "lurkcoin_webhook_deliveries_total", outcome="delivered"
                )
                < 1
            ):
                assert time.monotonic() < deadline, "no delivery counted"
                await asyncio.sleep(0.05)
            receiver.status = 500
            assert await _pay(client, tokens, 1) == 200
            while (
                value(await scrape(server), "lurkcoin_webhook_deliveries_total", outcome="failed")
                < 1
            ):
                assert time.monotonic() < deadline, "no failed delivery counted"
                await asyncio.sleep(0.05)
    finally:
        await server.stop()
    assert value(before, "lurkcoin_webhook_deliveries_total", outcome="delivered") == 0


async def test_metrics_need_loopback_or_the_bearer_token(tmp_path: Path) -> None:
    config = webhook_config(tmp_path)
    config.metrics.bearer_token = "metrics-token-42"
    server, _ = await _bank(config, with_dispatcher=False)
    try:
        # A request as it would arrive from another host.
        async with Client(server.port) as client:
            local = await client.call("GET", "/metrics")
        assert local.status == 200
        from aiohttp.test_utils import make_mocked_request

        def remote(headers: dict[str, str]) -> bool:
            request = make_mocked_request("GET", "/metrics", headers=headers, app=server.app)
            return _allowed(request.clone(remote="192.0.2.7"))

        assert remote({"Authorization": "Bearer metrics-token-42"})
        assert not remote({"Authorization": "Bearer wrong"})
        assert not remote({})
        config.metrics.bearer_token = ""
        assert not remote({"Authorization": "Bearer "})
    finally:
        await server.stop()
