"""What the CLI, the admin pages and the API call: delivery state and signing secrets."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from lurkcoin.core.errors import LurkcoinError
from lurkcoin.core.urls import normalise_webhook_url
from lurkcoin.ledger import accounts
from lurkcoin.ledger.audit import Actor
from lurkcoin.models import Server
from lurkcoin.store import webhooks as outbox
from lurkcoin.store.webhooks import DeliveryState
from lurkcoin.store.writes import WriteTx
from lurkcoin.webhooks.signing import new_signing_secret

if TYPE_CHECKING:
    from lurkcoin.ledger.engine import Ledger


async def delivery_states(ledger: Ledger) -> list[DeliveryState]:
    """Delivery state of every server with a webhook (or a delivery history), by name."""
    return await ledger.store.write(outbox.delivery_states)


def _set_webhook(
    tx: WriteTx, server_id: int, url: str | None, sign: bool | None, fresh: str, now: int
) -> None:
    server = tx.server_by_id(server_id)
    if server is None:
        raise LurkcoinError("ERR_SERVERNOTFOUND")
    secret = fresh if sign else None if sign is False else server.webhook_secret
    accounts.set_webhook(tx, server_id, url, secret, now)


async def set_webhook(
    ledger: Ledger,
    server: Server | str,
    url: str | None,
    *,
    sign: bool | None = None,
    actor: Actor | None = None,
) -> tuple[str | None, str | None]:
    """Store (or, with None, clear) a server's webhook URL; returns (stored URL, new secret).

    ``sign``: True makes a fresh signing secret (returned, to be shown once),
    False makes deliveries unsigned, None keeps whatever the server had.
    """
    s = ledger.require_server(server) if isinstance(server, str) else server
    normalised = normalise_webhook_url(url) if url is not None else None
    fresh = new_signing_secret()
    await ledger.change(
        lambda tx: _set_webhook(tx, s.id, normalised, sign, fresh, int(time.time())),
        action="set-webhook" if normalised else "clear-webhook",
        actor=actor,
        server_id=s.id,
    )
    return normalised, fresh if sign and normalised is not None else None


def _set_secret(tx: WriteTx, server_id: int, secret: str | None, now: int) -> None:
    server = tx.server_by_id(server_id)
    if server is None:
        raise LurkcoinError("ERR_SERVERNOTFOUND")
    if server.webhook_url is None:
        raise LurkcoinError("ERR_INVALIDREQUEST", "This server has no webhook URL to sign.")
    tx.update_server(server_id, now, webhook_secret=secret)


async def rotate_secret(ledger: Ledger, server: Server | str, *, actor: Actor | None = None) -> str:
    """Replace the server's signing secret (starting signing if it had none); returns it.

    The old secret stops working at once: deliveries after this carry only
    the new signature.
    """
    s = ledger.require_server(server) if isinstance(server, str) else server
    secret = new_signing_secret()
    await ledger.change(
        lambda tx: _set_secret(tx, s.id, secret, int(time.time())),
        action="rotate-webhook-secret",
        actor=actor,
        server_id=s.id,
    )
    return secret


async def remove_secret(
    ledger: Ledger, server: Server | str, *, actor: Actor | None = None
) -> None:
    """Stop signing the server's deliveries (they become exactly the reference's request)."""
    s = ledger.require_server(server) if isinstance(server, str) else server
    await ledger.change(
        lambda tx: _set_secret(tx, s.id, None, int(time.time())),
        action="remove-webhook-secret",
        actor=actor,
        server_id=s.id,
    )


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
