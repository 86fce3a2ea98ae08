"""The repository's copies of the transcripts and specs are the project's shared/ ones.

``../shared`` exists beside this checkout in the project's own CI and
sessions; anywhere else there is nothing to compare, and the tests read the
repository's copies regardless.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from golden_files import GOLDEN_DIR, ROOT, SPEC_DIR

SHARED = ROOT.parent / "shared"
COPIES = [
    (SHARED / "golden", GOLDEN_DIR, "*.json"),
    (SHARED / "spec", SPEC_DIR, "*.md"),
]


def _pairs() -> list[tuple[Path, Path]]:
    pairs = []
    for shared_dir, ours_dir, pattern in COPIES:
        names = {p.name for p in shared_dir.glob(pattern)} | {
            p.name for p in ours_dir.glob(pattern) if p.name != "README.md"
        }
        pairs += [(shared_dir / name, ours_dir / name) for name in sorted(names)]
    return pairs


def test_every_golden_file_is_in_the_repository() -> None:
    names = sorted(p.name for p in GOLDEN_DIR.glob("*.json"))
    assert names == [
        "lurkcoin-v2-scenarios.json",
        "lurkcoin-v2.json",
        "lurkcoin-v3-scenarios.json",
        "lurkcoin-v3.json",
    ]


@pytest.mark.skipif(not SHARED.is_dir(), reason="no ../shared beside this checkout to compare")
def test_copies_match_shared() -> None:
    differing = [
        f"{ours.relative_to(ROOT)} differs from {shared}"
        for shared, ours in _pairs()
        if not shared.exists() or not ours.exists() or shared.read_bytes() != ours.read_bytes()
    ]
    assert not differing, "\n".join(differing)
