"""The lint gates: ruff is clean, the code is formatted, mypy --strict passes (pyproject.toml)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, "lurkcoin", "tests"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_ruff_is_clean() -> None:
    result = _ruff("check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_applied() -> None:
    result = _ruff("format", "--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "lurkcoin"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_tests_import_helpers_not_conftest() -> None:
    """conftest.py holds fixtures; shared helpers live in modules tests import by name."""
    importing = re.compile(r"^\s*(from\s+conftest\s+import|import\s+conftest)\b", re.MULTILINE)
    offenders = [
        path.name
        for path in (ROOT / "tests").glob("*.py")
        if importing.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], offenders
