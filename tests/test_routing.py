"""The route table: one declaration per endpoint feeds the router and the OpenAPI document."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from live_server import LOOPBACK, make_config

from lurkcoin.api.app import create_app
from lurkcoin.api.explorer_routes import EXPLORER_ENDPOINTS
from lurkcoin.api.openapi import PATH, TAGS, build_document
from lurkcoin.api.routes import ENDPOINTS
from lurkcoin.api.routing import READ, Endpoint, add_endpoints


def test_every_documented_endpoint_has_a_known_tag_and_a_unique_operation_id() -> None:
    documented = [e for e in ENDPOINTS if e.documented]
    assert {e.tag for e in documented} <= set(TAGS)
    ids = Counter(f"{m}_{e.name}" for e in documented for m in e.methods)
    assert [i for i, n in ids.items() if n > 1] == []


def test_a_documented_endpoint_needs_a_result_and_cannot_be_a_page() -> None:
    async def page(request: web.Request) -> web.StreamResponse:
        return web.Response(text="<p>hi</p>", content_type="text/html")

    with pytest.raises(ValueError, match="result schema"):
        Endpoint("/admin/x", ("GET",), page, "A page", reply="html", result={"type": "string"})
    with pytest.raises(ValueError, match="result schema"):
        Endpoint("/v3/x", ("GET",), page, "No schema")
    # Kept out of the document, a page needs neither.
    Endpoint("/admin/x", ("GET",), page, "A page", reply="html", documented=False)


async def _text(request: web.Request) -> web.StreamResponse:
    return web.Response(text="42")


async def _page(request: web.Request) -> web.StreamResponse:
    return web.Response(text="<p>page</p>", content_type="text/html")


# What a feature with its own table (V2, admin pages) declares beside the main one.
FEATURE = (
    Endpoint(
        "/v2/answer", READ, _text, "The answer", tag="meta", result={"type": "string"}, reply="text"
    ),
    Endpoint("/admin/page", ("GET",), _page, "A page", reply="html", documented=False),
)


async def test_a_second_table_is_routed_and_documented(tmp_path: Path) -> None:
    app = create_app(make_config(tmp_path / "routes.db"))
    add_endpoints(app, FEATURE)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, LOOPBACK, 0).start()
        url = f"http://{LOOPBACK}:{runner.addresses[0][1]}"
        async with aiohttp.ClientSession(url) as client:
            for method in READ:
                async with client.request(method, "/v2/answer") as response:
                    assert (response.status, await response.text()) == (200, "42")
            async with client.get("/admin/page") as response:
                assert response.status == 200 and response.content_type == "text/html"
            async with client.head("/v2/answer") as response:
                assert response.status == 405  # HEAD is never registered, as on /v3
            async with client.get(PATH) as response:
                served = await response.json()
    finally:
        await runner.cleanup()
    assert served == build_document((*ENDPOINTS, *EXPLORER_ENDPOINTS, *FEATURE))
    text_reply = served["paths"]["/v2/answer"]["get"]["responses"]["200"]["content"]
    assert text_reply == {"text/plain": {"schema": {"type": "string"}}}
    assert "/admin/page" not in served["paths"]
    # The main table alone is what a plain app serves.
    assert "/v2/answer" not in build_document(ENDPOINTS)["paths"]
