"""Regression tests for HTTP-layer bugs found in review: each produced a 500,
no reply at all, a malformed header, or let a client dodge a safeguard."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from lurkcoin.api.app import create_app
from lurkcoin.api.throttle import LoginThrottle
from lurkcoin.config import Config, DatabaseSection, ExchangeSection
from lurkcoin.core.errors import LurkcoinError
from lurkcoin.webhooks.delivery import forbidden_reason

CRLF = b"\r\n"


@pytest.fixture
async def server(tmp_path: Path):
    config = Config(
        database=DatabaseSection(path=str(tmp_path / "r.db")),
        exchange=ExchangeSection(formula="integral"),
    )
    app = create_app(config)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield app, port
    await runner.cleanup()


async def raw(port: int, data: bytes, timeout: float = 5.0) -> tuple[bytes, dict[str, str], bytes]:
    """Send bytes, read to EOF; (status line, headers, body). Empty status line = no reply."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    try:
        out = await asyncio.wait_for(reader.read(), timeout)
    except ConnectionResetError:
        out = b""
    writer.close()
    head, _, body = out.partition(CRLF * 2)
    lines = head.split(CRLF)
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.decode("latin-1").strip().lower()] = v.decode("latin-1").strip()
    return lines[0], headers, body


def post(path: str, body: bytes, extra: bytes = b"") -> bytes:
    return (
        (
            f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            f"Content-Length: {len(body)}\r\n"
        ).encode()
        + extra
        + CRLF
        + body
    )


# -- an undecodable Content-Encoding is the client's error, not a 500 -------------------------


@pytest.mark.parametrize("encoding", [b"gzip", b"deflate"])
@pytest.mark.parametrize("path", ["/v3/exchange_rates", "/v3/pay"])
async def test_bad_content_encoding_is_a_client_error_not_500(server, caplog, encoding, path):
    _, port = server
    caplog.set_level(logging.ERROR, logger="lurkcoin.api.app")
    status, headers, body = await raw(
        port, post(path, b'{"amount": 1}', b"Content-Encoding: " + encoding + CRLF)
    )
    assert b" 500 " not in status, (status, body)  # today: 500 ERR_INTERNALERROR
    assert json.loads(body)["error"] == "ERR_INVALIDREQUEST"
    assert not [r for r in caplog.records if r.name == "lurkcoin.api.app"], (
        "a client's malformed body is logged as an unhandled server bug"
    )


async def test_valid_gzip_body_is_decoded_past_the_4096_byte_limit_check(server):
    """A valid gzip body is decoded, and its size checked after decompression."""
    _, port = server
    plain = b'{"amount": 1}'
    status, _, body = await raw(
        port, post("/v3/exchange_rates", gzip.compress(plain), b"Content-Encoding: gzip\r\n")
    )
    assert status.endswith(b"200 OK") and json.loads(body)["result"] == 1.0


async def test_bad_content_encoding_on_history_is_ignored_like_any_body(server):
    """/v3/history never needs a body: an undecodable one changes nothing."""
    _, port = server
    request = post("/v3/history", b"{}", b"Content-Encoding: gzip\r\n")
    status, _, body = await raw(port, request)
    assert status.startswith(b"HTTP/1.1 401") and json.loads(body)["error"] == "ERR_INVALIDLOGIN"


# -- router redirects keep the query percent-encoded ------------------------------------------


@pytest.mark.parametrize(
    "target", [b"/v3/version/?x=%0a", b"/V3/VERSION?x=%0d%0aX-Evil:%201", b"/v3/version/?x=%00"]
)
async def test_redirect_with_encoded_control_char_in_query_still_gets_a_reply(server, target):
    _, port = server
    request = b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    status, headers, _ = await raw(port, request)
    assert status.startswith(b"HTTP/1.1 301"), status
    assert "\n" not in headers.get("location", "") and "x-evil" not in headers


async def test_redirect_location_keeps_query_percent_encoding(server):
    _, port = server
    request = (
        b"GET /V3/HISTORY?before=%22%3E%3Cx%3E%20y HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    status, headers, _ = await raw(port, request)
    assert status.startswith(b"HTTP/1.1 301")
    assert headers["location"] == "/v3/history?before=%22%3E%3Cx%3E%20y", headers["location"]


# -- an Expect header that is not UTF-8 is not a 500 -------------------------------------------


async def test_expect_header_with_invalid_utf8_is_not_a_500(server):
    _, port = server
    status, headers, body = await raw(
        port, post("/v3/exchange_rates", b'{"amount": 1}', b"Expect: \x80\r\n")
    )
    assert b" 500 " not in status, (status, body)


# -- webhooks never go to IPv6 site-local addresses (fec0::/10) --------------------------------


@pytest.mark.parametrize("address", ["fec0::1", "fec0:0:0:1::10", "feff::1"])
def test_site_local_ipv6_is_refused(address):
    assert forbidden_reason(address) is not None


# -- an IPv6 client is throttled per /64, not per address --------------------------------------


def _request(xff: str) -> web.Request:
    req = make_mocked_request("GET", "/v3/balance", headers=CIMultiDict({"X-Forwarded-For": xff}))
    return req.clone(remote="127.0.0.1")  # the trusted reverse proxy


def test_ipv6_client_cannot_escape_the_address_throttle_by_rotating_within_its_64():
    throttle = LoginThrottle(10, 1000, 60.0, trusted_proxies=["127.0.0.1/32", "::1/128"])
    throttle.clock = lambda: 1000.0
    keys = set()
    for i in range(50):
        req = _request(f"2001:db8:1:2::{i + 1:x}")
        keys.add(throttle.address(req))
        throttle.record_failure(throttle.address(req), None)
    assert keys == {"2001:db8:1:2::/64"}
    with pytest.raises(LurkcoinError) as err:  # a fresh address in the same /64
        throttle.check_address(_request("2001:db8:1:2::ffff"))
    assert err.value.code == "ERR_TOOMANYREQUESTS"
    throttle.check_address(_request("2001:db8:1:3::1"))  # the next /64 is someone else
