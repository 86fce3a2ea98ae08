"""`--json` of check, list-servers, webhooks and audit verify: documented shapes, same status."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest
from cli_helpers import Cli


def as_json(text: str) -> Any:
    return json.loads(text)


def test_list_servers_json(cli: Cli) -> None:
    cli.create("Gone")
    cli.ok("delete-server", "gone")
    assert as_json(cli.ok("list-servers", "--json")) == {"servers": [], "circulating_cents": 0}
    cli.create("Alpha", "--balance", "10.50", "--target-balance", "500")
    cli.create("Bravo", "--webhook", "https://game.example/hook")
    listed = as_json(cli.ok("list-servers", "--json"))
    assert listed["circulating_cents"] == 1050
    alpha, bravo = listed["servers"]
    assert isinstance(alpha.pop("created_at"), int)
    assert alpha == {
        "name": "Alpha",
        "uid": "alpha",
        "balance_cents": 1050,
        "target_balance_cents": 50000,
        "webhook_url": None,
    }
    assert bravo["webhook_url"] == "https://game.example/hook/lurkcoin"


def test_check_json_on_clean_books(cli: Cli) -> None:
    cli.create("Alpha", "--balance", "1000")
    report = as_json(cli.ok("check", "--json"))
    assert report == {
        "ok": True,
        "servers": 1,
        "circulating_cents": 100000,
        "fees_collected_cents": 0,
        "failed_refunds": [],
        "audit_entries": report["audit_entries"],
        "problems": [],
    }
    assert report["audit_entries"] >= 1  # the creation was audited


@pytest.mark.sqlite_only  # reads or edits the SQLite file, or SQLite's own machinery
def test_check_json_on_broken_books_keeps_exit_status_1(cli: Cli) -> None:
    cli.create("Alpha", "--balance", "1000")
    with sqlite3.connect(cli.db) as conn:  # money appearing from nowhere
        conn.execute("UPDATE servers SET balance = balance + 1 WHERE uid = 'alpha'")
    result = cli("check", "--json")
    assert "invariant" in result.assert_one_error_line(status=1)
    report = as_json(result.out)
    assert report["ok"] is False
    assert "alpha: stored balance ¤1,000.01 but its entries sum to ¤1,000.00" in report["problems"]


@pytest.mark.sqlite_only  # reads or edits the SQLite file, or SQLite's own machinery
def test_audit_verify_json(cli: Cli) -> None:
    cli.create("Alpha")
    cli.create("Bravo")
    clean = as_json(cli.ok("audit", "verify", "--json"))
    assert clean == {"ok": True, "entries": clean["entries"], "breaks": []}
    assert clean["entries"] >= 2
    with sqlite3.connect(cli.db) as conn:
        conn.execute("UPDATE audit_log SET reason = 'edited' WHERE id = 1")
    result = cli("audit", "verify", "--json")
    assert "audit log is broken" in result.assert_one_error_line(status=1)
    broken = as_json(result.out)
    assert broken["ok"] is False and broken["entries"] == clean["entries"]
    assert broken["breaks"][0]["entry_id"] == 1 and broken["breaks"][0]["why"]


def test_webhooks_json(cli: Cli) -> None:
    cli.create("Hooked")
    assert as_json(cli.ok("webhooks", "--json")) == {"webhooks": []}
    cli.ok("set-webhook", "hooked", "https://game.example/x", "--sign")
    (state,) = as_json(cli.ok("webhooks", "--json"))["webhooks"]
    assert state == {
        "server": "Hooked",
        "url": "https://game.example/x/lurkcoin",
        "signed": True,
        "pending": False,
        "queued_at": None,
        "next_attempt_at": None,
        "attempts": 0,
        "last_attempt_at": None,
        "last_status": None,
        "last_error": None,
        "last_success_at": None,
        "consecutive_failures": 0,
        "gave_up_at": None,
    }
