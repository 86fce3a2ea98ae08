"""The exit statuses of every ``lurkcoin`` command (the README's table lists the same).

Scripts and monitors tell "the books are broken" (1) from "the command could
not run" (2) and from "lurkcoin has a bug" (3); ``--json`` never changes
them.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What a ``lurkcoin`` command's exit status means."""

    OK = 0
    # `check` or `audit verify` found a problem; `bench`'s books did not balance.
    PROBLEMS_FOUND = 1
    # Bad usage, bad input, a bad configuration, a refused operation, or a
    # database or file that cannot be read or written: one "lurkcoin: error:" line.
    CANNOT_RUN = 2
    # An unexpected error (a bug): the traceback is printed.
    INTERNAL_ERROR = 3
    # Interrupted by Ctrl-C (SIGINT), 128 + 2 as a shell reports it.
    INTERRUPTED = 130
    # Whoever read the output closed it first (`lurkcoin export - | head`), 128 + SIGPIPE.
    OUTPUT_CLOSED = 141


# One line each, for the README's table and `lurkcoin --help`.
MEANINGS = {
    ExitCode.OK: "done; `check` and `audit verify` found nothing wrong",
    ExitCode.PROBLEMS_FOUND: (
        "`check` or `audit verify` found a problem (also: `bench`'s books did not balance)"
    ),
    ExitCode.CANNOT_RUN: (
        "not done: bad usage, input or configuration, a refused operation, or a "
        "database or file that cannot be read or written (one `lurkcoin: error:` line)"
    ),
    ExitCode.INTERNAL_ERROR: "an unexpected error, a bug in lurkcoin (the traceback is printed)",
    ExitCode.INTERRUPTED: "interrupted by Ctrl-C (SIGINT)",
    ExitCode.OUTPUT_CLOSED: "the output was closed before it was all written (`export - | head`)",
}


def epilog() -> str:
    """The exit statuses, for the end of ``lurkcoin --help``."""
    return "exit status: " + "; ".join(f"{int(code)} {text}" for code, text in MEANINGS.items())
