"""Focused tests of the /v3 API beyond the golden transcript.

History paging, webhook URL setting, X-Force-OK, body size limits, a client
written with ``requests`` as the public API document shows, and garbage
that must never produce a 500.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import auth_helpers
import pytest
import requests
from aiohttp import web
from live_server import LiveServer, StartServer, make_config, start_server_with
from rawhttp import RawResponse, basic_auth, json_body, request

from lurkcoin.api import app as app_module
from lurkcoin.api import body as body_module
from lurkcoin.api.app import LEDGER_KEY, create_app
from lurkcoin.api.jsonout import Money, dumps
from lurkcoin.ledger import Ledger

JSON_TYPE = "application/json; charset=utf-8"


@dataclass
class Bank:
    server: LiveServer
    tokens: dict[str, str]

    @property
    def port(self) -> int:
        return self.server.port

    def auth(self, name: str) -> dict[str, str]:
        return basic_auth(name, self.tokens[name])

    async def call(
        self,
        method: str,
        path: str,
        name: str | None = None,
        *,
        body: Any = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> RawResponse:
        all_headers = {**(self.auth(name) if name else {}), **(headers or {})}
        if body is not None:
            all_headers.setdefault("Content-Type", "application/json")
            raw = json_body(body)
        return await request(self.port, method, path, headers=all_headers, body=raw)

    async def pay(self, name: str, target_server: str, amount: Any, **extra: Any) -> RawResponse:
        body = {
            "source": "u",
            "target": "v",
            "target_server": target_server,
            "amount": amount,
            **extra,
        }
        return await self.call("POST", "/v3/pay", name, body=body)


@pytest.fixture
async def bank(bank: auth_helpers.Bank) -> Bank:
    """The shared bank (Alpha ¤1,000.00, Bravo ¤500.00) and Ünï:code (¤10.00), 1:1 rates."""
    _, token = await bank.server.ledger.create_server("Ünï:code", balance=1_000)
    return Bank(bank.server, {**bank.tokens, "Ünï:code": token})


def ok_result(response: RawResponse) -> Any:
    assert response.status == 200, response.body
    assert response.header("Content-Type") == JSON_TYPE
    body = response.json()
    assert body["success"] is True, body
    return body["result"]


def error_code(response: RawResponse, status: int) -> str:
    assert response.status == status, response.body
    assert response.header("Content-Type") == JSON_TYPE
    body = response.json()
    assert list(body) == ["error", "message", "success"] and body["success"] is False
    return str(body["error"])


# -- history paging ---------------------------------------------------------------


async def _make_payments(bank: Bank, count: int) -> list[str]:
    """Alpha pays Bravo ``count`` times; returns the ids, oldest first."""
    ids = []
    for index in range(count):
        ids.append(ok_result(await bank.pay("Alpha", "Bravo", f"0.{index + 1:02d}"))["id"])
    return ids


async def test_history_defaults_to_ten_newest(bank: Bank) -> None:
    ids = await _make_payments(bank, 25)
    history = ok_result(await bank.call("GET", "/v3/history", "Alpha"))
    assert [t["id"] for t in history] == ids[::-1][:10]
    summary = ok_result(await bank.call("GET", "/v3/summary", "Alpha"))
    assert [t["id"] for t in summary["history"]] == ids[::-1][:10]


async def test_history_pages_through_everything(bank: Bank) -> None:
    ids = await _make_payments(bank, 25)
    everything = ok_result(await bank.call("GET", "/v3/history?limit=500", "Alpha"))
    assert [t["id"] for t in everything] == ids[::-1]
    seen: list[str] = []
    before = ""
    while True:
        query = f"?limit=7&before={before}" if before else "?limit=7"
        page = ok_result(await bank.call("GET", "/v3/history" + query, "Alpha"))
        if not page:
            break
        seen += [t["id"] for t in page]
        before = page[-1]["id"]
    assert seen == ids[::-1]


async def test_history_paging_in_json_body(bank: Bank) -> None:
    ids = await _make_payments(bank, 12)
    page = ok_result(
        await bank.call("POST", "/v3/history", "Bravo", body={"limit": 3, "before": ids[5]})
    )
    assert [t["id"] for t in page] == [ids[4], ids[3], ids[2]]
    # Field names match without regard to case, as everywhere else.
    page = ok_result(await bank.call("POST", "/v3/history", "Bravo", body={"LIMIT": 11}))
    assert len(page) == 11


@pytest.mark.parametrize(
    "query, body",
    [
        ("?limit=0", None),
        ("?limit=501", None),
        ("?limit=abc", None),
        ("?limit=-1", None),
        ("?limit=1.5", None),
        ("?limit=", None),
        ("?limit=1&limit=2", None),
        ("?before=", None),
        ("", {"limit": 0}),
        ("", {"limit": True}),
        ("", {"limit": 2.0}),
        ("", {"limit": [3]}),
        ("", {"before": 5}),
        ("", {"before": ""}),
        ("?limit=3", {"limit": 3}),
    ],
)
async def test_history_invalid_paging(bank: Bank, query: str, body: Any) -> None:
    response = await bank.call("POST", "/v3/history" + query, "Alpha", body=body)
    assert error_code(response, 400) == "ERR_INVALIDREQUEST"


async def test_history_unknown_before(bank: Bank) -> None:
    await _make_payments(bank, 2)
    response = await bank.call("GET", "/v3/history?before=T00000000-00000000", "Alpha")
    assert error_code(response, 400) == "ERR_TRANSACTIONNOTFOUND"


async def test_history_ignores_an_unusable_body(bank: Bank) -> None:
    """The reference never reads a body here, so a client's junk must not fail the call."""
    await _make_payments(bank, 11)
    for raw, content_type in (
        (b"garbage", "text/plain"),
        (b"{", "application/json"),
        (b"[1, 2]", "application/json"),
        (b"x" * 5000, "text/plain"),
    ):
        response = await bank.call(
            "POST", "/v3/history", "Alpha", raw=raw, headers={"Content-Type": content_type}
        )
        assert len(ok_result(response)) == 10


# -- webhook URL ---------------------------------------------------------------------


async def test_set_and_clear_webhook_url_via_put(bank: Bank) -> None:
    assert ok_result(await bank.call("GET", "/v3/webhook_url", "Alpha")) is None
    response = await bank.call(
        "PUT", "/v3/webhook_url", "Alpha", body={"webhook_url": "http://127.0.0.1:9/hook?x=1#frag"}
    )
    assert ok_result(response) == "http://127.0.0.1:9/hook/lurkcoin"
    assert (
        ok_result(await bank.call("GET", "/v3/webhook_url", "Alpha"))
        == "http://127.0.0.1:9/hook/lurkcoin"
    )
    assert (
        ok_result(await bank.call("POST", "/v3/webhook_url", "Alpha"))
        == "http://127.0.0.1:9/hook/lurkcoin"
    )
    assert (
        ok_result(await bank.call("PUT", "/v3/webhook_url", "Alpha", body={"webhook_url": None}))
        is None
    )
    assert ok_result(await bank.call("GET", "/v3/webhook_url", "Alpha")) is None
    # Only Alpha's URL was touched.
    assert ok_result(await bank.call("GET", "/v3/webhook_url", "Bravo")) is None


async def test_set_and_clear_webhook_url_via_post(bank: Bank) -> None:
    response = await bank.call(
        "POST",
        "/v3/set_webhook_url",
        "Bravo",
        body={"Webhook_URL": "https://example.invalid/lurkcoin"},
    )
    assert ok_result(response) == "https://example.invalid/lurkcoin"
    assert (
        ok_result(await bank.call("GET", "/v3/webhook_url", "Bravo"))
        == "https://example.invalid/lurkcoin"
    )
    assert (
        ok_result(await bank.call("POST", "/v3/set_webhook_url", "Bravo", body={"webhook_url": ""}))
        is None
    )
    assert ok_result(await bank.call("GET", "/v3/webhook_url", "Bravo")) is None


@pytest.mark.parametrize(
    "body, code",
    [
        ({"webhook_url": "ftp://127.0.0.1/"}, "ERR_INVALIDWEBHOOKURL"),
        ({"webhook_url": "not a url"}, "ERR_INVALIDWEBHOOKURL"),
        ({"webhook_url": "http://user:pw@127.0.0.1/"}, "ERR_INVALIDWEBHOOKURL"),
        ({"webhook_url": 5}, "ERR_INVALIDREQUEST"),
        ({"webhook_url": ["http://127.0.0.1/"]}, "ERR_INVALIDREQUEST"),
        ({"url": "http://127.0.0.1/"}, "ERR_INVALIDREQUEST"),
    ],
)
async def test_invalid_webhook_url(bank: Bank, body: Any, code: str) -> None:
    response = await bank.call("PUT", "/v3/webhook_url", "Alpha", body=body)
    assert error_code(response, 400) == code
    assert ok_result(await bank.call("GET", "/v3/webhook_url", "Alpha")) is None


async def test_webhook_url_needs_login(bank: Bank) -> None:
    body = json_body({"webhook_url": "http://127.0.0.1/"})
    for method, path in (("PUT", "/v3/webhook_url"), ("POST", "/v3/set_webhook_url")):
        response = await request(
            bank.port, method, path, body=body, headers={"Content-Type": "application/json"}
        )
        assert error_code(response, 401) == "ERR_INVALIDLOGIN"
    response = await bank.call("GET", "/v3/set_webhook_url", "Alpha")
    assert response.status == 405


# -- X-Force-OK and error shape ----------------------------------------------------------


@pytest.mark.parametrize(
    "value, status",
    [
        ("true", 200),
        ("TRUE", 200),
        ("Yes", 200),
        ("y", 200),
        ("1", 200),
        ("false", 401),
        ("on", 401),
        ("", 401),
        ("2", 401),
    ],
)
async def test_force_ok(bank: Bank, value: str, status: int) -> None:
    response = await request(bank.port, "GET", "/v3/balance", headers={"X-Force-OK": value})
    assert error_code(response, status) == "ERR_INVALIDLOGIN"


async def test_force_ok_keeps_every_error_body(bank: Bank) -> None:
    force = {"X-Force-OK": "true", "Content-Type": "application/json"}
    too_large = await bank.call(
        "POST", "/v3/pay", "Alpha", raw=b"{" + b" " * 5000 + b"}", headers=force
    )
    assert error_code(too_large, 200) == "ERR_PAYLOADTOOLARGE"
    cannot_afford = await bank.call(
        "POST",
        "/v3/pay",
        "Bravo",
        headers=force,
        raw=json_body({"target_server": "Alpha", "amount": 600}),
    )
    assert error_code(cannot_afford, 200) == "ERR_CANNOTAFFORD"
    # A success is unchanged.
    assert ok_result(await bank.call("GET", "/v3/balance", "Alpha", headers=force)) == 1000.0


# -- body size limits -------------------------------------------------------------------------


def _padded_pay(size: int) -> bytes:
    head = b'{"source":"u","target":"v","target_server":"Bravo","amount":1,"pad":"'
    body = head + b"x" * (size - len(head) - 2) + b'"}'
    assert len(body) == size
    return body


async def test_body_of_exactly_4096_bytes_is_read(bank: Bank) -> None:
    result = ok_result(await bank.call("POST", "/v3/pay", "Alpha", raw=_padded_pay(4096)))
    assert result["amount"] == 1.0


async def test_body_of_4097_bytes_is_too_large(bank: Bank) -> None:
    response = await bank.call("POST", "/v3/pay", "Alpha", raw=_padded_pay(4097))
    assert error_code(response, 413) == "ERR_PAYLOADTOOLARGE"
    assert ok_result(await bank.call("GET", "/v3/balance", "Alpha")) == 1000.0


async def test_chunked_body_limits(bank: Bank) -> None:
    """Without a Content-Length the size is counted while reading."""
    headers = {
        **bank.auth("Alpha"),
        "Content-Type": "application/json",
        "Transfer-Encoding": "chunked",
    }
    body = _padded_pay(4096)
    response = await request(
        bank.port,
        "POST",
        "/v3/pay",
        headers=headers,
        chunks=[body[:1000], body[1000:3000], body[3000:]],
        pause=0.01,
    )
    assert ok_result(response)["amount"] == 1.0
    body = _padded_pay(4097)
    response = await request(
        bank.port, "POST", "/v3/pay", headers=headers, chunks=[body[:2000], body[2000:]], pause=0.01
    )
    assert error_code(response, 413) == "ERR_PAYLOADTOOLARGE"
    # A huge chunked body is refused without being read to the end.
    response = await request(
        bank.port, "POST", "/v3/pay", headers=headers, chunks=[b"x" * 65536] * 16, pause=0
    )
    assert error_code(response, 413) == "ERR_PAYLOADTOOLARGE"


async def test_declared_length_over_limit_answers_without_reading(bank: Bank) -> None:
    response = await bank.call(
        "POST",
        "/v3/exchange_rates",
        raw=b"{" + b" " * 4096 + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert error_code(response, 413) == "ERR_PAYLOADTOOLARGE"


# -- a client written as the public API document shows -------------------------------------


async def test_requests_client(bank: Bank) -> None:
    url = bank.server.url
    alpha = ("Alpha", bank.tokens["Alpha"])

    def client() -> tuple[Any, ...]:
        balance = requests.get(url + "/v3/balance", auth=alpha).json()
        paid = requests.post(
            url + "/v3/pay",
            auth=alpha,
            json={
                "source": "alice",
                "target": "bob",
                "target_server": "bravo",
                "amount": 0.1 + 0.2,
            },
        ).json()
        # The document's tip: a ':' in a server name is written as '_'.
        unicode = requests.get(
            url + "/v3/summary", auth=("Ünï_code", bank.tokens["Ünï:code"])
        ).json()
        wrong = requests.get(url + "/v3/balance", auth=("Alpha", "wrong"))
        return balance, paid, unicode, (wrong.status_code, wrong.json())

    balance, paid, unicode, wrong = await asyncio.to_thread(client)
    assert balance == {"success": True, "result": 1000.0}
    assert isinstance(balance["result"], float)
    # 0.1 + 0.2 is the double 0.30000000000000004: the client means 0.30.
    assert paid["success"] is True
    assert paid["result"]["amount"] == 0.3 and paid["result"]["target_server"] == "Bravo"
    assert unicode["result"]["name"] == "Ünï:code" and unicode["result"]["bal"] == 10.0
    assert wrong == (
        401,
        {"success": False, "error": "ERR_INVALIDLOGIN", "message": "Invalid login!"},
    )


# -- garbage never produces a 500 ---------------------------------------------------------------

GARBAGE: list[tuple[str, str, dict[str, str], bytes | None]] = [
    ("POST", "/v3/pay", {}, b"[" * 3000),
    ("POST", "/v3/pay", {}, b'{"a":' * 1000 + b"1" + b"}" * 1000),
    ("POST", "/v3/pay", {}, b'{"target_server":"Bravo","amount":' + b"9" * 4000 + b"}"),
    ("POST", "/v3/pay", {}, b'{"target_server":"Bravo","amount":1e999999999}'),
    ("POST", "/v3/pay", {}, b'{"target_server":"Bravo","amount":"1e99999999999999999"}'),
    ("POST", "/v3/pay", {}, b'{"target_server":"Bravo","amount":NaN}'),
    ("POST", "/v3/pay", {}, b'{"target_server":"Bravo","amount":-0}'),
    ("POST", "/v3/pay", {}, b'{"target_server":"\\ud800","amount":1}'),
    ("POST", "/v3/pay", {}, b'\xff\xfe{"amount":1}'),
    ("POST", "/v3/pay", {}, b'\xef\xbb\xbf{"target_server":"Bravo","amount":1}'),
    ("POST", "/v3/pay", {"Content-Type": ";;;"}, b'{"amount":1}'),
    ("POST", "/v3/pay", {"Idempotency-Key": "\u00e9t\u00e9"}, b'{"amount":1}'),
    ("POST", "/v3/pay", {"Idempotency-Key": "k" * 300}, b'{"amount":1}'),
    ("POST", "/v3/exchange_rates", {}, b'{"source":"\\udfff","amount":"\\u00a4\\ud800"}'),
    ("POST", "/v3/exchange_rates", {}, b'{"amount":"1e-99999999999"}'),
    ("POST", "/v3/exchange_rates", {}, b'{"source":"Alpha","target":"Bravo","amount":1e3999}'),
    ("POST", "/v3/acknowledge_transactions", {}, b'{"transactions":[[[]],{},null,1e400]}'),
    ("POST", "/v3/reject_transactions", {}, b'{"transactions":["' + b"T" * 4000 + b'"]}'),
    ("PUT", "/v3/target_balance", {}, b'{"target_balance":"1e99999"}'),
    ("PUT", "/v3/target_balance", {}, b'{"target_balance":{"a":[]}}'),
    ("PUT", "/v3/webhook_url", {}, b'{"webhook_url":"http://[::1"}'),
    ("PUT", "/v3/webhook_url", {}, b'{"webhook_url":"http://127.0.0.1:99999/"}'),
    ("GET", "/v3/history?limit=99999999999999999999999", {}, None),
    ("GET", "/v3/history?before=" + "%00" * 100, {}, None),
    ("GET", "/v3/%ff", {}, None),
    ("DELETE", "/v3/pay", {}, None),
]


@pytest.mark.parametrize("method, path, headers, body", GARBAGE)
async def test_garbage_never_fails_inside(
    bank: Bank, method: str, path: str, headers: dict[str, str], body: bytes | None
) -> None:
    headers = {**bank.auth("Alpha"), "Content-Type": "application/json", **headers}
    response = await request(bank.port, method, path, headers=headers, body=body)
    assert response.status < 500, response.body
    if response.header("Content-Type") == JSON_TYPE:
        assert response.json().get("error") != "ERR_INTERNALERROR"
    assert ok_result(await bank.call("GET", "/v3/balance", "Bravo")) in (500.0, 501.0)


@pytest.mark.parametrize(
    "header",
    [
        "Basic",
        "Basic ",
        "basic\tYWxwaGE6eA==",
        "Basic /w==",
        "Basic " + "A" * 6000,
        "Basic w7w6eA==",
        "Digest username=alpha",
        "Basic YWxwaGE6dG9r\u00e9",
    ],
)
async def test_malformed_logins(bank: Bank, header: str) -> None:
    response = await request(bank.port, "GET", "/v3/balance", headers={"Authorization": header})
    assert error_code(response, 401) == "ERR_INVALIDLOGIN"


async def test_lone_surrogates_are_written_as_replacement_characters(bank: Bank) -> None:
    raw = b'{"source":"a\\ud800b","target":"\\udc00","target_server":"Bravo","amount":1}'
    result = ok_result(await bank.call("POST", "/v3/pay", "Alpha", raw=raw))
    assert (result["source"], result["target"]) == ("a\ufffdb", "\ufffd")


async def test_html_characters_are_escaped_like_the_reference(bank: Bank) -> None:
    response = await bank.pay("Alpha", "Bravo", 1, source="<b>&amp;")
    assert b'"source":"\\u003cb\\u003e\\u0026amp;"' in response.body
    assert json.loads(response.body)["result"]["source"] == "<b>&amp;"


# -- the app's lifetime -------------------------------------------------------------------------


async def test_servers_created_elsewhere_become_visible(
    serve: StartServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI writes from another process; the app picks its changes up by itself."""
    monkeypatch.setattr(app_module, "REFRESH_INTERVAL", 0.05)
    config = make_config(tmp_path / "shared.db")
    server = await serve(config)
    cli = await Ledger.open(config)  # a second connection, as the CLI would have
    try:
        _, token = await cli.create_server("Late", balance=500)
    finally:
        await cli.close()
    for _ in range(100):
        response = await request(
            server.port, "GET", "/v3/balance", headers=basic_auth("Late", token)
        )
        if response.status == 200:
            break
        await asyncio.sleep(0.05)
    assert ok_result(response) == 5.0


async def test_given_ledger_and_extra_contexts(tmp_path: Path) -> None:
    config = make_config(tmp_path / "given.db")
    ledger = await Ledger.open(config)
    events: list[str] = []

    async def dispatcher(app: web.Application) -> AsyncIterator[None]:
        events.append(f"start, ledger open: {app[LEDGER_KEY] is ledger}")
        yield
        events.append("stop")

    server = await start_server_with(config, ledger, [dispatcher])
    try:
        _, token = await ledger.create_server("Mine")
        response = await request(
            server.port, "GET", "/v3/balance", headers=basic_auth("Mine", token)
        )
        assert ok_result(response) == 0.0
    finally:
        await server.stop()
    assert events == ["start, ledger open: True", "stop"]
    # The app did not close a Ledger it was given.
    assert ledger.server("Mine") is not None
    await ledger.wait_idle()
    await ledger.close()


async def test_a_bug_answers_internal_error_without_a_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(request: web.Request) -> web.StreamResponse:
        raise RuntimeError("a bug")

    app = create_app(make_config(tmp_path / "bug.db"))
    app.router.add_route("GET", "/v3/broken", broken)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        response = await request(port, "GET", "/v3/broken")
        assert error_code(response, 500) == "ERR_INTERNALERROR"
        assert b"a bug" not in response.body and b"Traceback" not in response.body
        forced = await request(port, "GET", "/v3/broken", headers={"X-Force-OK": "1"})
        assert error_code(forced, 200) == "ERR_INTERNALERROR"
    finally:
        await runner.cleanup()
    assert "a bug" in caplog.text  # logged for the operator


# -- the JSON writer ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cents, text",
    [
        (0, "0.0"),
        (5, "0.05"),
        (100, "1.0"),
        (1230, "12.3"),
        (1234, "12.34"),
        (-310, "-3.1"),
        (10**30, "1" + "0" * 28 + ".0"),
    ],
)
def test_money_is_written_exactly(cents: int, text: str) -> None:
    assert dumps(Money(cents)) == text
    assert isinstance(json.loads(dumps(Money(cents))), float)


def test_writer_keeps_key_order_and_refuses_floats() -> None:
    assert dumps({"b": 1, "a": [True, None, "x"]}) == '{"b":1,"a":[true,null,"x"]}'
    with pytest.raises(TypeError):
        dumps({"amount": 1.5})
    assert dumps("\u2028<\ud800\n") == '"\\u2028\\u003c\\ufffd\\n"'


async def test_a_stalled_body_times_out(bank: Bank, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(body_module, "BODY_TIMEOUT", 0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", bank.port)
    head = "".join(f"{k}: {v}\r\n" for k, v in bank.auth("Alpha").items())
    writer.write(
        b"POST /v3/pay HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 50\r\n"
        + head.encode()
        + b'Connection: close\r\n\r\n{"amount":'
    )
    await writer.drain()
    raw = b""
    try:
        # The reply comes at once; the connection may stay open a while longer
        # (aiohttp lingers to drain the rest of the body), so do not wait for EOF.
        while not raw.endswith(b"}"):
            raw += await asyncio.wait_for(reader.read(4096), 5)
    finally:
        writer.close()
        await writer.wait_closed()
    assert raw.startswith(b"HTTP/1.1 400 ")
    assert raw.endswith(
        b'{"error":"ERR_INVALIDREQUEST","message":"Invalid request.","success":false}'
    )
