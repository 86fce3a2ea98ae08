"""The `lurkcoin` command run in-process on a real SQLite file: what the ``cli`` fixture gives."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from lurkcoin.cli import main
from lurkcoin.config import load_config
from lurkcoin.ledger import Ledger
from lurkcoin.models import Server

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent


def process_env(
    *, keep_database_url: bool = True, drop: tuple[str, ...] = ("LURKCOIN_",), **extra: str
) -> dict[str, str]:
    """The environment for a `python -m lurkcoin` child: only its config file speaks.

    Variables starting with ``drop`` are left out, except the PostgreSQL half's
    LURKCOIN_DATABASE_URL unless ``keep_database_url`` is False; ``extra`` is added.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(drop) or (keep_database_url and k == "LURKCOIN_DATABASE_URL")
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env | extra


@dataclass
class Result:
    status: int
    out: str
    err: str

    def __iter__(self) -> Iterator[Any]:
        """``status, out, err = cli(...)``."""
        return iter((self.status, self.out, self.err))

    def assert_one_error_line(self, status: int = 2) -> str:
        """A refusal: the given status and one 'lurkcoin: error:' line, no traceback."""
        assert self.status == status, (self.status, self.out, self.err)
        assert self.err.startswith("lurkcoin: error: "), self.err
        assert self.err.count("\n") == 1 and self.err.endswith("\n"), self.err
        assert "Traceback" not in self.out + self.err
        return self.err


class Cli:
    """Runs ``lurkcoin --config <tmp>/test.toml ...`` in this process."""

    def __init__(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.db = tmp_path / "ledger.db"
        self.config = tmp_path / "test.toml"
        self.config.write_text(f'[database]\npath = "{self.db}"\n', encoding="utf-8")
        self._capsys = capsys

    def __call__(self, *argv: str) -> Result:
        self._capsys.readouterr()
        status = main(["--config", str(self.config), *argv])
        out, err = self._capsys.readouterr()
        return Result(status, out, err)

    def ok(self, *argv: str) -> str:
        result = self(*argv)
        assert (result.status, result.err) == (0, ""), result
        return result.out

    def create(self, name: str, *options: str) -> str:
        """Create a server; returns its token."""
        return self.ok("create-server", name, *options).splitlines()[-1]

    def with_ledger(self, look: Callable[[Ledger], T]) -> T:
        """Open the database as the server would and look at it."""

        async def go() -> T:
            ledger = await Ledger.open(load_config(self.config, environ={}))
            try:
                return look(ledger)
            finally:
                await ledger.close()

        return asyncio.run(go())

    def server(self, name: str) -> Server | None:
        return self.with_ledger(lambda ledger: ledger.server(name))

    def authenticates(self, name: str, token: str) -> bool:
        async def go() -> bool:
            ledger = await Ledger.open(load_config(self.config, environ={}))
            try:
                return await ledger.authenticate(name, token) is not None
            finally:
                await ledger.close()

        return asyncio.run(go())
