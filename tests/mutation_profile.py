"""A pytest plugin for mutation runs only (setup.cfg [mutmut] loads it with -p).

Hypothesis without deadlines: a niced mutation run on a shared machine is
slow, and a missed deadline would count as a kill. Derandomised, so that
one mutant meets the same examples every run and a verdict does not flip.

Every memo in lurkcoin (functools caches: uids, the V2 rates) is emptied
before each test: mutmut forks each mutant's run from a process whose clean
run filled them, and a cached answer would hide the mutated function.

A test phase that runs past HUNG_AFTER seconds fails: a mutant that makes a
payment wait forever (a writer loop that never takes the queue) is caught in
half a minute instead of at mutmut's own timeout, 15 times the whole
selection's time. The slowest selected test takes about 2 s.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Generator
from types import FrameType

import pytest
from hypothesis import settings

HUNG_AFTER = 30.0

settings.register_profile("mutation", deadline=None, derandomize=True)
settings.load_profile("mutation")


class Hung(Exception):
    """The test phase ran past HUNG_AFTER seconds."""


def _hung(signum: int, frame: FrameType | None) -> None:
    raise Hung(f"this test phase ran for more than {HUNG_AFTER:g} s")


def _clear_memos() -> None:
    for name, module in list(sys.modules.items()):
        if name == "lurkcoin" or name.startswith("lurkcoin."):
            for value in list(vars(module).values()):
                clear = getattr(value, "cache_clear", None)
                if callable(clear):
                    clear()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    _clear_memos()
    return (yield from _limited())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    return (yield from _limited())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    return (yield from _limited())


def _limited() -> Generator[None, None, None]:
    previous = signal.signal(signal.SIGALRM, _hung)
    signal.setitimer(signal.ITIMER_REAL, HUNG_AFTER)
    try:
        return (yield)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
