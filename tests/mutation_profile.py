"""A pytest plugin for mutation runs only (setup.cfg [mutmut] loads it with -p).

Hypothesis without deadlines: a niced mutation run on a shared machine is
slow, and a missed deadline would count as a kill. Derandomised, so that
one mutant meets the same examples every run and a verdict does not flip.
"""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("mutation", deadline=None, derandomize=True)
settings.load_profile("mutation")
