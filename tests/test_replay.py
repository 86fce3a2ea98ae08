"""Replay of the golden lurkcoinV3 transcript and scenarios against our server.

Each run seeds a fresh server from the transcript's initial state through the
backup import, then sends every case over real HTTP with the recorded bytes
(including chunked and split bodies) and compares status, Content-Type and
body with ``ours`` when the case has it, else with the reference's answer.

Skipped cases (never sent, so they cannot change state):
  * paths outside /v3 (security.txt, the "/" redirect, /admin, wp-login,
    /v4): site configuration of the recorded reference, not the API;
  * the two cases in NEW_ENDPOINTS, recorded before those paths existed.
Relaxed comparison: /v3/version must answer an object whose "version" is the
reference's; the other keys name our implementation, not lurkcoin-core.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from golden_files import V3_SCENARIOS, V3_TRANSCRIPT, load
from live_server import StartServer, make_config
from rawhttp import RawResponse, request

from lurkcoin.config import Config
from lurkcoin.ledger import Ledger

TRANSCRIPT = V3_TRANSCRIPT
SCENARIOS = V3_SCENARIOS

NEW_ENDPOINTS = {
    "webhook_url_put_not_allowed": "PUT /v3/webhook_url now sets the webhook URL (new endpoint)",
    "set_webhook_url_not_found": "POST /v3/set_webhook_url now sets the webhook URL (new endpoint)",
}
ID_RE = re.compile(r"^T[0-9A-F]+-[0-9A-F]{8}$")
CAPTURE_RE = re.compile(r"<ID:([^>]+)>")
TIME_TOLERANCE = 300  # seconds
CHUNK_PAUSE = 0.03  # the recorder waited 150 ms; any pause tests the same thing
# The transcript sends about 30 failed logins from 127.0.0.1 within seconds, a
# dozen of them with credentials (those are what the throttle counts), and
# records the answers of a reference that never throttled. The replay raises
# the limits out of its way; the defaults are tested in test_throttle.py.
REPLAY_FAILURE_LIMIT = 1_000


def _load(path: Path) -> dict[str, Any]:
    return load(path)


def skip_reason(case: dict[str, Any]) -> str | None:
    """Why a case is not sent, or None to replay it."""
    if case["name"] in NEW_ENDPOINTS:
        return NEW_ENDPOINTS[case["name"]]
    if not case["request"]["path"].lower().startswith("/v3"):
        return "outside /v3 (site configuration of the reference, not the API)"
    return None


def replay_config(db_path: Path) -> Config:
    """The test config with failed-login throttling out of the transcript's way."""
    config = make_config(db_path)
    config.security.failures_per_address = REPLAY_FAILURE_LIMIT
    config.security.failures_per_account = REPLAY_FAILURE_LIMIT
    return config


async def seed_from_backup(ledger: Ledger, data: list[dict[str, Any]]) -> None:
    """Load the initial state exactly as an operator would: through the backup import."""
    report = await ledger.import_backup(data)
    assert report.servers_created == len(data)


# -- sending -------------------------------------------------------------------


def _substitute(text: str, captured: dict[str, str]) -> str:
    return CAPTURE_RE.sub(lambda m: captured[m.group(1)], text)


async def send_case(port: int, case: dict[str, Any], captured: dict[str, str]) -> RawResponse:
    req = case["request"]
    body = req.get("body")
    chunks = req.get("chunked_body")
    return await request(
        port,
        req["method"],
        req["path"],
        headers=req.get("headers") or {},
        body=None if body is None else _substitute(body, captured).encode("utf-8"),
        chunks=None
        if chunks is None
        else [_substitute(c, captured).encode("utf-8") for c in chunks],
        split_after=req.get("body_split_after_bytes"),
        pause=CHUNK_PAUSE,
    )


# -- comparing -------------------------------------------------------------------


def _diff(expected: Any, got: Any, where: str = "$") -> str | None:
    """First difference between an expected JSON value (with placeholders) and ours.

    Types must match too: 1.0 (a float) is not 1 (an int).
    """
    if expected == "<ID>":
        ok = isinstance(got, str) and ID_RE.match(got) is not None
        return None if ok else f"{where}: expected a fresh id, got {got!r}"
    if expected == "<TIME>":
        current = type(got) is int and abs(got - time.time()) <= TIME_TOLERANCE
        return None if current else f"{where}: expected a current unix time, got {got!r}"
    if type(expected) is not type(got):
        return f"{where}: expected {expected!r}, got {got!r}"
    if isinstance(expected, dict):
        if list(expected) != list(got):
            return f"{where}: expected keys {list(expected)}, got {list(got)}"
        for key in expected:
            found = _diff(expected[key], got[key], f"{where}.{key}")
            if found:
                return found
        return None
    if isinstance(expected, list):
        if len(expected) != len(got):
            return f"{where}: expected {len(expected)} items, got {len(got)}"
        for index, (e, g) in enumerate(zip(expected, got, strict=True)):
            found = _diff(e, g, f"{where}[{index}]")
            if found:
                return found
        return None
    return None if expected == got else f"{where}: expected {expected!r}, got {got!r}"


def _expected(case: dict[str, Any]) -> tuple[int, str | None, Any, str | None]:
    """(status, Content-Type or None if absent, JSON body, raw text or None for JSON)."""
    if "ours" in case:
        ours = case["ours"]
        return ours["status"], "application/json; charset=utf-8", ours["body_json"], None
    resp = case["response"]
    content_type = (resp.get("headers") or {}).get("Content-Type")
    if "body_json" in resp:
        return resp["status"], content_type, resp["body_json"], None
    return resp["status"], content_type, None, resp.get("body_raw", "")


def _relax(case: dict[str, Any], expected: Any, got: Any) -> tuple[Any, Any]:
    """/v3/version: only the protocol version must be the reference's."""
    if (
        case["request"]["path"] == "/v3/version"
        and isinstance(expected, dict)
        and isinstance(got, dict)
        and isinstance(got.get("result"), dict)
    ):
        expected = {**expected, "result": {"version": expected["result"]["version"]}}
        got = {**got, "result": {"version": got["result"].get("version")}}
    return expected, got


def compare(case: dict[str, Any], response: RawResponse) -> str | None:
    """None if our reply is the expected one, else what differs."""
    status, content_type, body_json, body_raw = _expected(case)
    problems = []
    if response.status != status:
        problems.append(f"status: expected {status}, got {response.status}")
    if response.header("Content-Type") != content_type:
        problems.append(
            f"Content-Type: expected {content_type!r}, got {response.header('Content-Type')!r}"
        )
    if body_raw is not None:
        if response.text != body_raw:
            problems.append(f"body: expected {body_raw!r}, got {response.text!r}")
    else:
        try:
            got = response.json()
        except ValueError:
            got = None
            problems.append(f"body is not JSON: {response.body[:200]!r}")
        if got is not None:
            found = _diff(*_relax(case, body_json, got))
            if found:
                problems.append(found)
    return "; ".join(problems) or None


def _capture(case: dict[str, Any], response: RawResponse, captured: dict[str, str]) -> None:
    for label, dotted in (case.get("capture") or {}).items():
        value: Any = response.json()
        for part in dotted.split("."):
            value = value[part]
        captured[label] = value


async def replay(port: int, cases: list[dict[str, Any]]) -> tuple[int, list[str], list[str]]:
    """Send the cases in order: (matched count, mismatches, skips), each described."""
    captured: dict[str, str] = {}
    matched, mismatches, skipped = 0, [], []
    for case in cases:
        reason = skip_reason(case)
        if reason is not None:
            skipped.append(f"{case['name']}: {reason}")
            continue
        response = await send_case(port, case, captured)
        problem = compare(case, response)
        if problem is None:
            matched += 1
            _capture(case, response, captured)
        else:
            mismatches.append(
                f"{case['name']} ({case['request']['method']} "
                f"{case['request']['path']}): {problem}\n    got: "
                f"{response.body[:600]!r}"
            )
    return matched, mismatches, skipped


def _report(title: str, matched: int, mismatches: list[str], skipped: list[str]) -> str:
    lines = [(f"{title}: {matched} matched, {len(skipped)} skipped, {len(mismatches)} mismatched")]
    lines += [f"  skipped {s}" for s in skipped]
    lines += [f"  MISMATCH {m}" for m in mismatches]
    return "\n".join(lines)


# -- the tests ----------------------------------------------------------------------


async def test_transcript(serve: StartServer, tmp_path: Path, replay_reports: list[str]) -> None:
    golden = _load(TRANSCRIPT)
    server = await serve(replay_config(tmp_path / "replay.db"))
    await seed_from_backup(server.ledger, golden["header"]["initial_state"]["plaintext_db_json"])
    matched, mismatches, skipped = await replay(server.port, golden["cases"])
    report = _report("replay", matched, mismatches, skipped)
    replay_reports.append(report.splitlines()[0])
    assert matched + len(mismatches) + len(skipped) == len(golden["cases"])
    assert not mismatches, report
    check = await server.ledger.check()
    assert check.ok, check.problems


def _scenario_names() -> list[str]:
    if not SCENARIOS.exists():
        return ["(scenarios file missing)"]
    return [s["name"] for s in json.loads(SCENARIOS.read_text(encoding="utf-8"))["scenarios"]]


@pytest.mark.parametrize("name", _scenario_names())
async def test_scenario(
    name: str, serve: StartServer, tmp_path: Path, replay_reports: list[str]
) -> None:
    golden = _load(SCENARIOS)
    scenario = next(s for s in golden["scenarios"] if s["name"] == name)
    server = await serve(replay_config(tmp_path / "scenario.db"))
    await seed_from_backup(server.ledger, golden["header"]["initial_state"]["plaintext_db_json"])
    matched, mismatches, skipped = await replay(server.port, scenario["steps"])
    report = _report(f"scenario {name}", matched, mismatches, skipped)
    replay_reports.append(report.splitlines()[0])
    assert not skipped and not mismatches, report
    check = await server.ledger.check()
    assert check.ok, check.problems
