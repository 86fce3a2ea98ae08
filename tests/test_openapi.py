"""The OpenAPI document: valid OpenAPI 3.1, in step with the router, and true of the running server.

The fuzz test runs schemathesis against a real server on a loopback port. The
server lives in a thread with its own event loop because schemathesis calls it
with blocking ``requests``; no webhook dispatcher runs, so a webhook URL the
fuzzer stores is never called (no network beyond loopback).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests
import schemathesis
from auth_helpers import bank_config
from live_server import (
    LiveServer,
    ServingThread,
    StartServer,
    make_config,
    serving_thread,
    start_server,
)
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from lurkcoin.api.app import create_app
from lurkcoin.api.explorer_routes import EXPLORER_ENDPOINTS
from lurkcoin.api.onboarding_routes import ONBOARDING_ENDPOINTS
from lurkcoin.api.openapi import PATH, build_document
from lurkcoin.api.routes import ENDPOINTS
from lurkcoin.core.errors import ERRORS
from lurkcoin.ledger import Ledger

# The server's table and the explorer's (on by default).
DOCUMENT = build_document(ENDPOINTS + EXPLORER_ENDPOINTS)
JSON_TYPE = "application/json; charset=utf-8"

# The fuzzed server's login: its token is made up per run and imported with a
# backup, so the credentials are known before the server starts.
FUZZ_USER = "ServerA"
FUZZ_TOKEN = secrets.token_urlsafe(24)
# Servers named in the document's examples, so those examples can succeed.
FUZZ_SERVERS = (FUZZ_USER, "ServerB")
MAX_EXAMPLES = 50
SEED = 20240229

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]


# -- (a) the served document is valid OpenAPI 3.1 --------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_served_document_is_valid_openapi_3_1(
    serve: StartServer, tmp_path: Path, method: str
) -> None:
    server = await serve(make_config(tmp_path / "doc.db"))
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, server.url + PATH) as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Type"] == JSON_TYPE
        served = await response.json()
    validate(served, cls=OpenAPIV31SpecValidator)
    assert served["openapi"].startswith("3.1.")
    # The fuzz test below uses the built document: it must be what is served.
    assert served == DOCUMENT


# -- (b) the document and the router list the same operations --------------------------


def test_document_and_router_list_the_same_operations(tmp_path: Path) -> None:
    app = create_app(make_config(tmp_path / "routes.db"))
    routed = {
        (route.resource.canonical, route.method.lower())
        for route in app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith(("/v3/", "/api/"))
        and route.method != "OPTIONS"  # the explorer's CORS preflight, not an operation
    }
    documented = {(path, method) for path, item in DOCUMENT["paths"].items() for method in item}
    assert routed, "no /v3 routes found"
    assert any(path.startswith("/api/") for path, _ in routed), "no explorer routes found"
    assert sorted(routed - documented) == [], "routed but not documented"
    assert sorted(documented - routed) == [], "documented but not routed"


def test_every_error_response_matches_its_status() -> None:
    """Each non-200 response lists only codes of that status; 200 also allows every one."""
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            forced = responses["200"]["content"]["application/json"]["schema"]["oneOf"][1]
            all_codes = set(forced["properties"]["error"]["enum"])
            listed: set[str] = set()
            for status, response in responses.items():
                if status == "200":
                    continue
                codes = response["content"]["application/json"]["schema"]["properties"]["error"][
                    "enum"
                ]
                assert {ERRORS[c][0] for c in codes} == {int(status)}, (path, method, status)
                listed |= set(codes)
            assert listed == all_codes, (path, method)


# -- (c) schemathesis against the running server ------------------------------------------


@dataclass
class FuzzTarget:
    url: str
    session: requests.Session
    # For checks after a fuzz run: the server's Ledger and the thread its loop runs on.
    ledger: Ledger
    serving: ServingThread


def _backup_record(name: str, token: str) -> dict[str, Any]:
    # A webhook URL lets rotate_webhook_secret succeed; nothing delivers to it.
    return {
        "version": 0,
        "name": name,
        "balance": 10_000_000,
        "target_balance": 0,
        "history": [],
        "pending_transactions": [],
        "token": token,
        "webhook_url": "https://game.example/lurkcoin",
    }


async def _start_fuzz_server(db_path: Path) -> LiveServer:
    # Throttling is raised so that wrong credentials the fuzzer sends never turn
    # every later request into a 429 (429 is documented and allowed anyway).
    config = bank_config(db_path, failures_per_address=1_000_000, failures_per_account=1_000_000)
    # The explorer's transactions are fuzzed in full (the private path is tested elsewhere).
    config.explorer.public_transactions = True
    config.explorer.rate_limit = 1_000_000
    # Onboarding (off by default) is fuzzed through its own document below.
    config.onboarding.enabled = True
    config.onboarding.rate_limit = 1_000_000
    config.onboarding.max_pending = 1_000_000
    server = await start_server(config)
    tokens = [FUZZ_TOKEN] + [secrets.token_urlsafe(24) for _ in FUZZ_SERVERS[1:]]
    try:
        await server.ledger.import_backup(
            [_backup_record(name, token) for name, token in zip(FUZZ_SERVERS, tokens, strict=True)]
        )
    except BaseException:
        await server.stop()
        raise
    return server


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzTarget]:
    """A seeded server on a loopback port, served from its own thread and event loop."""
    with serving_thread("openapi-fuzz-server") as serving:
        db_path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
        server = serving.start(_start_fuzz_server(db_path))
        with requests.Session() as session:
            yield FuzzTarget(server.url, session, server.ledger, serving)


def _fuzz_config() -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            # Timing-based: a busy machine must not fail the run for generating slowly.
            "suppress-health-check": ["too_slow"],
            "generation": {
                "mode": "all",  # valid and invalid requests: neither may get a 5xx
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",  # nothing written to .hypothesis/
            },
            # Sent on every request; the endpoints that need no login ignore it.
            "auth": {"basic": {"username": FUZZ_USER, "password": FUZZ_TOKEN}},
        }
    )


schema = schemathesis.openapi.from_dict(DOCUMENT, config=_fuzz_config())


@pytest.mark.slow
@schema.parametrize()
def test_fuzz_running_server_against_document(
    case: schemathesis.Case, fuzz_target: FuzzTarget
) -> None:
    case.call_and_validate(base_url=fuzz_target.url, session=fuzz_target.session, checks=CHECKS)


# Self-service onboarding is off by default, so it is not in DOCUMENT; the fuzz
# server turns it on and its two operations are fuzzed against their own document.
onboarding_schema = schemathesis.openapi.from_dict(
    build_document(ONBOARDING_ENDPOINTS), config=_fuzz_config()
)


@pytest.mark.slow
@onboarding_schema.parametrize()
def test_fuzz_onboarding_against_document(case: schemathesis.Case, fuzz_target: FuzzTarget) -> None:
    case.call_and_validate(base_url=fuzz_target.url, session=fuzz_target.session, checks=CHECKS)
