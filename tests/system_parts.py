"""Optional system parts a test may need (a browser, PostgreSQL), and what their absence means.

Without the part a test skips and the run's summary names the part; under
``CI=true`` the absence is a failure instead, because ``.ci/run`` installs
every part the suite uses (see ``tests/conftest.py`` for the CI rule that
turns any skip into a failure).
"""

from __future__ import annotations

import os

import pytest

SKIP_PREFIX = "optional system part missing: "


def in_ci() -> bool:
    """True in the project's CI (``CI=true``), where nothing may be skipped."""
    return os.environ.get("CI", "").lower() == "true"


def require(part: str, available: bool, install: str, *, module: bool = False) -> None:
    """Skip the calling test (fail it under CI) unless ``part`` is available.

    ``module=True`` at the top of a test module skips (or fails) the whole module.
    """
    if available:
        return
    if in_ci():
        pytest.fail(
            f"{part} is missing under CI=true; .ci/run must install it ({install})", pytrace=False
        )
    pytest.skip(f"{SKIP_PREFIX}{part} ({install})", allow_module_level=module)
