"""Architecture rules that code review alone would let slip."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "lurkcoin"
SQL = re.compile(r"\b(SELECT\s+\S|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|PRAGMA\s+\w)")


def test_no_sql_outside_the_store_layer() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.relative_to(PACKAGE).parts[0] == "store":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if SQL.search(line):
                offenders.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert not offenders, "SQL belongs in lurkcoin/store:\n" + "\n".join(offenders)


def test_the_pure_core_does_no_io() -> None:
    forbidden = re.compile(r"^\s*(import|from)\s+(asyncio|aiohttp|aiosqlite|sqlite3|socket|os)\b")
    offenders = [
        f"{p.name}: {line.strip()}"
        for p in (PACKAGE / "core").glob("*.py")
        for line in p.read_text(encoding="utf-8").splitlines()
        if forbidden.match(line)
    ]
    assert not offenders, offenders


# Ways to reach the store: importing it, or going through a Ledger's ``store``.
_STORE_ACCESS = re.compile(
    r"^\s*(from|import)\s+lurkcoin\.store\b|^\s*from\s+lurkcoin\s+import\s+.*\bstore\b|\.store\b"
)


def test_the_ledger_is_the_only_door_to_the_store() -> None:
    """api/, cli/, console/ and webhooks/ go through the Ledger (or ``ledger.outbox``)."""
    offenders = [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for package in ("api", "cli", "console", "explorer_page", "webhooks")
        for path in (PACKAGE / package).rglob("*.py")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _STORE_ACCESS.search(line)
    ]
    assert not offenders, "go through the Ledger:\n" + "\n".join(offenders)


def test_no_module_reads_another_objects_private_connection() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for path in PACKAGE.rglob("*.py")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"(?<!\bself)\._conn\b", line)
    ]
    assert not offenders, offenders


def test_the_readme_layout_lists_every_package() -> None:
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    packages = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))
    missing = [name for name in packages if f"`lurkcoin/{name}/`" not in layout]
    assert packages and not missing, f"README's layout table misses: {missing}"
