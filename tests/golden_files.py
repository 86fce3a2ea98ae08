"""Where the tests find the recorded transcripts and the specs: the repository's own copies.

``tests/golden/`` and ``docs/spec/`` are copies of the project's ``shared/``
folder (see ``tests/golden/README.md``); ``test_golden_copies.py`` checks
they are identical to it wherever ``../shared`` exists.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GOLDEN_DIR = ROOT / "tests" / "golden"
SPEC_DIR = ROOT / "docs" / "spec"

V3_TRANSCRIPT = GOLDEN_DIR / "lurkcoin-v3.json"
V3_SCENARIOS = GOLDEN_DIR / "lurkcoin-v3-scenarios.json"
V2_TRANSCRIPT = GOLDEN_DIR / "lurkcoin-v2.json"
V2_SCENARIOS = GOLDEN_DIR / "lurkcoin-v2-scenarios.json"


def load(path: Path) -> dict[str, Any]:
    """A golden file's JSON; a missing file is an error, never a skip."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data
