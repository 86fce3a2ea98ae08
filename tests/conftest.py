"""Shared fixtures: the real app on a real loopback port over a real SQLite file.

``pytest --backend postgresql`` runs the same tests on PostgreSQL (tests/backends.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path

import backends
import pytest
from auth_helpers import Bank, start_bank
from cli_helpers import Cli
from hypothesis import settings
from live_server import LiveServer, StartServer, start_server
from system_parts import SKIP_PREFIX, in_ci
from webhook_helpers import Receiver

from lurkcoin.config import Config
from lurkcoin.ledger import Ledger

# One-line results of the golden replay, shown in every run's summary (CI too).
_REPLAY_REPORTS = pytest.StashKey[list[str]]()


# No time limit per example: on a busy machine a slow example is not a failure
# (performance is measured with `lurkcoin bench`, never asserted in tests).
settings.register_profile("lurkcoin", deadline=None)
settings.load_profile("lurkcoin")


_POSTGRES = pytest.StashKey[str]()  # why the PostgreSQL half did not run ("" if it ran)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_REPLAY_REPORTS] = []
    if config.getoption("backend") == "postgresql":
        problem = backends.reachable()
        if problem is not None and in_ci():
            raise pytest.UsageError(
                f"--backend postgresql under CI=true, but PostgreSQL is not reachable at "
                f"LURKCOIN_TEST_POSTGRES_URL ({problem}); .ci/run must start one"
            )
        config.stash[_POSTGRES] = problem or ""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each half leaves out the other engine's own tests (PostgreSQL: everything, if none runs)."""
    if config.getoption("backend") != "postgresql":
        only_pg = [i for i in items if i.get_closest_marker("postgresql_only")]
        if only_pg:
            config.hook.pytest_deselected(items=only_pg)
            items[:] = [i for i in items if not i.get_closest_marker("postgresql_only")]
        return
    unreachable = config.stash[_POSTGRES]
    keep = [i for i in items if not unreachable and not i.get_closest_marker("sqlite_only")]
    dropped = [i for i in items if i not in keep]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Without a PostgreSQL to reach, the PostgreSQL half passes (its summary says why)."""
    config = session.config
    skipped = config.getoption("backend") == "postgresql" and config.stash[_POSTGRES]
    if skipped and exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.OK


@pytest.fixture(scope="session")
def postgres_databases(request: pytest.FixtureRequest) -> Iterator[backends.Databases | None]:
    if request.config.getoption("backend") != "postgresql":
        yield None
        return
    databases = backends.Databases()
    yield databases
    databases.close()


@pytest.fixture(autouse=True)
def database_backend(
    postgres_databases: backends.Databases | None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """On the PostgreSQL half, this test's own fresh database for everything it opens."""
    if postgres_databases is None:
        yield
        return
    name = postgres_databases.fresh()
    url = backends.url_for(name)
    monkeypatch.setenv("LURKCOIN_DATABASE_URL", url)
    yield from backends.point_defaults_at(url)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    if config.getoption("backend") == "postgresql":
        terminalreporter.section("backend")
        problem = config.stash[_POSTGRES]
        terminalreporter.write_line(
            f"PostgreSQL half SKIPPED: {problem}" if problem else "PostgreSQL half: ran"
        )
    else:
        terminalreporter.section("backend")
        terminalreporter.write_line(
            "SQLite half ran; the PostgreSQL half runs with `pytest --backend postgresql`"
        )
    reports = config.stash.get(_REPLAY_REPORTS, [])
    if reports:
        terminalreporter.section("golden replay")
        for line in reports:
            terminalreporter.write_line(line)
    missing = sorted(
        {
            str(report.longrepr[2]).split(SKIP_PREFIX, 1)[1]
            for report in terminalreporter.stats.get("skipped", [])
            if isinstance(report.longrepr, tuple) and SKIP_PREFIX in str(report.longrepr[2])
        }
    )
    if missing:
        terminalreporter.section("skipped for missing optional system parts")
        for part in missing:
            terminalreporter.write_line(part)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Under CI=true a skip is a failure: CI installs every part, and data lives in the repo."""
    report = yield
    if in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where nothing may be skipped: {reason}"
    return report


@pytest.fixture
def replay_reports(request: pytest.FixtureRequest) -> list[str]:
    """Where the replay tests put their one-line counts for the summary."""
    return request.config.stash[_REPLAY_REPORTS]


async def check_books(request: pytest.FixtureRequest, ledger: Ledger) -> None:
    """`lurkcoin check`'s invariant check, after a test that used ``ledger``.

    Run on every ledger the fixtures open, so every test that moves money
    ends with the books checked. A test that breaks them on purpose says so
    with ``@pytest.mark.unbalanced_books``; a ledger the test closed is not
    checked (there is nothing left to read).
    """
    if request.node.get_closest_marker("unbalanced_books") or ledger.store.reader is None:
        return
    report = await ledger.check()
    assert report.ok, f"the books do not balance after {request.node.name}: {report.problems}"


@pytest.fixture
async def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Ledger]:
    """A fresh Ledger on a real SQLite file (default config, integral formula)."""
    config = Config()
    config.database.path = str(tmp_path / "ledger.db")
    opened = await Ledger.open(config)
    try:
        yield opened
        await check_books(request, opened)
    finally:
        await opened.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A real webhook receiver on a loopback port."""
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="the database every test's ledger runs on (default: sqlite)",
    )
    # For tests/test_crash.py: `pytest -m soak --soak-rounds N` runs a longer soak.
    parser.addoption(
        "--soak-rounds",
        type=int,
        default=20,
        help="kill/restart rounds of the soak test (default: 20)",
    )


@pytest.fixture
async def serve(request: pytest.FixtureRequest) -> AsyncIterator[StartServer]:
    """``await serve(config)`` starts a server; every one still running is checked and stopped."""
    started: list[LiveServer] = []

    async def start(config: Config, *, ledger: Ledger | None = None) -> LiveServer:
        server = await start_server(config, ledger=ledger)
        started.append(server)
        return server

    try:
        yield start
        for server in started:
            if not server.stopped:
                await check_books(request, server.ledger)
    finally:
        for server in reversed(started):
            await server.stop()


@pytest.fixture
async def bank(serve: StartServer, tmp_path: Path) -> Bank:
    """A running server with Alpha (¤1,000.00) and Bravo (¤500.00), integral rates.

    A module that needs more overrides it with a fixture of the same name
    that takes this one (``def bank(bank: Bank) -> Bank``).
    """
    return await start_bank(serve, tmp_path)


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    """``cli("create-server", "Alpha")`` runs the lurkcoin command on a file in tmp_path."""
    return Cli(tmp_path, capsys)
