"""A one-line progress display for long CLI work (import, export, check, backup, prefill).

It draws on standard error only when standard error is a terminal, so
cron mails, pipes and log files never see it, and standard output (where
``export -`` and ``--json`` write) is never touched. The line is redrawn in
place (carriage return, then "erase to end of line") at most ten times a
second, and erased when the work is done, so the command's own summary
prints on a clean line. Updates may come from worker threads (the writer,
SQLite's backup): a lock keeps lines whole.
"""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import TextIO

# Seconds between redraws: often enough to look alive, rarely enough to cost nothing.
REDRAW_INTERVAL = 0.1
_ERASE_LINE = "\r\x1b[K"


class Progress:
    """``with Progress() as p: p.phase("exporting", total); p.advance(n)...``.

    ``stream``: where to draw (default: standard error); nothing is drawn
    unless it is a terminal, so callers report progress unconditionally.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = sys.stderr if stream is None else stream
        self.enabled = _is_terminal(self._stream)
        self._lock = threading.Lock()
        self._label = ""
        self._unit = ""
        self._total: int | None = None
        self._done = 0
        self._started = 0.0
        self._drawn_at = 0.0
        self._shown = False

    def phase(self, label: str, total: int | None = None, unit: str = "") -> None:
        """Start a step of the work: what it is, how many ``unit``s it has (None: unknown)."""
        with self._lock:
            self._label, self._total, self._unit, self._done = label, total, unit, 0
            self._started = time.monotonic()
            self._draw(force=True)

    def advance(self, count: int = 1) -> None:
        """``count`` more units of the current step are done."""
        with self._lock:
            self._done += count
            self._draw(force=self._total is not None and self._done >= self._total)

    def update(self, done: int, total: int | None = None) -> None:
        """The current step has ``done`` units done (of ``total``, when it changed)."""
        with self._lock:
            self._done = done
            if total is not None:
                self._total = total
            self._draw(force=total is not None and done >= total)

    def close(self) -> None:
        """Erase the line (the caller prints its own summary next)."""
        with self._lock:
            if self._shown:
                self._write(_ERASE_LINE)
                self._shown = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def line(self) -> str:
        """The text drawn now (without the control characters)."""
        text = self._label
        if self._total:
            share = min(self._done, self._total) / self._total
            text += f": {share:.0%} ({self._done:,} of {self._total:,}{self._unit_text()})"
            elapsed = time.monotonic() - self._started
            if 0 < share < 1 and elapsed >= 1:
                text += f", {elapsed * (1 - share) / share:.0f} s left"
        elif self._done:
            text += f": {self._done:,}{self._unit_text()}"
        else:
            text += "..."
        return text

    def _unit_text(self) -> str:
        return f" {self._unit}" if self._unit else ""

    def _draw(self, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._drawn_at < REDRAW_INTERVAL:
            return
        self._drawn_at = now
        self._write(_ERASE_LINE + self.line())
        self._shown = True

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # the terminal went away: progress is not worth an error
            self.enabled = False


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
