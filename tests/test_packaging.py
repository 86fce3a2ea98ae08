"""How lurkcoin is installed: the migrations travel inside the package."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import lurkcoin
from lurkcoin.store.migrate import available_migrations

PACKAGE = Path(lurkcoin.__file__).resolve().parent


def test_migrations_are_numbered_and_inside_the_package() -> None:
    found = available_migrations()
    assert [n for n, _ in found] == list(range(1, len(found) + 1))
    assert all((PACKAGE / "store" / "migrations" / p.name).is_file() for _, p in found)


def test_a_zipped_package_migrates_a_new_database(tmp_path: Path) -> None:
    # A zipapp or a zip on sys.path has no directory to look in: only
    # importlib.resources finds the SQL files there.
    archive = tmp_path / "lurkcoin.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in PACKAGE.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                zf.write(path, Path("lurkcoin") / path.relative_to(PACKAGE))
    db = tmp_path / "zipped.db"
    script = (
        "import sqlite3, sys, lurkcoin.store.migrate as m\n"
        "assert m.__file__.startswith(sys.argv[1]), m.__file__\n"
        "print(m.migrate(sqlite3.connect(sys.argv[2], isolation_level=None)))\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(archive)!r})\n" + script,
            str(archive),
            str(db),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    latest = available_migrations()[-1][0]
    assert done.stdout.strip() == str(latest)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (latest,)
