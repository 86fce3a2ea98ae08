"""How lurkcoin is installed: the migrations travel inside the package."""

from __future__ import annotations

import shutil
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


ROOT = PACKAGE.parent


def _unit() -> dict[str, list[str]]:
    """The unit's Service/Unit/Install settings: name -> every value given."""
    settings: dict[str, list[str]] = {}
    for line in (ROOT / "contrib" / "lurkcoin.service").read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            name, _, value = line.partition("=")
            settings.setdefault(name.strip(), []).append(value.strip())
    return settings


def test_the_systemd_unit_is_hardened_and_notifies() -> None:
    unit = _unit()
    assert unit["Type"] == ["notify"] and unit["WatchdogSec"]
    assert unit["DynamicUser"] == ["yes"] and unit["StateDirectory"] == ["lurkcoin"]
    assert unit["ProtectSystem"] == ["strict"] and unit["NoNewPrivileges"] == ["yes"]
    assert unit["LimitNOFILE"] and unit["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert "/var/lib/lurkcoin/" in unit["Environment"][0]  # the database in the state directory


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    text = (ROOT / "contrib" / "lurkcoin.service").read_text(encoding="utf-8")
    # The installed path of the executable, here: the test's own interpreter.
    unit = tmp_path / "lurkcoin.service"
    unit.write_text(text.replace("/usr/local/bin/lurkcoin", f"{sys.executable} -m lurkcoin"))
    if analyze is None:  # not a systemd machine: the parse test above still ran
        return
    done = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    problems = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if "lurkcoin.service" in line and "network-online.target" not in line
    ]
    assert done.returncode == 0 and not problems, done.stdout + done.stderr


def test_the_dockerfile_runs_as_a_user_keeps_data_on_a_volume_and_checks_readyz() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    instructions = [line.split()[0] for line in lines if line.split()[0].isupper()]
    last_from = max(i for i, line in enumerate(lines) if line.startswith("FROM "))
    final = lines[last_from:]
    users = [line.split()[1] for line in final if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert any(line.startswith("VOLUME") and "/data" in line for line in final)
    assert any("LURKCOIN_DATABASE_PATH=/data/" in line for line in final)
    health = next(i for i, line in enumerate(final) if line.startswith("HEALTHCHECK"))
    assert "/readyz" in final[health + 1] or "/readyz" in final[health]
    assert instructions[-1] == "CMD" and "slim" in lines[last_from]
    compose = (ROOT / "compose.yaml").read_text(encoding="utf-8")
    assert "lurkcoin-data:/data" in compose and "stop_grace_period" in compose
