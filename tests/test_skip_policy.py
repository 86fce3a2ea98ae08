"""Skips: a missing optional system part is named in the summary, and under CI=true fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
INNER = """
import pytest
from system_parts import require

def test_needs_a_browser():
    require("chromium", False, "apt-get install chromium")

def test_skips_for_data():
    pytest.skip("golden file not found")

def test_passes():
    pass
"""
INNER_MODULE = """
from system_parts import require

require("a browser", False, "apt-get install chromium", module=True)

def test_never_collected():
    pass
"""


def _run_inner(
    tmp_path: Path, ci: str | None, *, module: bool = True
) -> subprocess.CompletedProcess[str]:
    for helper in (
        "conftest.py",
        "system_parts.py",
        "webhook_helpers.py",
        "live_server.py",
        "auth_helpers.py",
        "cli_helpers.py",
        "backends.py",
    ):
        shutil.copy(TESTS / helper, tmp_path / helper)
    (tmp_path / "test_inner.py").write_text(INNER, encoding="utf-8")
    if module:
        (tmp_path / "test_inner_module.py").write_text(INNER_MODULE, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_outside_ci_a_missing_part_skips_and_is_named(tmp_path: Path) -> None:
    result = _run_inner(tmp_path, None)
    assert result.returncode == 0, result.stdout
    assert "1 passed, 3 skipped" in result.stdout
    assert "a browser (apt-get install chromium)" in result.stdout
    assert "skipped for missing optional system parts" in result.stdout
    assert "chromium (apt-get install chromium)" in result.stdout


@pytest.mark.parametrize("ci", ["true", "TRUE"])
def test_under_ci_every_skip_fails(tmp_path: Path, ci: str) -> None:
    result = _run_inner(tmp_path, ci, module=False)
    assert result.returncode == 1, result.stdout
    assert "2 failed, 1 passed" in result.stdout
    assert "chromium is missing under CI=true" in result.stdout
    assert "nothing may be skipped: Skipped: golden file not found" in result.stdout


def test_under_ci_a_module_missing_its_part_stops_the_run(tmp_path: Path) -> None:
    result = _run_inner(tmp_path, "true")
    assert result.returncode == 2, result.stdout
    assert "a browser is missing under CI=true" in result.stdout
