"""The /v2 OpenAPI document: valid, in step with the router, and true of the running server.

As for /v3 (test_openapi.py): schemathesis sends valid and invalid requests
to a real server on a loopback port; every answer must be documented, none
a 5xx or a traceback, and the ledger must balance afterwards. The fuzzed
server's credentials are put into the document as the parameters' examples,
so the examples phase logs in and pays for real.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import schemathesis
from live_server import StartServer, make_config
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from schemathesis.config import SchemathesisConfig
from test_openapi import CHECKS, FUZZ_SERVERS, FUZZ_TOKEN, FUZZ_USER, SEED, FuzzTarget
from test_openapi import fuzz_target as fuzz_target  # the same seeded server fixture

from lurkcoin.api.app import create_app
from lurkcoin.api.v2_openapi import PATH, build_v2_document
from lurkcoin.api.v2_routes import V2_ENDPOINTS

DOCUMENT = build_v2_document(V2_ENDPOINTS)
MAX_EXAMPLES = 25
EXAMPLES = {
    "name": FUZZ_USER,
    "token": FUZZ_TOKEN,
    "server": FUZZ_SERVERS[1],
    "to": FUZZ_SERVERS[1],
    "from": FUZZ_USER,
    "amount": "1.5",
    "target": "bob",
    "multiplier": "0.5",
}


async def test_served_document_is_valid_openapi_3_1(serve: StartServer, tmp_path: Path) -> None:
    server = await serve(make_config(tmp_path / "doc.db"))
    async with aiohttp.ClientSession() as session:
        for method in ("GET", "POST"):
            async with session.request(method, server.url + PATH) as response:
                assert response.status == 200
                served = await response.json()
            validate(served, cls=OpenAPIV31SpecValidator)
            assert served == DOCUMENT


def test_document_and_router_list_the_same_operations(tmp_path: Path) -> None:
    app = create_app(make_config(tmp_path / "routes.db"))
    routed = {
        (route.resource.canonical, route.method.lower())
        for route in app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/v2/")
        and route.resource.canonical != PATH
    }
    documented = {(path, method) for path, item in DOCUMENT["paths"].items() for method in item}
    assert len(routed) == 20
    assert routed == documented


async def test_min_version_3_serves_no_v2_document(serve: StartServer, tmp_path: Path) -> None:
    config = make_config(tmp_path / "v3.db")
    config.api.min_version = 3
    server = await serve(config)
    async with aiohttp.ClientSession() as session, session.get(server.url + PATH) as response:
        assert response.status == 404


def _with_examples(document: dict[str, Any]) -> dict[str, Any]:
    """The document with the fuzzed server's credentials as the parameters' examples."""
    document = copy.deepcopy(document)
    for item in document["paths"].values():
        for operation in item.values():
            for parameter in operation["parameters"]:
                if parameter["name"] in EXAMPLES:
                    parameter["example"] = EXAMPLES[parameter["name"]]
    return document


def no_traceback(ctx: Any, response: Any, case: Any) -> bool | None:
    """No reply may show a Python traceback or an internal error."""
    body = response.content or b""
    assert b"Traceback" not in body, body[:300]
    assert b"Internal error" not in body, body[:300]
    return None


schema = schemathesis.openapi.from_dict(
    _with_examples(DOCUMENT),
    config=SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "suppress-health-check": ["too_slow", "filter_too_much"],
            "generation": {
                "mode": "all",
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
            },
        }
    ),
)


@pytest.mark.slow
@schema.parametrize()
def test_fuzz_running_server_against_v2_document(
    case: schemathesis.Case, fuzz_target: FuzzTarget
) -> None:
    case.call_and_validate(
        base_url=fuzz_target.url, session=fuzz_target.session, checks=[*CHECKS, no_traceback]
    )


@pytest.mark.slow
def test_the_fuzzed_ledger_still_balances(fuzz_target: FuzzTarget) -> None:
    """Runs after the fuzz run on the same server: no request left a partial change."""
    ledger = fuzz_target.ledger
    report = fuzz_target.serving.run(ledger.check())
    assert report.ok, report.problems
    # Money only moved between the two servers: together they hold what they started with.
    assert sum(s.balance for s in ledger.servers()) == 10_000_000 * len(FUZZ_SERVERS)
    # The examples logged in and paid: the run reached past the login.
    paying = ledger.require_server(FUZZ_USER)
    history = fuzz_target.serving.run(ledger.history(paying))
    assert history, "no V2 payment succeeded during the fuzz run"
