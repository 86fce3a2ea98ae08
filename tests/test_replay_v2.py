"""Replay of the golden lurkcoinV2 transcript and scenarios against our server.

As for V3 (test_replay.py): each run seeds a fresh server from the file's
initial state through the backup import, sends every case over real HTTP
with the recorded bytes, and compares status, Content-Type and body with
``ours`` when the case has it, else with the reference's answer. V2 bodies
are compared as exact text: ``<ID>``, ``<TIME>`` and ``<LEGACY_ID>`` stand for
fresh values, and every legacy id we send must be the one of the transaction
id it stands beside. Nothing is skipped; a missing golden file fails.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from golden_files import V2_SCENARIOS, V2_TRANSCRIPT, load
from live_server import StartServer
from rawhttp import RawResponse
from test_replay import replay_config, seed_from_backup, send_case

from lurkcoin.config import Config

# The recorded reference was configured with this instance name: a V2 pay
# without `server` goes to it (pay_default_server_is_config_name).
INSTANCE_NAME = "Central"
PLACEHOLDERS = {
    "<ID>": r"T[0-9A-F]+-[0-9A-F]{8}",
    "<TIME>": r"[0-9]+",
    "<LEGACY_ID>": r"[1-9][0-9]{0,6}",
}
_PLACEHOLDER_RE = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS))
# A legacy id beside its transaction id: in a get_transactions list entry, or a simple line.
_LEGACY_PAIR = re.compile(
    r'(?:\[|^)([0-9]+)(?:,"[^"]*",[0-9.]+,"|\|[^|]*\|[0-9.]+\|)\[(T[0-9A-F]+-[0-9A-F]{8})\]'
)


def v2_config(db_path: Path) -> Config:
    config = replay_config(db_path)
    config.server.name = INSTANCE_NAME
    return config


def spec_legacy_id(txn_id: str) -> int:
    """The spec's formula, written out here independently of the server's code."""
    return int.from_bytes(txn_id.encode("ascii"), "big") % 9_999_999 + 1


def _pattern(expected: str) -> re.Pattern[str]:
    parts, last = [], 0
    for match in _PLACEHOLDER_RE.finditer(expected):
        parts.append(re.escape(expected[last : match.start()]))
        parts.append(PLACEHOLDERS[match.group()])
        last = match.end()
    parts.append(re.escape(expected[last:]))
    return re.compile("".join(parts), re.DOTALL)


def _text_matches(expected: str, got: str) -> bool:
    return _pattern(expected).fullmatch(got) is not None


def _diff(expected: Any, got: Any, where: str = "$") -> str | None:
    """First difference between an expected JSON value (placeholders allowed) and ours."""
    if expected == "<LEGACY_ID>":
        ok = type(got) is int and 1 <= got <= 9_999_999
        return None if ok else f"{where}: expected a legacy id, got {got!r}"
    if expected == "<TIME>":
        ok = type(got) is int and abs(got - time.time()) <= 300
        return None if ok else f"{where}: expected a current time, got {got!r}"
    if isinstance(expected, str) and isinstance(got, str):
        return (
            None if _text_matches(expected, got) else f"{where}: expected {expected!r}, got {got!r}"
        )
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


def _expected(case: dict[str, Any]) -> tuple[int | None, str | None, Any, str | None]:
    """(status, Content-Type, JSON body or None, exact text or None)."""
    if "ours" in case:
        ours = case["ours"]
        content_type = (ours.get("headers") or {}).get("Content-Type")
        if "body_json" in ours:
            return ours["status"], content_type, ours["body_json"], None
        return ours["status"], content_type, None, ours["body_text"]
    resp = case["response"]
    content_type = (resp.get("headers") or {}).get("Content-Type")
    return resp["status"], content_type, None, resp.get("body_raw", "")


def legacy_pairs(text: str) -> list[tuple[int, str]]:
    """(legacy id, transaction id) pairs in a get_transactions answer."""
    return [(int(n), i) for n, i in _LEGACY_PAIR.findall(text.replace('\\"', "'"))]


def compare(case: dict[str, Any], response: RawResponse) -> str | None:
    status, content_type, body_json, body_text = _expected(case)
    problems = []
    if status is None:
        problems.append("the reference crashed here and the case carries no answer of ours")
    if response.status != status:
        problems.append(f"status: expected {status}, got {response.status}")
    if response.header("Content-Type") != content_type:
        problems.append(
            f"Content-Type: expected {content_type!r}, got {response.header('Content-Type')!r}"
        )
    text = response.body.decode("utf-8", errors="replace")
    if body_text is not None:
        if not _text_matches(body_text, text):
            problems.append(f"body: expected {body_text!r}, got {text!r}")
    else:
        try:
            found = _diff(body_json, json.loads(response.body))
        except ValueError:
            found = f"body is not JSON: {response.body[:200]!r}"
        if found:
            problems.append(found)
    for number, txn_id in legacy_pairs(text):
        if number != spec_legacy_id(txn_id):
            problems.append(f"legacy id {number} does not belong to {txn_id}")
    return "; ".join(problems) or None


async def replay(port: int, cases: list[dict[str, Any]]) -> tuple[int, list[str], int]:
    """Send every case in order: (matched count, mismatches described, legacy ids checked)."""
    matched, mismatches, pairs = 0, [], 0
    for case in cases:
        response = await send_case(port, case, {})
        problem = compare(case, response)
        pairs += len(legacy_pairs(response.body.decode("utf-8", errors="replace")))
        if problem is None:
            matched += 1
        else:
            req = case["request"]
            mismatches.append(f"{case['name']} ({req['method']} {req['path']}): {problem}")
    return matched, mismatches, pairs


def _report(title: str, matched: int, mismatches: list[str]) -> str:
    lines = [f"{title}: {matched} matched, 0 skipped, {len(mismatches)} mismatched"]
    lines += [f"  MISMATCH {m}" for m in mismatches]
    return "\n".join(lines)


# -- the tests -------------------------------------------------------------------------


async def test_v2_transcript(serve: StartServer, tmp_path: Path, replay_reports: list[str]) -> None:
    golden = load(V2_TRANSCRIPT)
    server = await serve(v2_config(tmp_path / "replay.db"))
    await seed_from_backup(server.ledger, golden["header"]["initial_state"]["plaintext_db_json"])
    matched, mismatches, pairs = await replay(server.port, golden["cases"])
    report = _report("replay v2", matched, mismatches)
    replay_reports.append(report.splitlines()[0])
    assert matched + len(mismatches) == len(golden["cases"]) == golden["header"]["case_count"]
    assert not mismatches, report
    assert pairs >= 20, "the legacy id check found too few ids to check"
    check = await server.ledger.check()
    assert check.ok, check.problems


def _scenario_names() -> list[str]:
    # Read at collection time; a missing file still yields one test, which fails in load().
    if not V2_SCENARIOS.exists():
        return ["(v2 scenarios file missing)"]
    return [s["name"] for s in json.loads(V2_SCENARIOS.read_text(encoding="utf-8"))["scenarios"]]


@pytest.mark.parametrize("name", _scenario_names())
async def test_v2_scenario(
    name: str, serve: StartServer, tmp_path: Path, replay_reports: list[str]
) -> None:
    golden = load(V2_SCENARIOS)
    scenario = next(s for s in golden["scenarios"] if s["name"] == name)
    server = await serve(v2_config(tmp_path / "scenario.db"))
    await seed_from_backup(server.ledger, golden["header"]["initial_state"]["plaintext_db_json"])
    matched, mismatches, _ = await replay(server.port, scenario["steps"])
    report = _report(f"scenario v2 {name}", matched, mismatches)
    replay_reports.append(report.splitlines()[0])
    assert not mismatches, report
    check = await server.ledger.check()
    assert check.ok, check.problems
