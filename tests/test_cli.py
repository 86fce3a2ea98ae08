"""The lurkcoin command, run in-process on a real SQLite file (and twice as a real process)."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from io import StringIO
from pathlib import Path
from typing import TypeVar

import pytest
from cli_helpers import Cli, Result, process_env

from lurkcoin.cli import main

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No LURKCOIN_* variable of the developer's, and no ./lurkcoin.toml, reaches a test."""
    for var in [v for v in os.environ if v.startswith("LURKCOIN_")]:
        monkeypatch.delenv(var)
    monkeypatch.chdir(tmp_path)


# -- accounts -------------------------------------------------------------------------


def test_create_server_prints_a_token_that_authenticates(cli: Cli) -> None:
    out = cli.ok(
        "create-server",
        "Alpha Server",
        "--balance",
        "1000",
        "--target-balance",
        "500.5",
        "--webhook",
        "http://example.com/hooks",
    )
    assert "shown only once" in out
    token = out.splitlines()[-1]
    assert len(token) > 100 and " " not in token
    assert cli.authenticates("alphaserver", token)
    assert not cli.authenticates("alphaserver", token[:-2])
    server = cli.server("Alpha Server")
    assert server is not None
    assert (server.balance, server.target_balance) == (100_000, 50_050)
    assert server.webhook_url == "http://example.com/hooks/lurkcoin"
    assert "¤1,000.00" in out and "uid alphaserver" in out


def test_create_server_defaults_and_refusals(cli: Cli) -> None:
    cli.create("Bravo")
    server = cli.server("bravo")
    assert server is not None and (server.balance, server.target_balance) == (0, 0)
    assert "already exists" in cli("create-server", "BRAVO").assert_one_error_line()
    assert "negative" in cli("create-server", "C", "--balance", "-1").assert_one_error_line()
    assert "more than" in cli("create-server", "C", "--balance", "1e20").assert_one_error_line()
    assert (
        "webhook URL" in cli("create-server", "D", "--webhook", "ftp://x").assert_one_error_line()
    )
    assert "letter or digit" in cli("create-server", "!!").assert_one_error_line()
    assert [cli.server(n) for n in ("C", "D")] == [None, None]


def test_list_servers(cli: Cli) -> None:
    cli.create("Alpha", "--balance", "1234567.89", "--webhook", "https://a.example/")
    cli.create("Bravo", "--target-balance", "100")
    out = cli.ok("list-servers")
    header, alpha, bravo, total = out.splitlines()
    assert header.split() == ["NAME", "UID", "BALANCE", "TARGET", "BALANCE", "WEBHOOK"]
    assert alpha.split() == [
        "Alpha",
        "alpha",
        "¤1,234,567.89",
        "¤0.00",
        "https://a.example/lurkcoin",
    ]
    assert bravo.split() == ["Bravo", "bravo", "¤0.00", "¤100.00", "-"]
    assert total == "2 servers, ¤1,234,567.89 in circulation"


def test_list_servers_on_an_empty_ledger_says_how_to_start(cli: Cli) -> None:
    cli.create("Gone")
    cli.ok("delete-server", "Gone")
    assert "lurkcoin create-server NAME" in cli.ok("list-servers")


@pytest.mark.sqlite_only  # reads or edits the SQLite file, or SQLite's own machinery
def test_adjust_with_reason(cli: Cli) -> None:
    cli.create("Alpha", "--balance", "10")
    out = cli.ok("adjust", "alpha", "2.1", "--reason", "prize")
    assert "+¤2.10" in out and "¤12.10" in out
    cli.ok("adjust", "ALPHA", "-0.3", "--reason", "fee")
    server = cli.server("alpha")
    assert server is not None and server.balance == 1180  # exact cents: no float on the way
    with sqlite3.connect(cli.db) as conn:
        rows = conn.execute("SELECT amount, reason FROM adjustments ORDER BY id").fetchall()
    assert rows[-2:] == [(210, "prize"), (-30, "fee")]
    assert cli.ok("check").endswith("OK: every invariant holds.\n")


def test_adjust_without_reason_is_refused(cli: Cli) -> None:
    cli.create("Alpha", "--balance", "10")
    assert "--reason" in cli("adjust", "alpha", "5").assert_one_error_line()
    assert "needs a reason" in cli("adjust", "alpha", "5", "--reason", " ").assert_one_error_line()
    server = cli.server("alpha")
    assert server is not None and server.balance == 1000


def test_adjust_refuses_what_the_ledger_refuses(cli: Cli) -> None:
    cli.create("Alpha", "--balance", "10")
    err = cli("adjust", "alpha", "-10.01", "--reason", "x").assert_one_error_line()
    assert "cannot go below ¤0.00" in err and "¤10.00" in err
    assert "zero" in cli("adjust", "alpha", "0", "--reason", "x").assert_one_error_line()
    server = cli.server("alpha")
    assert server is not None and server.balance == 1000


def test_set_target_balance(cli: Cli) -> None:
    cli.create("Alpha")
    assert "¤750.25" in cli.ok("set-target-balance", "alpha", "750.25")
    server = cli.server("alpha")
    assert server is not None and server.target_balance == 75_025
    err = cli("set-target-balance", "alpha", "500000000.01").assert_one_error_line()
    assert "between ¤0.00 and ¤500,000,000.00" in err
    cli("set-target-balance", "alpha", "-1").assert_one_error_line()


def test_regenerate_token(cli: Cli) -> None:
    old = cli.create("Alpha")
    out = cli.ok("regenerate-token", "alpha")
    new = out.splitlines()[-1]
    assert "shown only once" in out and new != old
    # The old token keeps working until the new one is first used, then never again.
    assert cli.authenticates("alpha", old)
    assert cli.authenticates("alpha", new)
    assert not cli.authenticates("alpha", old)


def test_regenerate_token_revoking_the_old_one_at_once(cli: Cli) -> None:
    old = cli.create("Alpha")
    new = cli.ok("regenerate-token", "alpha", "--revoke-old").splitlines()[-1]
    assert not cli.authenticates("alpha", old)
    assert cli.authenticates("alpha", new)


def test_set_webhook_and_clear(cli: Cli) -> None:
    cli.create("Alpha")
    assert "https://game.example:8443/lurkcoin" in cli.ok(
        "set-webhook", "alpha", "https://game.example:8443?x=1"
    )
    server = cli.server("alpha")
    assert server is not None and server.webhook_url == "https://game.example:8443/lurkcoin"
    assert "cleared" in cli.ok("set-webhook", "alpha", "--clear")
    server = cli.server("alpha")
    assert server is not None and server.webhook_url is None
    cli("set-webhook", "alpha").assert_one_error_line()
    cli("set-webhook", "alpha", "http://x.example", "--clear").assert_one_error_line()
    assert "webhook URL" in cli("set-webhook", "alpha", "gopher://x").assert_one_error_line()


def test_delete_server_is_refused_while_it_has_a_balance(cli: Cli) -> None:
    token = cli.create("Alpha", "--balance", "5")
    err = cli("delete-server", "alpha").assert_one_error_line()
    assert "holds ¤5.00" in err and "lurkcoin adjust Alpha -5.0 --reason" in err
    assert cli.authenticates("alpha", token)
    cli.ok("adjust", "alpha", "-5", "--reason", "closing")
    assert "Deleted" in cli.ok("delete-server", "alpha")
    assert cli.server("alpha") is None
    assert not cli.authenticates("alpha", token)
    assert "No servers yet" in cli.ok("list-servers")


# -- backup, check, import and export -------------------------------------------------------------


@pytest.mark.sqlite_only  # reads or edits the SQLite file, or SQLite's own machinery
def test_backup_is_a_consistent_sqlite_copy(cli: Cli, tmp_path: Path) -> None:
    cli.create("Alpha", "--balance", "10")
    cli.create("Bravo")
    dest = tmp_path / "copy.db"
    assert "2 servers" in cli.ok("backup", str(dest))
    with sqlite3.connect(dest) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = conn.execute(
            "SELECT uid, balance FROM servers WHERE kind = 'server' ORDER BY uid"
        ).fetchall()
    assert rows == [("alpha", 1000), ("bravo", 0)]
    assert dest.stat().st_mode & 0o077 == 0  # token hashes: for the owner's eyes only
    cli.create("Charlie")
    cli.ok("backup", str(dest))  # replaces an older copy
    with sqlite3.connect(dest) as conn:
        assert conn.execute("SELECT COUNT(*) FROM servers WHERE kind = 'server'").fetchone() == (3,)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".copy")) == []


def test_backup_to_a_place_that_cannot_be_written(cli: Cli, tmp_path: Path) -> None:
    cli.create("Alpha")
    assert (
        "cannot write"
        in cli("backup", str(tmp_path / "no" / "such" / "dir.db")).assert_one_error_line()
    )
    assert "is a directory" in cli("backup", str(tmp_path)).assert_one_error_line()


def test_check_on_a_clean_ledger(cli: Cli) -> None:
    cli.create("Alpha", "--balance", "1000")
    cli.create("Bravo", "--balance", "0.5")
    out = cli.ok("check")
    assert "Money in circulation: ¤1,000.50" in out
    assert "Problems: none" in out and "Failed refunds: none" in out


@pytest.mark.sqlite_only  # reads or edits the SQLite file, or SQLite's own machinery
def test_check_reports_a_broken_invariant_with_status_1(cli: Cli) -> None:
    cli.create("Alpha", "--balance", "1000")
    with sqlite3.connect(cli.db) as conn:  # money appearing from nowhere
        conn.execute("UPDATE servers SET balance = balance + 1 WHERE uid = 'alpha'")
    result = cli("check")
    assert "invariant" in result.assert_one_error_line(status=1)
    assert "alpha: stored balance ¤1,000.01 but its entries sum to ¤1,000.00" in result.out


BACKUP = [
    {
        "version": 0,
        "name": "Old Alpha",
        "balance": 12345,
        "target_balance": 0,
        "history": [],
        "pending_transactions": [
            {
                "id": "T1-00000001",
                "source": "bob",
                "source_server": "Old Beta",
                "target": "al",
                "target_server": "Old Alpha",
                "amount": 1.5,
                "sent_amount": 1.5,
                "received_amount": 1.5,
                "time": 1600000000,
                "revertable": True,
            }
        ],
        "token": "alpha-token",
        "webhook_url": "http://game.example/",
    },
    {
        "version": 0,
        "name": "Old Beta",
        "balance": 0,
        "target_balance": 100000,
        "history": [],
        "pending_transactions": [],
        "token": "beta-token",
        "webhook_url": "",
    },
]


def test_import_and_export(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "core-backup.json"
    source.write_text(json.dumps(BACKUP), encoding="utf-8")
    out = cli.ok("import", str(source))
    assert out == (
        f"Imported 2 servers (0 already present) and 1 transactions (1 pending) from {source}.\n"
    )
    assert cli.authenticates("oldalpha", "alpha-token")
    server = cli.server("Old Alpha")
    assert server is not None and server.balance == 12345
    assert "(2 already present)" in cli.ok("import", str(source))  # idempotent

    exported = tmp_path / "export.json"
    assert "Exported 2 servers" in cli.ok("export", str(exported))
    records = json.loads(exported.read_text(encoding="utf-8"))
    assert [r["name"] for r in records] == ["Old Alpha", "Old Beta"]
    assert records[0]["pending_transactions"][0]["amount"] == 1.5
    assert json.loads(cli.ok("export", "-")) == records


def test_import_from_stdin(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", StringIO(json.dumps(BACKUP[1:])))
    assert "Imported 1 servers" in cli.ok("import", "-")
    assert cli.authenticates("oldbeta", "beta-token")


def test_bad_imports_change_nothing(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[{", encoding="utf-8")
    assert "not valid JSON" in cli("import", str(bad)).assert_one_error_line()
    bad.write_text(json.dumps([{**BACKUP[1], "balance": "lots"}]), encoding="utf-8")
    assert "nothing was imported" in cli("import", str(bad)).assert_one_error_line()
    assert "cannot read" in cli("import", str(tmp_path / "missing.json")).assert_one_error_line()
    assert "No servers yet" in cli.ok("list-servers")


# -- bad input: one line on stderr, status 2 ---------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["adjust", "nobody", "5", "--reason", "x"],
        ["set-target-balance", "nobody", "5"],
        ["regenerate-token", "nobody"],
        ["set-webhook", "nobody", "--clear"],
        ["delete-server", "nobody"],
    ],
)
def test_unknown_server(cli: Cli, argv: list[str]) -> None:
    cli.create("Alpha")
    assert "no server named 'nobody'" in cli(*argv).assert_one_error_line()


@pytest.mark.parametrize(
    "amount, why",
    [
        ("abc", "is not an amount"),
        ("1,000", "is not an amount"),
        ("0x10", "is not an amount"),
        ("NaN", "is not an amount"),
        ("", "is not an amount"),
        ("1e5000", "is not an amount"),
        ("1e30", "is more than ¤1,000,000,000,000.00"),  # would overflow a 64-bit column
        ("1000000000000.01", "is more than"),
    ],
)
def test_bad_amount(cli: Cli, amount: str, why: str) -> None:
    cli.create("Alpha", "--balance", "1")
    err = cli("adjust", "alpha", amount, "--reason", "x").assert_one_error_line()
    assert why in err and "lurkcoin adjust --help" in err
    server = cli.server("alpha")
    assert server is not None and server.balance == 100


def test_unknown_config_key(cli: Cli) -> None:
    cli.config.write_text(f'[database]\npath = "{cli.db}"\nmax_btach = 5\n', encoding="utf-8")
    err = cli("list-servers").assert_one_error_line()
    assert "unknown key 'max_btach' (did you mean 'max_batch'?) in [database]" in err


def test_missing_config_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status = main(["--config", str(tmp_path / "nope.toml"), "list-servers"])
    out, err = capsys.readouterr()
    Result(status, out, err).assert_one_error_line()
    assert "cannot read config file" in err and "nope.toml" in err


def test_bad_environment_value(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LURKCOIN_SERVER_PORT", "http")
    assert "LURKCOIN_SERVER_PORT" in cli("list-servers").assert_one_error_line()


@pytest.mark.sqlite_only  # reads or edits the SQLite file, or SQLite's own machinery
def test_commands_other_than_create_need_an_existing_database(cli: Cli) -> None:
    for argv in (["list-servers"], ["check"], ["backup", "x.db"], ["export", "-"]):
        assert "no database at" in cli(*argv).assert_one_error_line()
    assert not cli.db.exists()


@pytest.mark.sqlite_only  # reads or edits the SQLite file, or SQLite's own machinery
def test_database_newer_than_the_program(cli: Cli) -> None:
    cli.create("Alpha")
    with sqlite3.connect(cli.db) as conn:
        conn.execute("PRAGMA user_version = 999")
    err = cli("list-servers").assert_one_error_line()
    assert "schema version 999" in err and "upgrade lurkcoin" in err


@pytest.mark.sqlite_only  # reads or edits the SQLite file, or SQLite's own machinery
def test_database_that_is_not_sqlite(cli: Cli) -> None:
    cli.db.write_text("this is not a database\n" * 100, encoding="utf-8")
    assert "not a database" in cli("list-servers").assert_one_error_line()


def test_usage_errors(cli: Cli) -> None:
    assert "required: COMMAND" in cli().assert_one_error_line()
    assert "invalid choice" in cli("frobnicate").assert_one_error_line()
    assert "not a port number" in cli("serve", "--port", "70000").assert_one_error_line()


# -- finding the configuration ------------------------------------------------------------


@pytest.mark.sqlite_only  # reads or edits the SQLite file, or SQLite's own machinery
def test_config_from_the_environment(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LURKCOIN_DATABASE_PATH", str(tmp_path / "env.db"))
    assert main(["create-server", "Alpha"]) == 0
    assert (tmp_path / "env.db").exists()
    config = tmp_path / "elsewhere.toml"
    config.write_text(f'[database]\npath = "{tmp_path / "named.db"}"\n', encoding="utf-8")
    monkeypatch.delenv("LURKCOIN_DATABASE_PATH")
    monkeypatch.setenv("LURKCOIN_CONFIG", str(config))
    assert main(["create-server", "Bravo"]) == 0
    assert (tmp_path / "named.db").exists()


@pytest.mark.sqlite_only  # reads or edits the SQLite file, or SQLite's own machinery
def test_config_from_the_working_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "lurkcoin.toml").write_text('[database]\npath = "here.db"\n', encoding="utf-8")
    assert main(["create-server", "Alpha"]) == 0
    assert (tmp_path / "here.db").exists()


def test_config_option_after_the_command(cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
    cli.create("Alpha")
    capsys.readouterr()
    assert main(["list-servers", "--config", str(cli.config)]) == 0
    assert "Alpha" in capsys.readouterr().out


# -- as a real process -------------------------------------------------------------------------


def test_python_m_lurkcoin_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lurkcoin", "--help"],
        capture_output=True,
        text=True,
        env=process_env(keep_database_url=False),
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for command in (
        "serve",
        "create-server",
        "list-servers",
        "adjust",
        "set-target-balance",
        "regenerate-token",
        "set-webhook",
        "delete-server",
        "import",
        "export",
        "backup",
        "check",
    ):
        assert command in done.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_serve_answers_and_stops_cleanly(tmp_path: Path, stop: signal.Signals) -> None:
    port = _free_port()
    db = tmp_path / "served.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lurkcoin", "serve", "--port", str(port)],
        cwd=tmp_path,
        # What Kubernetes injects beside a Service named "lurkcoin": ignored, one warning.
        env=process_env(
            keep_database_url=False,
            LURKCOIN_DATABASE_PATH=str(db),
            LURKCOIN_PORT="tcp://10.0.0.5:5000",
            LURKCOIN_SERVICE_HOST="10.0.0.5",
            LURKCOIN_PORT_5000_TCP_ADDR="10.0.0.5",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/v3/version", timeout=2
                ) as reply:
                    body = json.load(reply)
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the server did not answer in 30 s"
                time.sleep(0.1)
        assert body["success"] is True
        proc.send_signal(stop)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    first = out.splitlines()[0]
    assert f"listening on http://127.0.0.1:{port}" in first and str(db) in first
    assert "lurkcoin create-server NAME --balance 1000" in first
    assert "Traceback" not in err
    assert db.exists()
    ignored = [line for line in err.splitlines() if "ignoring" in line]
    assert len(ignored) == 1, err
    assert "LURKCOIN_PORT, LURKCOIN_PORT_5000_TCP_ADDR, LURKCOIN_SERVICE_HOST" in ignored[0]


def test_set_webhook_sign_prints_a_secret_and_webhooks_lists_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = Cli(tmp_path, capsys)
    cli.create("Hooked")
    out = cli.ok("set-webhook", "hooked", "https://game.example/x", "--sign")
    secret = out.strip().splitlines()[-1]
    assert secret.startswith("whsec_") and "https://game.example/x/lurkcoin" in out
    assert cli.with_ledger(lambda ledger: ledger.require_server("hooked").webhook_secret) == secret
    # Changing the URL keeps the secret; --unsigned drops it.
    assert "whsec_" not in cli.ok("set-webhook", "hooked", "https://game.example/y")
    assert cli.with_ledger(lambda ledger: ledger.require_server("hooked").webhook_secret) == secret
    table = cli.ok("webhooks")
    assert "Hooked" in table and "https://game.example/y/lurkcoin" in table
    cli.ok("set-webhook", "hooked", "https://game.example/y", "--unsigned")
    assert cli.with_ledger(lambda ledger: ledger.require_server("hooked").webhook_secret) is None
    assert "--clear" in cli("set-webhook", "hooked", "--clear", "--sign").assert_one_error_line()
