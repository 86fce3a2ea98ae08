"""Failed-login throttling: per address and per account, with the defaults, over real HTTP."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from auth_helpers import Bank, basic, key_auth, start_bank
from live_server import StartServer
from multidict import CIMultiDict

from lurkcoin.api.throttle import (
    THROTTLE_KEY,
    FailureCounter,
    LoginThrottle,
    TooManyFailures,
    client_address,
    throttle_key,
)
from lurkcoin.config import SecuritySection

PAY = {"source": "u", "target": "v", "target_server": "Bravo", "amount": 1}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def bank(bank: Bank) -> Bank:
    """The shared bank: default limits (10 per address, 20 per account, 60 s), a fake clock."""
    bank.server.app[THROTTLE_KEY].clock = FakeClock()
    return bank


def clock(bank: Bank) -> FakeClock:
    fake = bank.server.app[THROTTLE_KEY].clock
    assert isinstance(fake, FakeClock)
    return fake


# -- the acceptance test ---------------------------------------------------------------


async def test_brute_force_gets_429_while_the_right_token_works_elsewhere(bank: Bank) -> None:
    assert SecuritySection().failures_per_address == 10
    codes = []
    async with bank.client("127.0.0.1") as attacker, bank.client("127.0.0.2") as player:
        for attempt in range(100):
            reply = await attacker.call("GET", "/v3/balance", basic("Alpha", f"guess-{attempt}"))
            codes.append((reply.status, reply.error))
            if attempt % 10 == 0:
                assert (await player.call("GET", "/v3/balance", bank.auth("Alpha"))).result == 1000
        assert codes[:10] == [(401, "ERR_INVALIDLOGIN")] * 10
        assert codes[10:] == [(429, "ERR_TOOMANYREQUESTS")] * 90
        # The blocked address is refused before its credentials are looked at.
        blocked = await attacker.call("GET", "/v3/balance", bank.auth("Alpha"))
        assert (blocked.status, blocked.error) == (429, "ERR_TOOMANYREQUESTS")
        assert (await player.call("POST", "/v3/pay", bank.auth("Alpha"), body=PAY)).result
    # Only the first 10 failures were counted against the account: it is not throttled.
    async with bank.client("127.0.0.3") as other:
        wrong = await other.call("GET", "/v3/balance", basic("Alpha", "nope"))
        assert (wrong.status, wrong.error) == (401, "ERR_INVALIDLOGIN")


async def test_429_has_retry_after_until_the_window_frees_a_slot(bank: Bank) -> None:
    fake = clock(bank)
    async with bank.client() as client:
        for second in range(10):
            fake.now = 1000.0 + second
            assert (await client.call("GET", "/v3/balance", basic("Alpha", "x"))).status == 401
        fake.now = 1010.5
        reply = await client.call("GET", "/v3/summary", basic("Alpha", "x"))
        assert (reply.status, reply.error) == (429, "ERR_TOOMANYREQUESTS")
        assert reply.body["message"] == "Too many failed login attempts. Try again later."
        # The oldest failure (t=1000) leaves the window at t=1060: 49.5 s, rounded up.
        assert reply.header("Retry-After") == "50"
        forced = await client.call(
            "GET", "/v3/summary", basic("Alpha", "x"), headers={"X-Force-OK": "true"}
        )
        assert (forced.status, forced.error, forced.header("Retry-After")) == (
            200,
            "ERR_TOOMANYREQUESTS",
            "50",
        )
        fake.now = 1060.0
        # One slot is free: one more guess is checked, then the address is blocked again.
        assert (await client.call("GET", "/v3/balance", basic("Alpha", "y"))).status == 401
        again = await client.call("GET", "/v3/balance", basic("Alpha", "y"))
        assert (again.status, again.header("Retry-After")) == (429, "1")
        fake.now = 1200.0
        assert (await client.call("GET", "/v3/balance", bank.auth("Alpha"))).result == 1000


async def test_every_authenticated_endpoint_is_throttled(bank: Bank) -> None:
    async with bank.client() as client:
        for _ in range(10):
            await client.call("GET", "/v3/balance", basic("Alpha", "x"))
        calls: list[tuple[str, str, Any]] = [
            ("POST", "/v3/pay", PAY),
            ("GET", "/v3/summary", None),
            ("GET", "/v3/history", None),
            ("GET", "/v3/pending_transactions", None),
            ("POST", "/v3/acknowledge_transactions", {"transactions": []}),
            ("POST", "/v3/reject_transactions", {"transactions": []}),
            ("GET", "/v3/target_balance", None),
            ("PUT", "/v3/target_balance", {"target_balance": 5}),
            ("GET", "/v3/webhook_url", None),
            ("POST", "/v3/regenerate_token", None),
            ("POST", "/v3/api_keys", {"scopes": ["balance"]}),
            ("GET", "/v3/list_api_keys", None),
            ("POST", "/v3/revoke_api_key", {"id": 1}),
        ]
        for method, path, body in calls:
            reply = await client.call(method, path, bank.auth("Alpha"), body=body)
            assert (reply.status, reply.error) == (429, "ERR_TOOMANYREQUESTS"), path
        # Endpoints without a login are not affected.
        assert (await client.call("GET", "/v3/version")).result["version"]
        quote = {"source": "Alpha", "target": "Bravo", "amount": 1}
        assert (await client.call("POST", "/v3/exchange_rates", body=quote)).result == 1
    alpha = bank.server.ledger.server("alpha")
    assert alpha is not None and alpha.balance == 100_000  # nothing was paid


# -- per account -------------------------------------------------------------------------


async def test_an_attacked_account_still_logs_in_with_its_token(
    serve: StartServer, tmp_path: Path
) -> None:
    # Trusting the loopback proxy lets one test play 25 different client addresses.
    bank = await start_bank(serve, tmp_path, trusted_proxies=["127.0.0.1"])

    def via(n: int) -> dict[str, str]:
        return {"X-Forwarded-For": f"198.51.100.{n}"}

    async with bank.client() as client:
        for n in range(20):  # 20 addresses, one failure each: no address is blocked
            reply = await client.call("GET", "/v3/balance", basic("alpha", "x"), headers=via(n))
            assert reply.status == 401
        wrong = await client.call("GET", "/v3/balance", basic("ALPHA", "x"), headers=via(21))
        assert (wrong.status, wrong.error) == (429, "ERR_TOOMANYREQUESTS")
        assert 1 <= int(wrong.header("Retry-After") or 0) <= 60
        right = await client.call("GET", "/v3/balance", bank.auth("Alpha"), headers=via(22))
        assert right.result == 1000
        assert (
            await client.call("POST", "/v3/pay", bank.auth("Alpha"), body=PAY, headers=via(0))
        ).result["amount"] == 1.0
        # Other accounts are not affected.
        other = await client.call("GET", "/v3/balance", basic("Bravo", "x"), headers=via(23))
        assert (other.status, other.error) == (401, "ERR_INVALIDLOGIN")


async def test_successful_logins_and_missing_credentials_are_not_counted(bank: Bank) -> None:
    throttle = bank.server.app[THROTTLE_KEY]
    async with bank.client() as client:
        for _ in range(30):
            assert (await client.call("GET", "/v3/balance", bank.auth("Alpha"))).status == 200
            assert (await client.call("GET", "/v3/balance")).status == 401
            malformed = {"Authorization": "Basic !!!"}
            assert (await client.call("GET", "/v3/balance", malformed)).status == 401
    assert len(throttle.addresses) == 0 and len(throttle.accounts) == 0


async def test_wrong_api_keys_count_as_failures(bank: Bank) -> None:
    async with bank.client() as client:
        for n in range(10):
            reply = await client.call("GET", "/v3/balance", key_auth(f"lk_wrong{n}"))
            assert reply.status == 401
        reply = await client.call("GET", "/v3/balance", bank.auth("Alpha"))
        assert reply.status == 429


async def test_unknown_account_names_are_not_tracked(bank: Bank) -> None:
    throttle = bank.server.app[THROTTLE_KEY]
    async with bank.client() as client:
        for n in range(5):
            await client.call("GET", "/v3/balance", basic(f"nobody{n}", "x"))
        await client.call("GET", "/v3/balance", basic("Alpha", "x"))
    assert len(throttle.addresses) == 1 and len(throttle.accounts) == 1


async def test_failed_logins_are_logged_without_the_secret(
    bank: Bank, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    guesses = [f"secret-guess-{n}" for n in range(12)]
    async with bank.client("127.0.0.2") as client:
        for guess in guesses:
            await client.call("GET", "/v3/balance", basic("Alpha", guess))
    failures = [r for r in caplog.records if r.getMessage().startswith("failed login")]
    assert len(failures) == 10 and all(r.levelno == logging.INFO for r in failures)
    assert failures[0].getMessage() == "failed login for account 'Alpha' from 127.0.0.2"
    assert any("throttling logins from 127.0.0.2" in r.getMessage() for r in caplog.records)
    assert not any(guess in caplog.text for guess in guesses)


async def test_unknown_names_are_not_logged(bank: Bank, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    swapped = basic(bank.tokens["Alpha"], "Alpha")  # a client that mixed up name and token
    async with bank.client() as client:
        assert (await client.call("GET", "/v3/balance", swapped)).status == 401
        assert (await client.call("GET", "/v3/balance", key_auth("lk_nope"))).status == 401
    assert [r.getMessage() for r in caplog.records if r.name == "lurkcoin.api.auth"] == [
        "failed login for an unknown account from 127.0.0.1",
        "failed login for an API key from 127.0.0.1",
    ]
    assert bank.tokens["Alpha"][:8] not in caplog.text


# -- X-Forwarded-For -------------------------------------------------------------------


async def test_forwarded_for_is_ignored_unless_the_peer_is_trusted(bank: Bank) -> None:
    async with bank.client() as client:
        for n in range(10):
            spoofed = {"X-Forwarded-For": f"203.0.113.{n}"}
            await client.call("GET", "/v3/balance", basic("Alpha", "x"), headers=spoofed)
        fresh = {"X-Forwarded-For": "203.0.113.200"}
        assert (
            await client.call("GET", "/v3/balance", bank.auth("Alpha"), headers=fresh)
        ).status == 429


async def test_trusted_proxy_throttles_the_forwarded_client(
    serve: StartServer, tmp_path: Path
) -> None:
    bank = await start_bank(serve, tmp_path, trusted_proxies=["127.0.0.0/8", "10.0.0.0/8"])
    attacker = {"X-Forwarded-For": "forged, 203.0.113.9, 10.1.2.3"}
    async with bank.client() as proxy:
        for _ in range(10):
            await proxy.call("GET", "/v3/balance", basic("Alpha", "x"), headers=attacker)
        blocked = await proxy.call("GET", "/v3/balance", bank.auth("Alpha"), headers=attacker)
        assert blocked.status == 429
        # Changing the part the attacker controls does not help...
        moved = {"X-Forwarded-For": "1.2.3.4, 203.0.113.9, 10.1.2.3"}
        assert (
            await proxy.call("GET", "/v3/balance", bank.auth("Alpha"), headers=moved)
        ).status == 429
        # ...and other clients behind the same proxy are not blocked.
        player = {"X-Forwarded-For": "203.0.113.10, 10.1.2.3"}
        assert (
            await proxy.call("GET", "/v3/balance", bank.auth("Alpha"), headers=player)
        ).result == 1000


def _request(remote: str, forwarded: list[str]) -> web.Request:
    headers = CIMultiDict([("X-Forwarded-For", value) for value in forwarded])
    return make_mocked_request("GET", "/", headers=headers).clone(remote=remote)


@pytest.mark.parametrize(
    "remote, forwarded, expected",
    [
        ("192.0.2.1", ["203.0.113.5"], "192.0.2.1"),  # peer not trusted
        ("10.0.0.1", [], "10.0.0.1"),  # trusted, no header
        ("10.0.0.1", ["203.0.113.5"], "203.0.113.5"),
        ("10.0.0.1", ["1.1.1.1, 203.0.113.5"], "203.0.113.5"),  # right-most untrusted
        ("10.0.0.1", ["1.1.1.1", "203.0.113.5, 10.0.0.7"], "203.0.113.5"),  # several headers
        ("10.0.0.1", ["10.0.0.2, 10.0.0.3"], "10.0.0.2"),  # all trusted: left-most
        ("10.0.0.1", ["[2001:db8::1]:4711"], "2001:db8::1"),
        ("10.0.0.1", ["203.0.113.5:4711"], "203.0.113.5"),
        ("10.0.0.1", ["not-an-ip"], "not-an-ip"),
        ("::ffff:10.0.0.1", ["203.0.113.5"], "203.0.113.5"),  # IPv4-mapped peer
        ("::1", ["203.0.113.5"], "::1"),
        ("10.0.0.1", ["[2001:db8::1]:4711]"], "2001:db8::1"),  # up to the first "]"
        ("::ffff:192.0.2.1", ["203.0.113.5"], "192.0.2.1"),  # untrusted mapped peer
    ],
)
def test_client_address(remote: str, forwarded: list[str], expected: str) -> None:
    throttle = LoginThrottle(10, 20, 60.0, ["10.0.0.0/8"])
    assert client_address(_request(remote, forwarded), throttle.trusted) == expected


@pytest.mark.parametrize(
    "address, key",
    [
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),  # same /64
        ("2001:0db8:0001:0002:0000:0000:0000:0009", "2001:db8:1:2::/64"),  # long spelling
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),  # the next /64
        ("2001:db8:1:2:8000::", "2001:db8:1:2::/64"),  # top bit of the host half
        ("::1", "::/64"),
        ("192.0.2.1", "192.0.2.1"),  # IPv4: the address itself
        ("192.0.2.2", "192.0.2.2"),
        ("not-an-ip", "not-an-ip"),
    ],
)
def test_throttle_key_groups_ipv6_by_64(address: str, key: str) -> None:
    assert throttle_key(address) == key


def test_failures_are_counted_against_the_clients_64() -> None:
    throttle = LoginThrottle(2, 20, 60.0)
    throttle.clock = lambda: 1000.0
    first, second = (_request(f"2001:db8:1:2::{n}", []) for n in (1, 2))
    assert throttle.address(first) == throttle.address(second) == "2001:db8:1:2::/64"
    throttle.record_failure(throttle.address(first), None)
    throttle.record_failure(throttle.address(second), None)
    with pytest.raises(TooManyFailures):  # a third address of the same /64 is blocked too
        throttle.check_address(_request("2001:db8:1:2::3", []))
    throttle.check_address(_request("2001:db8:1:5::1", []))  # another /64 is not


def test_the_metrics_count_each_failure_that_blocks() -> None:
    """blocks: failures that used up an address's or an account's last allowed one.

    (The app checks both before it counts a login, so a blocked client's
    later attempts are refused before they reach record_failure.)
    """
    throttle = LoginThrottle(2, 3, 60.0)
    throttle.clock = lambda: 1000.0
    outcomes = [throttle.record_failure("192.0.2.1", "alpha") for _ in range(3)]
    assert [(f.address_now_blocked, f.account_now_blocked) for f in outcomes] == [
        (False, False),
        (True, False),  # the address's second failure
        (True, True),  # the account's third
    ]
    assert throttle.blocks == {"address": 2, "account": 1}
    throttle.record_failure("192.0.2.2", None)
    throttle.record_failure("192.0.2.2", None)  # another address, no account named
    assert throttle.blocks == {"address": 3, "account": 1}


# -- the counter itself ---------------------------------------------------------------------


def test_counter_is_a_sliding_window() -> None:
    counter = FailureCounter(limit=3, window=60.0)
    assert counter.blocked_for("a", 0.0) is None
    assert [counter.record("a", t) for t in (0.0, 10.0, 20.0)] == [False, False, True]
    assert counter.blocked_for("a", 20.0) == 40.0
    assert counter.blocked_for("b", 20.0) is None
    assert counter.blocked_for("a", 60.0) is None  # the failure at 0 has left the window
    counter.record("a", 60.0)
    assert counter.blocked_for("a", 61.0) == 9.0  # now the one at 10 is the oldest


def test_counter_forgets_stale_keys_and_caps_its_size() -> None:
    counter = FailureCounter(limit=2, window=60.0, max_keys=100)
    for n in range(50):
        counter.record(f"old{n}", 0.0)
    counter.record("new", 100.0)  # every old key's last failure left the window
    assert len(counter) == 1
    for n in range(1000):
        counter.record(f"k{n}", 200.0)
    assert len(counter) == 100
    assert counter.blocked_for("k999", 200.0) is None
    counter.record("k999", 200.0)
    assert counter.blocked_for("k999", 200.0) == 60.0


def test_defaults() -> None:
    section = SecuritySection()
    assert (
        section.failures_per_address,
        section.failures_per_account,
        section.failure_window,
        section.trusted_proxies,
    ) == (10, 20, 60.0, [])
    throttle = LoginThrottle.from_config(section)
    assert (throttle.addresses.limit, throttle.accounts.limit) == (10, 20)


def test_a_request_without_a_peer_address_counts_as_unknown() -> None:
    request = make_mocked_request("GET", "/")
    assert request.remote is None
    assert client_address(request, ()) == "unknown"
    assert client_address(request, LoginThrottle(10, 20, 60.0, ["10.0.0.0/8"]).trusted) == "unknown"


def test_a_failure_uses_up_the_last_one_only_inside_the_window() -> None:
    counter = FailureCounter(limit=2, window=60.0)
    assert counter.record("a", 0.0) is False
    assert counter.record("a", 60.0) is False  # the first failure is exactly a window old
    assert counter.blocked_for("a", 60.0) is None
    assert counter.record("a", 61.0) is True  # 60 and 61 are both inside
    assert counter.blocked_for("a", 61.0) == 59.0


def test_a_key_whose_newest_failure_is_a_window_old_is_forgotten() -> None:
    counter = FailureCounter(limit=2, window=60.0)
    counter.record("old", 0.0)
    counter.record("new", 60.0)
    assert len(counter) == 1


def test_a_failure_reports_which_counter_it_used_up() -> None:
    throttle = LoginThrottle(3, 2, 60.0)
    throttle.clock = lambda: 1000.0
    first = throttle.record_failure("192.0.2.1", "alpha")
    assert (first.address_now_blocked, first.account_now_blocked) == (False, False)
    second = throttle.record_failure("192.0.2.2", "alpha")
    assert (second.address_now_blocked, second.account_now_blocked) == (False, True)
    assert throttle.account_blocked_for("alpha") == 60.0
    assert throttle.account_blocked_for("bravo") is None


def test_trusted_proxies_may_be_written_with_host_bits() -> None:
    throttle = LoginThrottle(10, 20, 60.0, ["10.1.2.3/8", "2001:db8::1/64"])
    assert [str(n) for n in throttle.trusted] == ["10.0.0.0/8", "2001:db8::/64"]


def test_both_counters_keep_at_most_max_keys() -> None:
    throttle = LoginThrottle(10, 20, 60.0, max_keys=5)
    for n in range(20):
        throttle.record_failure(f"192.0.2.{n}", f"account{n}")
    assert (len(throttle.addresses), len(throttle.accounts)) == (5, 5)
