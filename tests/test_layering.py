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
