"""The console's queue of account requests (self-service onboarding): list, approve, refuse.

Operators only: a request carries a stranger's contact details. Approving
creates the server through the Ledger (balance 0, the requested webhook URL,
no token until the requester claims it) with its audit entry; refusing needs
a reason, which the requester's claim answers with.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from lurkcoin.cli.commands import describe
from lurkcoin.console.actions import FormError, text
from lurkcoin.console.guard import CONFIG_KEY, actor, redirect, render, requires
from lurkcoin.console.pages import ledger_of
from lurkcoin.core.errors import LurkcoinError
from lurkcoin.ledger.onboarding import MAX_REASON_LENGTH

# Every waiting request fits on the page while [onboarding] max_pending is sane.
PENDING_SHOWN = 500
DECIDED_SHOWN = 50
DONE = {
    "approved": "Request approved: the server exists, and the requester may now claim its "
    "token (once).",
    "refused": "Request refused; the requester's claim answers with your reason.",
}


async def _context(request: web.Request) -> dict[str, Any]:
    ledger = ledger_of(request)
    config = request.config_dict[CONFIG_KEY]
    return {
        "pending": await ledger.account_requests(["pending"], PENDING_SHOWN, oldest_first=True),
        "decided": await ledger.account_requests(["approved", "claimed", "refused"], DECIDED_SHOWN),
        "enabled": config.onboarding.enabled,
        "claim_expiry": config.onboarding.claim_expiry,
        "max_reason": MAX_REASON_LENGTH,
        "now": int(time.time()),
        "done": DONE.get(request.query.get("done", "")),
        "error": None,
    }


@requires("operator")
async def requests_page(request: web.Request) -> web.StreamResponse:
    return render("requests.html", request, await _context(request))


def _request_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise web.HTTPNotFound(text="No such account request.")
    return int(raw)


async def _refused(request: web.Request, message: str) -> web.StreamResponse:
    context = await _context(request)
    context["error"] = message
    return render("requests.html", request, context, status=400)


@requires("operator")
async def approve(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        note = text(form, "note", MAX_REASON_LENGTH)
        await ledger_of(request).approve_account_request(
            _request_id(request), actor=actor(request), note=note
        )
    except FormError as exc:
        return await _refused(request, str(exc))
    except LurkcoinError as err:
        return await _refused(request, describe(err))
    return redirect("/admin/requests?done=approved")


@requires("operator")
async def refuse(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        reason = text(form, "reason", MAX_REASON_LENGTH)
        if not reason:
            raise FormError("Refusing a request needs a reason (the requester reads it).")
        await ledger_of(request).refuse_account_request(
            _request_id(request), reason, actor=actor(request)
        )
    except FormError as exc:
        return await _refused(request, str(exc))
    except LurkcoinError as err:
        return await _refused(request, describe(err))
    return redirect("/admin/requests?done=refused")
