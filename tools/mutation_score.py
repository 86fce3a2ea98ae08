"""Count `mutmut results --all true` (stdin) by status, for the mutant name patterns given.

The score is killed (a test failed, or the mutant hung until its timeout)
out of every mutant that some test runs.
"""

from __future__ import annotations

import fnmatch
import sys
from collections import Counter

CAUGHT = ("killed", "timeout")


def main(patterns: list[str]) -> None:
    counts: Counter[str] = Counter()
    for line in sys.stdin:
        name, sep, status = line.strip().rpartition(": ")
        if sep and any(fnmatch.fnmatch(name, p) for p in patterns):
            counts[status] += 1
    for status, count in sorted(counts.items()):
        print(f"{status:12} {count:5}")
    tested = sum(n for s, n in counts.items() if s not in ("no tests", "not checked"))
    caught = sum(counts[s] for s in CAUGHT)
    if tested:
        print(f"caught {caught} of {tested} tested mutants ({100 * caught / tested:.1f}%)")


if __name__ == "__main__":
    main(sys.argv[1:])
