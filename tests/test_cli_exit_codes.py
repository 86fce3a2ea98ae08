"""Every exit status of `lurkcoin` is one of lurkcoin.cli.exit_codes, as the README says."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import Cli, process_env
from test_backup import initial_backup
from test_progress import _read_terminal

from lurkcoin.cli import commands, main
from lurkcoin.cli.exit_codes import MEANINGS, ExitCode

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_readme_table_lists_every_exit_status() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("### Exit statuses", 1)[1].split("\n#", 1)[0]
    rows = [line.replace("\\|", "|") for line in section.splitlines() if line.startswith("| `")]
    listed = {int(re.match(r"\| `(\d+)`", row)[1]): row for row in rows}  # type: ignore[index]
    assert sorted(listed) == sorted(int(code) for code in ExitCode)
    for code, meaning in MEANINGS.items():
        assert meaning in listed[code], (code, listed[code])


def test_help_lists_them(cli: Cli) -> None:
    status, out, _ = cli("--help")
    assert status == ExitCode.OK
    assert "exit status: 0 done" in " ".join(out.split())


def _broken_books(cli: Cli) -> None:
    with sqlite3.connect(cli.db) as conn:
        conn.execute("UPDATE servers SET balance = balance + 1 WHERE uid = 'alpha'")
        conn.execute("UPDATE audit_log SET reason = 'edited' WHERE id = 1")


@pytest.mark.sqlite_only  # reads or edits the SQLite file, or SQLite's own machinery
@pytest.mark.parametrize(
    "argv, broken, expected",
    [
        (["list-servers"], False, ExitCode.OK),
        (["check"], False, ExitCode.OK),
        (["check", "--json"], False, ExitCode.OK),
        (["audit", "verify"], False, ExitCode.OK),
        (["--version"], False, ExitCode.OK),
        (["check"], True, ExitCode.PROBLEMS_FOUND),
        (["check", "--json"], True, ExitCode.PROBLEMS_FOUND),
        (["audit", "verify"], True, ExitCode.PROBLEMS_FOUND),
        (["audit", "verify", "--json"], True, ExitCode.PROBLEMS_FOUND),
        (["frobnicate"], False, ExitCode.CANNOT_RUN),  # usage
        (["adjust", "alpha", "abc", "--reason", "x"], False, ExitCode.CANNOT_RUN),  # input
        (["adjust", "nobody", "5", "--reason", "x"], False, ExitCode.CANNOT_RUN),  # refused
        (["delete-server", "alpha"], False, ExitCode.CANNOT_RUN),  # refused: it holds money
        (["export", "alpha.json/inside-a-file.json"], False, ExitCode.CANNOT_RUN),  # a file
        (["expire-pending"], False, ExitCode.CANNOT_RUN),  # off in the configuration
    ],
)
def test_exit_statuses(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], broken: bool,
    expected: ExitCode,
) -> None:  # fmt: skip
    cli.create("Alpha", "--balance", "5")
    (tmp_path / "alpha.json").write_text("{}", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    if broken:
        _broken_books(cli)
    result = cli(*argv)
    assert result.status == expected, result
    if expected in (ExitCode.PROBLEMS_FOUND, ExitCode.CANNOT_RUN):
        result.assert_one_error_line(status=expected)


@pytest.mark.sqlite_only  # reads or edits the SQLite file, or SQLite's own machinery
def test_a_database_that_cannot_be_used_is_status_2(cli: Cli) -> None:
    cli.create("Alpha")
    with sqlite3.connect(cli.db) as conn:
        conn.execute("PRAGMA user_version = 999")
    cli("check").assert_one_error_line(status=ExitCode.CANNOT_RUN)
    cli.config.write_text("[database]\nbogus = 1\n", encoding="utf-8")
    cli("check").assert_one_error_line(status=ExitCode.CANNOT_RUN)


def test_a_bug_is_status_3_with_its_traceback(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No input is known to reach a bug, so this test plants one in a command."""
    cli.create("Alpha")

    async def buggy(ledger: object, args: object) -> int:
        raise KeyError("planted")

    monkeypatch.setattr(commands, "list_servers", buggy)
    capsys.readouterr()
    status = main(["--config", str(cli.config), "list-servers"])
    err = capsys.readouterr().err
    assert status == ExitCode.INTERNAL_ERROR
    assert "Traceback" in err and "KeyError: 'planted'" in err


def _lurkcoin(config: Path, *argv: str, **popen: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "lurkcoin", "--config", str(config), *argv],
        env=process_env(),
        **popen,
    )


def test_ctrl_c_is_status_130(cli: Cli) -> None:
    cli.create("Alpha")
    master, slave = os.openpty()
    # `import -` waits on its standard input; its progress line says when it is there.
    proc = _lurkcoin(cli.config, "import", "-", stdin=subprocess.PIPE, stderr=slave)
    try:
        os.close(slave)
        shown = b""
        deadline = time.monotonic() + 60
        while b"reading standard input" not in shown and time.monotonic() < deadline:
            shown += os.read(master, 4096)
        proc.send_signal(signal.SIGINT)  # once, as a person presses Ctrl-C
        _read_terminal(master, proc, 30)
        assert proc.wait(timeout=30) == ExitCode.INTERRUPTED
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdin is not None
        proc.stdin.close()
        os.close(master)


def test_output_closed_early_is_status_141(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "golden.json"
    source.write_text(json.dumps(initial_backup(), default=str), encoding="utf-8")
    cli.ok("import", str(source))
    proc = _lurkcoin(cli.config, "export", "-", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # like `| head -c0`, before lurkcoin has started up
    with proc.stderr:
        err = proc.stderr.read()
    assert proc.wait(timeout=60) == ExitCode.OUTPUT_CLOSED
    assert err == b""
