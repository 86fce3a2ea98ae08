"""Progress of long CLI jobs: drawn on a real terminal (a pseudo-terminal), silent elsewhere.

The commands run as real processes with their standard error on the slave
side of ``os.openpty()``, as when an operator types them; the same commands
with standard error on a pipe (cron, scripts) must print nothing there.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from cli_helpers import process_env
from test_backup import initial_backup

from lurkcoin.progress import Progress

ROOT = Path(__file__).resolve().parent.parent
ERASE = "\r\x1b[K"


def _read_terminal(master: int, proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    """Everything the child wrote to the terminal, until it exits and closes it."""
    data = bytearray()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every slave side is closed
                break
            if not chunk:
                break
            data += chunk
        elif proc.poll() is not None:
            break
    return bytes(data)


def run(
    argv: list[str], *, terminal: bool, cwd: Path, timeout: float = 120
) -> tuple[int, bytes, str]:
    """Run ``python -m lurkcoin ARGV``: (exit status, stdout, what stderr showed)."""
    command = [sys.executable, "-m", "lurkcoin", *argv]
    with tempfile.TemporaryFile() as out:
        if not terminal:
            done = subprocess.run(
                command, cwd=cwd, env=process_env(), stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.PIPE, timeout=timeout, check=False,
            )  # fmt: skip
            out.seek(0)
            return done.returncode, out.read(), done.stderr.decode("utf-8", "replace")
        master, slave = os.openpty()
        try:
            proc = subprocess.Popen(
                command,
                cwd=cwd,
                env=process_env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=slave,
            )
            os.close(slave)
            slave = -1
            shown = _read_terminal(master, proc, timeout)
            status = proc.wait(timeout=timeout)
        finally:
            os.close(master)
            if slave >= 0:
                os.close(slave)
        out.seek(0)
        return status, out.read(), shown.decode("utf-8", "replace")


@pytest.fixture
def books(tmp_path: Path) -> Path:
    """A config over a database holding the golden initial state; returns the config file."""
    config = tmp_path / "lurkcoin.toml"
    config.write_text(f'[database]\npath = "{tmp_path / "books.db"}"\n', encoding="utf-8")
    source = tmp_path / "golden.json"
    source.write_text(json.dumps(initial_backup(), default=str), encoding="utf-8")
    status, _, err = run(
        ["--config", str(config), "import", str(source)], terminal=False, cwd=tmp_path
    )
    assert status == 0 and err == "", err
    return config


# argv, the progress line it draws at the end, what its stdout says
COMMANDS = {
    "export": (["export", "out.json"], "exporting: 100% (", "Exported 13 servers"),
    "check": (["check"], "checking the ledger: 100% (14 of 14 steps)", "OK: every invariant"),
    "backup": (["backup", "copy.db"], "copying the database: 100% (", "Backed up"),
    "import": (["import", "golden.json"], "importing: 100% (", "(13 already present)"),
}


def _names() -> list[object]:
    # `backup` is SQLite's online copy: left out of the PostgreSQL half.
    return [
        pytest.param(n, marks=pytest.mark.sqlite_only) if n == "backup" else n
        for n in sorted(COMMANDS)
    ]


@pytest.mark.parametrize("name", _names())
def test_a_long_command_shows_progress_on_a_terminal(books: Path, name: str) -> None:
    argv, drawn, result = COMMANDS[name]
    status, out, shown = run(["--config", str(books), *argv], terminal=True, cwd=books.parent)
    assert status == 0, shown
    assert shown.startswith(ERASE) and drawn in shown, shown
    assert shown.endswith(ERASE), shown  # erased before the result is printed
    assert result in out.decode(), out


@pytest.mark.parametrize("name", _names())
def test_a_long_command_is_quiet_when_stderr_is_not_a_terminal(books: Path, name: str) -> None:
    argv, _, result = COMMANDS[name]
    status, out, err = run(["--config", str(books), *argv], terminal=False, cwd=books.parent)
    assert (status, err) == (0, "")
    assert result in out.decode(), out


def test_export_to_stdout_on_a_terminal_keeps_stdout_clean(books: Path) -> None:
    status, out, shown = run(
        ["--config", str(books), "export", "-"], terminal=True, cwd=books.parent
    )
    _, quiet, _ = run(["--config", str(books), "export", "-"], terminal=False, cwd=books.parent)
    assert status == 0 and "exporting: " in shown
    assert out == quiet and json.loads(out)  # the progress went to the terminal only


@pytest.mark.sqlite_only  # the bench's prefill writes SQLite
def test_bench_prefill_shows_progress_only_on_a_terminal(tmp_path: Path) -> None:
    argv = [
        "bench", "--spawn", "--scenario", "balance", "--concurrency", "1", "--duration", "0.2",
        "--warmup", "0", "--servers", "2", "--prefill-transactions", "3000", "--json",
    ]  # fmt: skip
    status, out, shown = run(argv, terminal=True, cwd=tmp_path)
    assert status == 0, shown
    assert "prefilling: 100% (3,000 of 3,000 transactions)" in shown
    assert json.loads(out)["prefill"]["transactions"] == 3000
    status, out, err = run(argv, terminal=False, cwd=tmp_path)
    assert status == 0 and json.loads(out)["ok"]
    assert "prefilling 3,000 transactions" in err  # the bench's own log line
    assert "prefilling: " not in err and "\r" not in err


# -- the reporter itself, on a pseudo-terminal in this process ---------------------------


def test_the_reporter_draws_in_place_and_erases_its_line() -> None:
    master, slave = os.openpty()
    try:
        with os.fdopen(slave, "w", encoding="utf-8", closefd=True) as terminal:
            with Progress(terminal) as progress:
                assert progress.enabled
                progress.phase("copying", 2_000, "pages")
                progress.update(2_000, 2_000)
        shown = b""
        while True:  # a terminal hands its output over in pieces; all of it once closed
            try:
                piece = os.read(master, 65536)
            except OSError:  # EIO: the other side is closed and everything was read
                break
            if not piece:
                break
            shown += piece
    finally:
        os.close(master)
    assert shown.decode() == (
        f"{ERASE}copying: 0% (0 of 2,000 pages){ERASE}copying: 100% (2,000 of 2,000 pages){ERASE}"
    )


def test_the_reporter_writes_nothing_to_a_file_or_pipe(tmp_path: Path) -> None:
    with (tmp_path / "log").open("w", encoding="utf-8") as log:
        with Progress(log) as progress:
            assert not progress.enabled
            progress.phase("exporting", 10)
            progress.advance(10)
    assert (tmp_path / "log").read_text(encoding="utf-8") == ""


def test_the_reporter_line_without_a_total() -> None:
    with open(os.devnull, "w", encoding="utf-8") as nowhere:
        progress = Progress(nowhere)
        progress.phase("reading")
        assert progress.line() == "reading..."
        progress.advance(1234)
        assert progress.line() == "reading: 1,234"
        progress.phase("importing", 0, "rows")
        assert progress.line() == "importing..."
