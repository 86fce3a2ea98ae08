"""Webhook signing (Standard Webhooks), the private-address guard and the retry schedule."""

from __future__ import annotations

import base64
import random
import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
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
from lurkcoin.core.errors import LurkcoinError
from lurkcoin.webhooks import new_signing_secret
from lurkcoin.webhooks.delivery import (
    ForbiddenAddress,
    GuardedResolver,
    check_literal_host,
    forbidden_reason,
)
from lurkcoin.webhooks.dispatcher import retry_delay
from lurkcoin.webhooks.signing import secret_key, signature


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return webhook_config(tmp_path)


# -- the address guard ---------------------------------------------------------


@pytest.mark.parametrize(
    "address, kind",
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata
        ("fe80::1%eth0", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("100.64.0.1", "reserved"),  # carrier-grade NAT
        ("240.0.0.1", "private"),  # ipaddress counts 240/4 as private
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:10.0.0.1", "private"),
        ("2002:7f00:1::", "loopback"),  # 6to4 around 127.0.0.1
        ("64:ff9b::a00:1", "private"),  # NAT64 around 10.0.0.1
    ],
)
def test_private_and_special_addresses_are_forbidden(address: str, kind: str) -> None:
    reason = forbidden_reason(address)
    assert reason is not None and kind in reason


@pytest.mark.parametrize(
    "address",
    [
        "93.184.215.14",
        "8.8.8.8",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ],
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert forbidden_reason(address) is None


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "::1", "2130706433", "127.1", "0x7f000001", "10.0.0.1"]
)
def test_literal_hosts_are_checked_before_any_connection(host: str) -> None:
    if host == "0x7f000001":  # not numeric to aiohttp: goes to the resolver, checked there
        check_literal_host(host)
        return
    with pytest.raises(ForbiddenAddress):
        check_literal_host(host)


class FixedDns(AbstractResolver):
    """DNS answers chosen by the test: what a rebinding attacker's name server returns."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses
        self.asked: list[tuple[str, int, socket.AddressFamily]] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append((host, port, family))
        return [
            ResolveResult(
                hostname=host,
                host=a,
                port=port,
                family=socket.AF_INET6 if ":" in a else socket.AF_INET,
                proto=0,
                flags=0,
            )
            for a in self.addresses
        ]

    async def close(self) -> None:
        pass


async def test_the_resolver_connects_only_to_checked_addresses() -> None:
    resolver = GuardedResolver(FixedDns("10.0.0.7", "93.184.215.14", "::1"))
    answers = await resolver.resolve("rebind.example", 80)
    assert [a["host"] for a in answers] == ["93.184.215.14"]
    resolver = GuardedResolver(FixedDns("169.254.169.254", "::ffff:127.0.0.1"))
    with pytest.raises(ForbiddenAddress, match="link-local"):
        await resolver.resolve("rebind.example", 80)
    await resolver.close()


@pytest.mark.parametrize(
    "address, reason",
    [
        ("0.0.0.0", "0.0.0.0 is an unspecified address"),
        ("127.0.0.1", "127.0.0.1 is a loopback address"),
        ("169.254.169.254", "169.254.169.254 is a link-local address"),
        ("224.0.0.1", "224.0.0.1 is a multicast address"),
        ("10.1.2.3", "10.1.2.3 is a private address"),
        ("fec0::1", "fec0::1 is a site-local address"),
        ("100.64.0.1", "100.64.0.1 is a reserved address"),
        ("fe80::1%eth0", "fe80::1%eth0 is a link-local address"),
        ("example.com", "example.com is not an IP address"),
        # Teredo (2001::/32) carries its client's IPv4 address, here 127.0.0.1:
        # judged as that, not as the tunnel prefix (which ipaddress calls private).
        ("2001:0:5db8:d70e:0:0:80ff:fffe", "2001:0:5db8:d70e:0:0:80ff:fffe is a loopback address"),
    ],
)
def test_each_refusal_names_its_reason(address: str, reason: str) -> None:
    assert forbidden_reason(address) == reason


@pytest.mark.parametrize("host", ["93.184.215.14", "2606:4700:4700::1111", "example.com"])
def test_public_literal_hosts_and_names_pass_the_literal_check(host: str) -> None:
    check_literal_host(host)  # names are left to the resolver


def test_a_literal_that_is_not_canonical_says_so() -> None:
    with pytest.raises(ForbiddenAddress, match=r"^refused 127\.1: not a canonical IP address$"):
        check_literal_host("127.1")
    with pytest.raises(ForbiddenAddress, match=r"^refused: 10\.0\.0\.1 is a private address "):
        check_literal_host("10.0.0.1")


async def test_the_resolver_asks_for_the_host_port_and_family_it_was_given() -> None:
    dns = FixedDns("93.184.215.14")
    resolver = GuardedResolver(dns)
    [answer] = await resolver.resolve("hooks.example", 8443, socket.AF_INET6)
    assert dns.asked == [("hooks.example", 8443, socket.AF_INET6)]
    assert (answer["hostname"], answer["port"]) == ("hooks.example", 8443)


async def test_the_resolver_names_every_reason_or_that_there_was_no_address() -> None:
    resolver = GuardedResolver(FixedDns("10.0.0.7", "::1"))
    with pytest.raises(ForbiddenAddress) as refused:
        await resolver.resolve("rebind.example", 80)
    assert str(refused.value) == (
        "refused rebind.example: 10.0.0.7 is a private address; ::1 is a loopback address"
        " ([webhooks] allow_private_addresses is off)"
    )
    with pytest.raises(ForbiddenAddress, match=r"^refused nothing\.example: no address "):
        await GuardedResolver(FixedDns()).resolve("nothing.example", 80)


async def test_the_default_resolver_is_guarded_too() -> None:
    resolver = GuardedResolver()  # the system's resolver: localhost is 127.0.0.1 or ::1
    try:
        with pytest.raises(ForbiddenAddress, match="loopback"):
            await resolver.resolve("localhost", 80)
    finally:
        await resolver.close()


# -- the retry schedule --------------------------------------------------------


def test_retries_back_off_exponentially_with_jitter_up_to_the_cap() -> None:
    rng = random.Random(7)
    firsts = [retry_delay(1, 600, rng) for _ in range(200)]
    assert all(1.0 <= d <= 2.0 for d in firsts)  # the first retry within 2 s
    assert len({round(d, 3) for d in firsts}) > 100  # jittered
    assert all(2.0 <= retry_delay(2, 600, rng) <= 4.0 for _ in range(50))
    assert all(256.0 <= retry_delay(9, 600, rng) <= 512.0 for _ in range(50))
    assert all(300.0 <= retry_delay(n, 600, rng) <= 600.0 for n in (10, 11, 50, 10_000))
    assert all(0.1 <= retry_delay(n, 0.2, rng) <= 0.2 for n in (1, 5))


# -- signing ---------------------------------------------------------------------


def test_a_secret_is_whsec_and_base64_of_32_random_bytes() -> None:
    one, two = new_signing_secret(), new_signing_secret()
    assert one != two and one.startswith("whsec_")
    assert len(secret_key(one)) == 32
    assert base64.b64decode(one[len("whsec_") :]) == secret_key(one)
    for bad in ("", "whsec_", "abc", "whsec_not base64!"):
        with pytest.raises(ValueError):
            secret_key(bad)


def test_the_signature_is_the_standard_webhooks_one() -> None:
    secret = new_signing_secret()
    stamp = 1_700_000_000
    theirs = Webhook(secret).sign("msg_1", datetime.fromtimestamp(stamp, UTC), BODY.decode())
    assert signature(secret, "msg_1", stamp, BODY) == theirs


async def test_a_signed_delivery_verifies_with_standardwebhooks(
    config: Config, receiver: Receiver
) -> None:
    async with serving(config) as (ledger, _):
        await setup_servers(ledger, None)
        url, secret = await ledger.set_webhook("Game", receiver.url, sign=True)
        assert url == receiver.url + "/lurkcoin" and secret is not None
        await pay(ledger)
        [request] = await receiver.wait_for(1)
        assert request.body == BODY
        assert Webhook(secret).verify(request.body, request.headers) == {"version": 0}
        assert request.headers["webhook-id"].startswith("msg_")
        assert request.headers["user-agent"] == "lurkcoin/3.0"
        assert request.headers["content-type"] == "application/json"
        with pytest.raises(WebhookVerificationError):
            Webhook(new_signing_secret()).verify(request.body, request.headers)
        assert (await state_of(ledger)).signed


async def test_a_retry_keeps_its_webhook_id_and_a_new_notification_gets_a_new_one(
    config: Config, receiver: Receiver
) -> None:
    receiver.status = 500
    async with serving(config) as (ledger, _):
        await setup_servers(ledger, None)
        _, secret = await ledger.set_webhook("Game", receiver.url, sign=True)
        assert secret is not None
        await pay(ledger)
        first, retry = await receiver.wait_for(2)
        assert first.headers["webhook-id"] == retry.headers["webhook-id"]
        for request in (first, retry):
            Webhook(secret).verify(request.body, request.headers)
        receiver.status = 200
        await wait_state(ledger, delivered)
        done = len(receiver.requests)
        await pay(ledger)
        later = (await receiver.wait_for(done + 1))[-1]
        assert later.headers["webhook-id"] != first.headers["webhook-id"]


async def test_a_server_rotates_its_secret(config: Config, receiver: Receiver) -> None:
    async with serving(config) as (ledger, _):
        await setup_servers(ledger, None)
        _, old = await ledger.set_webhook("Game", receiver.url, sign=True)
        new = await ledger.rotate_webhook_secret(ledger.require_server("Game"))
        assert new != old and new.startswith("whsec_")
        await pay(ledger)
        [request] = await receiver.wait_for(1)
        Webhook(new).verify(request.body, request.headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(old or "").verify(request.body, request.headers)
        await ledger.remove_webhook_secret("Game")
        assert not (await state_of(ledger)).signed


async def test_changing_the_url_keeps_signing_unless_told(
    config: Config, receiver: Receiver
) -> None:
    async with serving(config) as (ledger, _):
        await setup_servers(ledger, None)
        _, secret = await ledger.set_webhook("Game", "http://example.invalid/", sign=True)
        _, none = await ledger.set_webhook("Game", receiver.url)
        assert none is None and ledger.require_server("Game").webhook_secret == secret
        await pay(ledger)
        [signed] = await receiver.wait_for(1)
        assert secret is not None and Webhook(secret).verify(signed.body, signed.headers)
        await wait_state(ledger, delivered)
        await ledger.set_webhook("Game", receiver.url, sign=False)
        assert not (await state_of(ledger)).signed
        await pay(ledger)
        unsigned = (await receiver.wait_for(2))[-1]
        assert not any(k.startswith("webhook-") for k in unsigned.headers)
        await ledger.set_webhook("Game", None)
        assert ledger.require_server("Game").webhook_url is None


async def test_rotating_needs_a_webhook_url(config: Config) -> None:
    async with serving(config) as (ledger, _):
        await setup_servers(ledger, None)
        for change in (ledger.rotate_webhook_secret, ledger.remove_webhook_secret):
            with pytest.raises(LurkcoinError) as err:
                await change("Game")
            assert err.value.code == "ERR_INVALIDREQUEST"
        assert ledger.require_server("Game").webhook_secret is None
