"""Bad input on every /v2 endpoint: the spec's error text, never a 500 or a dropped connection.

Missing and duplicated parameters, amounts that are not numbers, over-long
names, bodies over 4096 bytes, invalid UTF-8 and malformed forms and JSON,
over GET and POST. Nothing here may change state, and the ledger's check
stays clean.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from auth_helpers import Bank, start_bank
from live_server import StartServer
from rawhttp import RawResponse, request

from lurkcoin.api.logmask import MaskTokens, mask_tokens
from lurkcoin.api.v2_routes import V2_ENDPOINTS

TEXT = "text/plain; charset=utf-8"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}
ENDPOINTS = [e.path.removeprefix("/v2/") for e in V2_ENDPOINTS if e.result is not None]
LOGIN_ENDPOINTS = [e for e in ENDPOINTS if e not in ("exchange_rates", "get_exchange_rate")]
INVALID_LOGIN = "ERROR: Invalid login!"
INVALID_NUMBER = "ERROR: Invalid number!"
TOO_LARGE = "ERROR: Request body too large. You may send a maximum of 4096 bytes."


@pytest.fixture
async def bank(serve: StartServer, tmp_path: Path) -> Bank:
    # Failed logins are the point here: keep the throttle out of the way.
    return await start_bank(serve, tmp_path, failures_per_address=10_000)


def alpha(bank: Bank) -> str:
    return f"name=Alpha&token={bank.tokens['Alpha']}"


def assert_error(reply: RawResponse, status: int, text: str) -> None:
    assert (reply.status, reply.header("Content-Type"), reply.text) == (status, TEXT, text)


async def assert_unchanged(bank: Bank) -> None:
    ledger = bank.server.ledger
    found = {s.uid: (s.balance, s.target_balance) for s in ledger.servers()}
    assert found == {"alpha": (100_000, 0), "bravo": (50_000, 0)}
    assert await ledger.pending(ledger.require_server("bravo")) == []
    report = await ledger.check()
    assert report.ok, report.problems


# -- every endpoint -----------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_junk_on_every_endpoint_is_never_a_server_error(bank: Bank, endpoint: str) -> None:
    path = f"/v2/{endpoint}"
    token = bank.tokens["Alpha"]
    junk: list[tuple[str, str, dict[str, str], bytes | None]] = [
        ("GET", path, {}, None),
        ("POST", path, {}, b""),
        ("GET", f"{path}?name=Alpha&token={token}&amount=%ZZ", {}, None),
        ("GET", f"{path}?name=Alpha;token={token}", {}, None),
        ("GET", f"{path}?name=%FF%FE&token=%C3&amount=%FF&multiplier=%80&to=%FF", {}, None),
        ("GET", f"{path}?{alpha(bank)}&amount=1e999999&multiplier=1e999999", {}, None),
        ("GET", f"{path}?{alpha(bank)}&amount=NaN&multiplier=inf&json=&simple=", {}, None),
        ("GET", f"{path}?{alpha(bank)}&amount=0x10&multiplier=0x1p3&as_object=%00", {}, None),
        ("GET", f"{path}?{alpha(bank)}&amount=" + "9" * 5000, {}, None),
        ("GET", f"{path}?name={'A' * 3000}&token={token}&server={'b' * 3000}", {}, None),
        ("POST", path, FORM, b"name=Alpha&token=\xff\xfe&amount=\xc3"),
        ("POST", path, FORM, b"name=Alpha&token=%"),
        ("POST", path, JSON, b'{"name": "Alpha", "token": "\xff", "amount": "\xc3("}'),
        ("POST", path, JSON, b'{"name": "Alpha", "token": "x", "amount": [1, {"a": null}]}'),
        ("POST", path, JSON, b'{"name": "\\ud800", "token": 1e999, "amount": NaN}'),
        ("POST", path, JSON, b'["name", "Alpha"]'),
        ("POST", path, JSON, b'{"name": "Alpha"} trailing'),
        ("POST", path, JSON, b"[" * 3000 + b"]" * 3000),
        ("POST", path, {"Content-Type": "multipart/form-data; boundary=x"}, b"--x--"),
        ("POST", path, {"Content-Encoding": "gzip", **FORM}, b"not gzip"),
    ]
    for method, target, headers, body in junk:
        reply = await request(bank.port, method, target, headers=headers, body=body)
        assert reply.status < 500, (target, body, reply.status, reply.text)
        if reply.status >= 400:
            assert reply.header("Content-Type") == TEXT, (target, body)
            assert reply.text.startswith("ERROR: "), (target, body, reply.text)
    await assert_unchanged(bank)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("kind", ["form", "json", "get"])
async def test_a_body_over_4096_bytes_is_413_first(bank: Bank, endpoint: str, kind: str) -> None:
    path = f"/v2/{endpoint}?force_200=200" if kind == "get" else f"/v2/{endpoint}"
    if kind == "json":
        body = b'{"name": "Alpha", "pad": "' + b"x" * 4096 + b'"}'
        headers = JSON
    else:
        body = f"{alpha(bank)}&pad=".encode() + b"x" * 4096
        headers = FORM
    reply = await request(
        bank.port, "GET" if kind == "get" else "POST", path, headers=headers, body=body
    )
    # force_200 is read from the query string alone here.
    assert_error(reply, 200 if kind == "get" else 413, TOO_LARGE)
    exactly = await request(
        bank.port,
        "POST",
        f"/v2/{endpoint}",
        headers=FORM,
        body=f"{alpha(bank)}&pad=".encode().ljust(4096, b"x"),
    )
    assert exactly.status != 413
    await assert_unchanged(bank)


@pytest.mark.parametrize("endpoint", LOGIN_ENDPOINTS)
async def test_missing_or_wrong_credentials_are_invalid_login(bank: Bank, endpoint: str) -> None:
    amount = "&amount=1" if endpoint == "pay" else ""  # pay checks its amount first
    token = bank.tokens["Alpha"]
    for query in (
        "",
        "name=Alpha",
        f"token={token}",
        "name=Alpha&token=",
        f"name=Nobody&token={token}",
        f"name=Alpha&token={token}x",
        f"name={'A' * 5000}&token={token}",
        "name=Alpha&token=%FF",
        f"NAME=Alpha&TOKEN={token}",
        f"name=Bravo&name=Alpha&token={token}",  # the first value wins
        "force_200=200&name=Alpha&token=wrong",  # never forced for 401
    ):
        reply = await request(bank.port, "GET", f"/v2/{endpoint}?{query}{amount}")
        assert_error(reply, 401, INVALID_LOGIN)
    body = f'{{"NAME": "Alpha", "Token": "{token}", "amount": "1"}}'.encode()  # keys are exact
    assert_error(
        await request(bank.port, "POST", f"/v2/{endpoint}", headers=JSON, body=body),
        401,
        INVALID_LOGIN,
    )
    await assert_unchanged(bank)


# -- pay and the number parameters --------------------------------------------------------


@pytest.mark.parametrize(
    "amount",
    [
        "",
        "abc",
        "1,0",
        "1%20",
        "%201",
        "NaN",
        "inf",
        "-inf",
        "0x10",
        "0b1",
        "%C2%A4%C2%A45",
        "1e",
        "1..2",
        "--1",
        "%FF",
        "-5",
        "-0.01",
    ],
)
async def test_pay_amounts_that_are_not_numbers(bank: Bank, amount: str) -> None:
    for force, status in (("", 400), ("&force_200=200", 200)):
        reply = await request(
            bank.port,
            "GET",
            f"/v2/pay?{alpha(bank)}&server=Bravo&target=bob&amount={amount}{force}",
        )
        assert_error(reply, status, INVALID_NUMBER)
    await assert_unchanged(bank)


async def test_pay_checks_in_the_spec_order(bank: Bank) -> None:
    base = f"/v2/pay?{alpha(bank)}&target=bob"
    cases = [
        (
            f"{base}&server=Bravo&amount=1e999999",
            400,
            "ERROR: The amount you specified exceeds the max spend!",
        ),
        (
            f"{base}&server=Bravo&amount=10000.01",
            400,
            "ERROR: The amount you specified exceeds the max spend!",
        ),
        (f"{base}&server=Nowhere&amount=1", 400, "ERROR: Server not found!"),
        (f"{base}&server=%20&amount=1", 400, "ERROR: Server not found!"),
        # Empty server: the instance's configured name, which is no account here.
        (f"{base}&amount=1", 400, "ERROR: Server not found!"),
        (
            f"{base}&server=Bravo&amount=1&source={'s' * 49}",
            400,
            "ERROR: The source username is too long!",
        ),
        (
            f"{base}x{'t' * 48}&server=Bravo&amount=1",
            400,
            "ERROR: The target username is too long!",
        ),
        (f"{base}&server=Bravo&amount=0.001", 400, "ERROR: You cannot pay someone ¤0.00!"),
        (f"{base}&server=Bravo&amount=1001", 400, "ERROR: You cannot afford to do that!"),
        ("/v2/pay?name=Alpha&token=wrong&server=Nowhere&amount=x", 400, INVALID_NUMBER),
    ]
    for target, status, text in cases:
        assert_error(await request(bank.port, "GET", target), status, text)
    # A duplicated amount: the body's value beats the query's, the first beats later ones.
    reply = await request(
        bank.port,
        "POST",
        "/v2/pay?amount=1",
        headers=FORM,
        body=f"{alpha(bank)}&server=Bravo&target=bob&amount=abc&amount=2".encode(),
    )
    assert_error(reply, 400, INVALID_NUMBER)
    await assert_unchanged(bank)


@pytest.mark.parametrize(
    "multiplier",
    [
        "",
        "abc",
        "0",
        "-1",
        "inf",
        "nan",
        "0x1p3",
        "%C2%A41",
        "1e-9",
        "1000.01",
        "1%20",
        "1__0",
        "_1",
        "1e99999999999",
    ],
)
async def test_bad_multipliers(bank: Bank, multiplier: str) -> None:
    reply = await request(
        bank.port, "GET", f"/v2/set_exchange_multiplier?{alpha(bank)}&multiplier={multiplier}"
    )
    assert_error(reply, 400, INVALID_NUMBER)
    await assert_unchanged(bank)


async def test_quotes_with_bad_input(bank: Bank) -> None:
    cases = [
        ("exchange_rates?from=Nobody&amount=1", 400, 'ERROR: The "from" server does not exist!'),
        ("exchange_rates?to=%FF&amount=1", 400, 'ERROR: The "to" server does not exist!'),
        (
            "get_exchange_rate?name=nobody&to=nobody",
            400,
            'ERROR: The "from" server does not exist!',
        ),
        ("exchange_rates?from=alpha&to=bravo&amount=1e999999", 200, "1.0"),
        ("exchange_rates?amount=abc&amount=5", 200, "1.0"),
        (
            "exchange_rates?from=alpha&to=bravo&amount=10000.01",
            400,
            "ERROR: The amount you specified exceeds the max spend!",
        ),
    ]
    for target, status, text in cases:
        reply = await request(bank.port, "GET", f"/v2/{target}")
        assert (reply.status, reply.text) == (status, text), target
    await assert_unchanged(bank)


async def test_remove_transactions_odd_counts_remove_one(bank: Bank) -> None:
    ledger = bank.server.ledger
    bravo = ledger.require_server("bravo")
    for _ in range(6):
        await ledger.pay(
            bravo,
            source_user="b",
            target_user="al",
            target_server="Alpha",
            amount=1,
            local_currency=False,
        )
    for count in ("1.5", "1_0", "0x2", "2%20", "99999999999999999999", "-3", "0", "abc", "%FF"):
        before = len(await ledger.pending(ledger.require_server("alpha")))
        reply = await request(
            bank.port, "GET", f"/v2/remove_transactions?{alpha(bank)}&amount={count}"
        )
        assert (reply.status, reply.text) == (200, "Done!")
        after = len(await ledger.pending(ledger.require_server("alpha")))
        assert before - after == min(1, before), count
    report = await ledger.check()
    assert report.ok, report.problems


# -- log masking -----------------------------------------------------------------------------


def test_tokens_in_urls_are_masked_in_messages_and_tracebacks() -> None:
    assert mask_tokens("GET /v2/bal?name=a&TOKEN=x%20y&z=1 HTTP/1.1") == (
        "GET /v2/bal?name=a&TOKEN=<hidden>&z=1 HTTP/1.1"
    )
    try:
        raise ValueError("b'GET /v2/pay?token=hunter2 HTTP/1.1'")
    except ValueError as exc:
        record = logging.LogRecord(
            "aiohttp.server",
            logging.ERROR,
            __file__,
            1,
            "Error handling %s",
            ("/v2/pay?token=hunter2",),
            (type(exc), exc, exc.__traceback__),
        )
    assert MaskTokens().filter(record)
    assert "hunter2" not in record.getMessage()
    assert record.exc_text is not None and "hunter2" not in record.exc_text
