"""The `lurkcoin webhooks` table (or its --json): each server's webhook delivery state.

The states come from ``ledger.outbox.delivery_states()``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from lurkcoin.models import DeliveryState


def _when(at: float | None) -> str:
    if at is None:
        return "-"
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _next(state: DeliveryState, now: float) -> str:
    if not state.pending or state.next_attempt_at is None:
        return "-"
    wait = state.next_attempt_at - now
    if wait <= 0:
        return "now"
    return f"in {wait:.1f} s" if wait < 10 else f"in {wait:.0f} s"


def _result(state: DeliveryState) -> str:
    if state.last_attempt_at is None:
        return "never tried"
    if state.last_error is None:
        return f"ok ({state.last_status})"
    return state.last_error


def delivery_state_json(s: DeliveryState) -> dict[str, object]:
    """One server's state for `lurkcoin webhooks --json` (times in Unix seconds, or null)."""
    return {
        "server": s.server_name,
        "url": s.webhook_url,
        "signed": s.signed,
        "pending": s.pending,
        "queued_at": s.queued_at,
        "next_attempt_at": s.next_attempt_at,
        "attempts": s.attempts,
        "last_attempt_at": s.last_attempt_at,
        "last_status": s.last_status,
        "last_error": s.last_error,
        "last_success_at": s.last_success_at,
        "consecutive_failures": s.consecutive_failures,
        "gave_up_at": s.gave_up_at,
    }


def render_delivery_states(states: list[DeliveryState], now: float | None = None) -> str:
    """The `lurkcoin webhooks` table: one line per server."""
    now = time.time() if now is None else now
    header = ("SERVER", "SIGNED", "PENDING", "LAST ATTEMPT", "RESULT", "FAILURES", "NEXT", "URL")
    rows = [header]
    for s in states:
        result = _result(s)
        if s.gave_up_at is not None:
            result += f" (gave up {_when(s.gave_up_at)})"
        rows.append(
            (
                s.server_name,
                "yes" if s.signed else "no",
                "yes" if s.pending else "no",
                _when(s.last_attempt_at),
                result,
                str(s.consecutive_failures),
                _next(s, now),
                s.webhook_url or "-",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1]
        for r in rows
    ]
    return "\n".join(line.rstrip() for line in lines)
