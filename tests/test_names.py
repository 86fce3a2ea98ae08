"""Tests of server uids and user-name cleaning (lurkcoin.core.names)."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
from golden_files import V3_TRANSCRIPT
from hypothesis import given
from hypothesis import strategies as st

from lurkcoin.core import names
from lurkcoin.core.names import (
    MAX_USERNAME_LENGTH,
    clean_username,
    server_name_problem,
    server_uid,
    username_too_long,
)

GOLDEN = V3_TRANSCRIPT


@pytest.fixture(autouse=True)
def _uncached_uids() -> None:
    """Each test computes its uids: the memo is process-wide (and a mutation run
    forks its workers from one process that already filled it)."""
    names._cached_uid.cache_clear()


def load_golden() -> dict[str, Any]:
    assert GOLDEN.exists(), f"golden transcript missing: {GOLDEN}"
    return json.loads(GOLDEN.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("name", "uid"),
    [
        ("\u00fcn\u00ef:c\u00f6d\u00e9", "_n__c_d_"),
        ("!n!!c!d!", "_n__c_d_"),  # transcript: summary_unicode_server_uid_collision_ascii
        ("!n!c!d!", "_n_c_d_"),
        ("Echo Server", "echoserver"),
        ("ECHO SERVER", "echoserver"),
        ("My Server!", "myserver_"),
        ("myserver_", "myserver_"),
        ("Alpha", "alpha"),
        ("tab\there", "tab_here"),  # only the ASCII space is deleted
        ("a\u00a0b", "a_b"),
        ("\u0130stanbul", "istanbul"),  # Go's simple mapping, not Python's "i\u0307"
        ("\u212aelvin", "kelvin"),  # KELVIN SIGN lower-cases to ASCII k
        ("\U0001f680", "_"),  # one code point, one "_"
        ("", ""),
    ],
)
def test_server_uid_examples(name: str, uid: str) -> None:
    assert server_uid(name) == uid


@given(st.text())
def test_server_uid_shape(name: str) -> None:
    uid = server_uid(name)
    assert re.fullmatch(r"[a-z0-9_]*", uid)
    assert len(uid) == len(name) - name.count(" ")
    assert server_uid(uid) == uid


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_server_uid_of_ascii(name: str) -> None:
    expected = re.sub(r"[^a-z0-9_]", "_", name.lower().replace(" ", ""))
    assert server_uid(name) == expected


def test_server_uids_of_transcript_servers() -> None:
    servers = load_golden()["header"]["initial_state"]["servers"]
    uids = {server["name"]: server_uid(server["name"]) for server in servers}
    assert uids["\u00fcn\u00ef:c\u00f6d\u00e9"] == "_n__c_d_"
    assert uids["Echo Server"] == "echoserver"
    assert len(set(uids.values())) == len(uids)


def test_server_uids_of_transcript_logins() -> None:
    """Every successful summary names the server whose uid the Basic user maps to."""
    checked = 0
    for case in load_golden()["cases"]:
        request = case["request"]
        auth = request["headers"].get("Authorization", "")
        body = (case.get("ours") or case["response"]).get("body_json") or {}
        if request["path"] != "/v3/summary" or not body.get("success"):
            continue
        credentials = auth.split(" ", 1)[1]  # the scheme is case-insensitive
        user = base64.b64decode(credentials).decode().split(":", 1)[0]
        assert server_uid(user) == body["result"]["uid"] == server_uid(body["result"]["name"])
        checked += 1
    assert checked >= 3


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("  spaced alice  ", "spaced alice"),
        ("tab\there\nnl", "tab\ufffdhere\ufffdnl"),
        ("\talice\t", "\ufffdalice\ufffd"),  # only ASCII spaces are trimmed
        ("\u00a0bob\u00a0", "\ufffdbob\ufffd"),
        ("zero\u200bwidth", "zero\ufffdwidth"),  # format character
        ("Zo\u00eb \U0001f680", "Zo\u00eb \U0001f680"),
        ("<b>&amp;", "<b>&amp;"),
        ("a:b:c", "a:b:c"),
        ("lone\ud800surrogate", "lone\ufffdsurrogate"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_clean_username_examples(raw: str, cleaned: str) -> None:
    assert clean_username(raw) == cleaned


@given(st.text())
def test_clean_username_properties(raw: str) -> None:
    cleaned = clean_username(raw)
    assert cleaned.isprintable()
    assert not cleaned.startswith(" ") and not cleaned.endswith(" ")
    assert len(cleaned) == len(raw.strip(" "))
    assert clean_username(cleaned) == cleaned


def test_username_length_limit() -> None:
    assert MAX_USERNAME_LENGTH == 48
    assert not username_too_long("s" * 48)
    assert username_too_long("s" * 49)
    assert not username_too_long("\U0001f680" * 48)  # code points, not bytes
    assert username_too_long("\u00e9" * 49)
    assert not username_too_long("")


def transcript_name_cases() -> list[dict[str, Any]]:
    cases = []
    for case in load_golden()["cases"]:
        if case["request"]["path"] != "/v3/pay" or not case["request"]["body"]:
            continue
        body = (case.get("ours") or case["response"]).get("body_json") or {}
        if body.get("success") or body.get("error") in (
            "ERR_SOURCEUSERNAMETOOLONG",
            "ERR_USERNAMETOOLONG",
        ):
            cases.append(case)
    return cases


@pytest.mark.parametrize("case", transcript_name_cases(), ids=lambda case: case["name"])
def test_transcript_user_names(case: dict[str, Any]) -> None:
    fields = {k.lower(): v for k, v in json.loads(case["request"]["body"]).items()}
    source = clean_username(fields.get("source", ""))
    target = clean_username(fields.get("target", ""))
    expected = (case.get("ours") or case["response"])["body_json"]
    if username_too_long(source):
        assert expected["error"] == "ERR_SOURCEUSERNAMETOOLONG"
    elif username_too_long(target):
        assert expected["error"] == "ERR_USERNAMETOOLONG"
    else:
        assert expected["success"]
        assert expected["result"]["source"] == source
        assert expected["result"]["target"] == target
        assert server_uid(expected["result"]["target_server"]) == server_uid(
            fields["target_server"]
        )


def test_long_names_are_not_memoised() -> None:
    """Long names (failed logins, quotes) must not pin memory in the uid cache."""
    from lurkcoin.core import names

    before = names._cached_uid.cache_info().currsize
    assert server_uid("X" * 5000) == "x" * 5000
    assert names._cached_uid.cache_info().currsize == before
    assert server_uid("Short Name") == "shortname"


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("Alpha", None),
        ("a", None),
        ("x" * 64, None),
        ("Mine Test 2", None),  # spaces inside are fine
        ("_a_", None),
        ("", "must not be empty"),
        ("x" * 65, "at most 64 characters, got 65"),
        pytest.param("é" * 63 + "a", None, id="64-code-points"),  # not bytes
        pytest.param("é" * 64 + "a", "at most 64 characters, got 65", id="65-code-points"),
        ("a\nb", "only printable characters (no control characters or line breaks)"),
        ("a\x00", "only printable characters (no control characters or line breaks)"),
        (" Alpha", "no spaces at the start or end"),
        ("Alpha ", "no spaces at the start or end"),
        ("al:pha", "no ':' (a login cannot carry it)"),
        ("___", "needs at least one letter or digit (a-z, 0-9)"),
        ("!!!", "needs at least one letter or digit (a-z, 0-9)"),
    ],
)
def test_server_name_problem(name: str, problem: str | None) -> None:
    assert server_name_problem(name) == problem
