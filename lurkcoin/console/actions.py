"""The console's changes: each a POST through the Ledger, audited in the same transaction.

Roles and the CSRF token are checked before a handler runs (lurkcoin.console.guard).
A refused change re-renders its page with the reason; a secret (a token, a
key, a signing secret) is shown once on the reply to the POST and never again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import MultiDictProxy

from lurkcoin.cli.commands import describe
from lurkcoin.console.guard import actor, redirect, render, requires
from lurkcoin.console.pages import ledger_of, server_context, server_or_404
from lurkcoin.core.errors import LurkcoinError
from lurkcoin.core.fees import MAX_FEE_BPS
from lurkcoin.core.money import AmountError, parse_amount
from lurkcoin.ledger.credentials import SCOPES
from lurkcoin.models import Server

Form = MultiDictProxy[Any]


class FormError(Exception):
    """A field the operator must correct; nothing was changed."""


def text(form: Form, name: str, limit: int = 1000) -> str:
    value = form.get(name, "")
    if not isinstance(value, str):
        raise FormError(f"{name} must be text")
    if len(value) > limit:
        raise FormError(f"{name} is too long")
    return value.strip()


def amount(form: Form, name: str) -> int:
    raw = text(form, name, 64)
    try:
        return parse_amount(raw.replace(",", ""))
    except AmountError:
        raise FormError(f"{raw!r} is not an amount of lurkcoins (like 12.50)") from None


async def _refused(request: web.Request, server: Server, message: str) -> web.StreamResponse:
    context = await server_context(request, server)
    context["error"] = message
    return render("server.html", request, context, status=400)


def _back(server: Server, done: str) -> web.Response:
    return redirect(f"/admin/servers/{server.uid}?done={done}")


def _secret(request: web.Request, title: str, value: str, server: Server | None) -> web.Response:
    context = {"title": title, "value": value, "server": server}
    return render("secret.html", request, context)


Action = Callable[[web.Request, Server, Form], Awaitable[web.StreamResponse]]


def server_action(role: str, action: Action) -> Handler:
    """The route handler of one change to a server, declaring the role it needs."""

    @requires(role)
    async def handle(request: web.Request) -> web.StreamResponse:
        server = server_or_404(request)
        form = await request.post()
        try:
            return await action(request, server, form)
        except FormError as exc:
            return await _refused(request, server, str(exc))
        except LurkcoinError as err:
            return await _refused(request, server, describe(err))

    return handle


async def adjust(request: web.Request, server: Server, form: Form) -> web.StreamResponse:
    delta, reason = amount(form, "amount"), text(form, "reason")
    if not reason:
        raise FormError("An adjustment needs a reason.")
    await ledger_of(request).adjust_balance(server.uid, delta, reason, actor=actor(request))
    return _back(server, "adjusted")


async def target(request: web.Request, server: Server, form: Form) -> web.StreamResponse:
    cents = amount(form, "target_balance")
    await ledger_of(request).set_target_balance(server, cents, actor=actor(request))
    return _back(server, "target")


async def fee(request: web.Request, server: Server, form: Form) -> web.StreamResponse:
    raw = text(form, "fee_bps", 16)
    if not (raw.isascii() and raw.isdigit()) or not 0 <= int(raw) <= MAX_FEE_BPS:
        raise FormError(
            f"{raw!r} is not an exchange fee: a whole number of basis points, "
            f"0 to {MAX_FEE_BPS} (100 = 1%)"
        )
    await ledger_of(request).set_fee(server, int(raw), actor=actor(request))
    return _back(server, "fee")


async def webhook(request: web.Request, server: Server, form: Form) -> web.StreamResponse:
    url = text(form, "url", 2048) or None
    sign = True if form.get("sign") == "new" else False if form.get("sign") == "off" else None
    _, secret = await ledger_of(request).set_webhook(server, url, sign=sign, actor=actor(request))
    if secret is not None:
        return _secret(request, "Webhook signing secret", secret, server)
    return _back(server, "webhook")


async def webhook_test(request: web.Request, server: Server, form: Form) -> web.StreamResponse:
    await ledger_of(request).queue_test_webhook(server, actor=actor(request))
    return _back(server, "webhook-test")


async def webhook_secret(request: web.Request, server: Server, form: Form) -> web.StreamResponse:
    secret = await ledger_of(request).rotate_webhook_secret(server, actor=actor(request))
    return _secret(request, "Webhook signing secret", secret, server)


async def token(request: web.Request, server: Server, form: Form) -> web.StreamResponse:
    keep_old = form.get("revoke_old") != "yes"
    new = await ledger_of(request).regenerate_token(server, keep_old=keep_old, actor=actor(request))
    return _secret(request, "API token", new, server)


async def create_key(request: web.Request, server: Server, form: Form) -> web.StreamResponse:
    scopes = [s for s in form.getall("scope", []) if s in SCOPES]
    if not scopes:
        raise FormError("Pick at least one scope.")
    _, key = await ledger_of(request).create_api_key(
        server, scopes, text(form, "label", 100), actor=actor(request)
    )
    return _secret(request, "Read-only API key", key, server)


async def revoke_key(request: web.Request, server: Server, form: Form) -> web.StreamResponse:
    key_id = text(form, "key", 18)
    if not key_id.isascii() or not key_id.isdigit():
        raise FormError("No such API key.")
    await ledger_of(request).revoke_api_key(server, int(key_id), actor=actor(request))
    return _back(server, "key-revoked")


async def settle_pending(request: web.Request, server: Server, form: Form) -> web.StreamResponse:
    ids = [i for i in form.getall("txn", []) if isinstance(i, str)][:1000]
    reason = text(form, "reason")
    if not ids:
        raise FormError("Tick the transactions to settle.")
    if not reason:
        raise FormError("Settling pending transactions needs a reason.")
    ledger = ledger_of(request)
    if form.get("how") == "reject":
        await ledger.force_reject(server, ids, reason, actor=actor(request))
    elif form.get("how") == "acknowledge":
        await ledger.force_acknowledge(server, ids, reason, actor=actor(request))
    else:
        raise FormError("Choose acknowledge or reject.")
    return _back(server, "pending")


async def delete(request: web.Request, server: Server, form: Form) -> web.StreamResponse:
    if text(form, "confirm", 200) != server.name:
        raise FormError("Type the server's name exactly to delete it.")
    drain = form.get("drain") == "yes"
    reason = text(form, "reason")
    if drain and not reason:
        raise FormError("Moving its balance to issuance needs a reason.")
    await ledger_of(request).delete_server(
        server.uid, actor=actor(request), drain_reason=reason if drain else None
    )
    return redirect("/admin/servers")


# Path segment under /admin/servers/{uid}/ -> the route handler.
SERVER_ACTIONS = {
    "adjust": server_action("operator", adjust),
    "target": server_action("operator", target),
    "fee": server_action("operator", fee),
    "webhook": server_action("operator", webhook),
    "webhook-test": server_action("operator", webhook_test),
    "webhook-secret": server_action("operator", webhook_secret),
    "token": server_action("operator", token),
    "keys": server_action("operator", create_key),
    "revoke-key": server_action("operator", revoke_key),
    "pending": server_action("operator", settle_pending),
    "delete": server_action("owner", delete),
}


@requires("operator")
async def create_server(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    values = {k: form.get(k, "") for k in ("name", "balance", "target_balance", "webhook")}
    try:
        name = text(form, "name", 200)
        balance = amount(form, "balance") if text(form, "balance") else 0
        target_balance = amount(form, "target_balance") if text(form, "target_balance") else 0
        server, new_token = await ledger_of(request).create_server(
            name,
            balance=balance,
            target_balance=target_balance,
            webhook_url=text(form, "webhook", 2048) or None,
            actor=actor(request),
        )
    except (FormError, LurkcoinError) as exc:
        message = describe(exc) if isinstance(exc, LurkcoinError) else str(exc)
        context = {"error": message, "form": values}
        return render("create.html", request, context, status=400)
    return _secret(request, f"API token of {server.name}", new_token, server)
