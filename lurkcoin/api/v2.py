"""The legacy lurkcoinV2 API, on the same Ledger as /v3 (spec lurkcoin-v2.md).

Each endpoint answers GET and POST alike. Logins are the ``name`` and
``token`` parameters, checked by the same code as /v3 (throttling, read-only
keys and their scopes, the failed-login log); a payment is the same Ledger
operation as a /v3 payment, with the same idempotency keys. Nothing here
changes state except through a Ledger method that /v3 uses too, or the one
V2-only operation, Ledger.drop_oldest_pending.
"""

from __future__ import annotations

from aiohttp import web

from lurkcoin.api.app_keys import LEDGER_KEY
from lurkcoin.api.auth import Credentials, authenticate_credentials, server_actor
from lurkcoin.api.jsonout import Money, dumps
from lurkcoin.api.v2_request import (
    Params,
    json_reply,
    json_text_reply,
    text_reply,
)
from lurkcoin.core.errors import LurkcoinError
from lurkcoin.core.legacy_numbers import (
    InvalidNumber,
    multiplier_text,
    multiplier_to_target,
    parse_count,
    parse_v2_amount,
    rate_shortest,
    rate_ten_digits,
)
from lurkcoin.core.legacy_text import (
    HISTORY_TRANSACTIONS,
    history_lines,
    legacy_id,
    pending_entry_target,
    simple_line,
    transaction_text,
)
from lurkcoin.core.money import AmountError, format_balance
from lurkcoin.ledger import Ledger
from lurkcoin.models import Server, Transaction

_YES = frozenset({"true", "yes", "y", "1"})
# exchange_rates quotes 1.00 when the amount is missing, invalid or not positive.
_DEFAULT_QUOTE = 100


def _ledger(request: web.Request) -> Ledger:
    return request.app[LEDGER_KEY]


def _yes(value: str) -> bool:
    return value.lower() in _YES


async def _login(request: web.Request, params: Params, *scopes: str) -> Server:
    """The server ``name``/``token`` log in as: the /v3 login, throttle and key scopes."""
    name, token = params.get("name"), params.get("token")
    credentials = Credentials(name, token) if name or token else None
    return await authenticate_credentials(request, credentials, *scopes)


async def _history(request: web.Request, server: Server) -> list[str]:
    newest = await _ledger(request).history(server, HISTORY_TRANSACTIONS)
    return history_lines(server.name, server.balance, newest)


# -- account reads ------------------------------------------------------------------


async def summary(request: web.Request, params: Params) -> web.StreamResponse:
    server = await _login(request, params, "balance", "history")
    return json_reply(
        {
            "bal": Money(server.balance),
            "balance": format_balance(server.balance),
            "history": await _history(request, server),
            "interest_rate": 0,
            "server": True,
            "uid": server.uid,
        }
    )


async def bal(request: web.Request, params: Params) -> web.StreamResponse:
    server = await _login(request, params, "balance")
    return json_reply(Money(server.balance))


async def history(request: web.Request, params: Params) -> web.StreamResponse:
    """Text lines, or a JSON list when ``json`` is non-empty (even ``json=0``)."""
    server = await _login(request, params, "history")
    lines = await _history(request, server)
    if params.get("json"):
        return json_reply(lines)
    return text_reply("\n".join(lines))


async def get_exchange_multiplier(request: web.Request, params: Params) -> web.StreamResponse:
    server = await _login(request, params, "balance")
    return json_text_reply(multiplier_text(server.target_balance).encode("ascii"))


def _pending_entry(t: Transaction) -> list[object]:
    return [
        legacy_id(t.id),
        pending_entry_target(t.target),
        Money(t.received_amount),
        transaction_text(t),
    ]


async def get_transactions(request: web.Request, params: Params) -> web.StreamResponse:
    """Pending transactions, oldest first: a list, one ``simple`` line, or an object."""
    server = await _login(request, params, "pending")
    pending = await _ledger(request).pending(server)
    if params.get("simple"):
        rate = rate_shortest(server.balance, server.target_balance)
        if not pending:
            return json_reply(rate)  # the rate alone, as a JSON string
        return text_reply(simple_line(rate, pending[0]))
    entries = dumps([_pending_entry(t) for t in pending])
    if _yes(params.get("as_object")):
        rate = rate_ten_digits(server.balance, server.target_balance)
        return json_text_reply(f'{{"exchange_rate":{rate},"transactions":{entries}}}'.encode())
    return json_text_reply(entries.encode())


# -- quotes --------------------------------------------------------------------------


def _quote_amount(text: str) -> int:
    try:
        cents = parse_v2_amount(text)
    except (InvalidNumber, AmountError):
        return _DEFAULT_QUOTE
    return cents if cents > 0 else _DEFAULT_QUOTE


def _quote(request: web.Request, source: str, target: str, amount: str) -> web.StreamResponse:
    cents = _ledger(request).quote(source, target, _quote_amount(amount))
    return json_reply(Money(cents))


async def exchange_rates(request: web.Request, params: Params) -> web.StreamResponse:
    """No login: ``name`` and ``token`` are not credentials here."""
    return _quote(request, params.get("from"), params.get("to"), params.get("amount"))


async def get_exchange_rate(request: web.Request, params: Params) -> web.StreamResponse:
    """exchange_rates with ``name`` as the source server."""
    return _quote(request, params.get("name"), params.get("to"), params.get("amount"))


# -- changes ---------------------------------------------------------------------------


async def set_exchange_multiplier(request: web.Request, params: Params) -> web.StreamResponse:
    """Store target balance = multiplier × ¤500,000, computed exactly (ours, see the spec)."""
    server = await _login(request, params)
    try:
        cents = multiplier_to_target(params.get("multiplier"))
    except InvalidNumber:
        raise LurkcoinError("ERR_INVALIDAMOUNT") from None
    await _ledger(request).set_target_balance(server, cents, actor=server_actor(request, server))
    return text_reply("Exchange rate multiplier updated!")


async def remove_transactions(request: web.Request, params: Params) -> web.StreamResponse:
    """Drop the ``amount`` oldest pending entries; ``count`` stands in when ``amount`` is absent.

    The 2020 Minetest mod sends ``count``, which the reference ignores (so it
    removes one entry and the mod credits the rest again at its next sync).
    """
    server = await _login(request, params)
    raw = params.values.get("amount")
    if raw is None:
        raw = params.values.get("count")
    await _ledger(request).drop_oldest_pending(server, parse_count(raw))
    return text_reply("Done!")


async def pay(request: web.Request, params: Params) -> web.StreamResponse:
    """The amount is checked before the login (as the reference); Ledger.pay does the rest."""
    over_limit = False
    try:
        amount = parse_v2_amount(params.get("amount"))
    except InvalidNumber:
        raise LurkcoinError("ERR_INVALIDAMOUNT") from None
    except AmountError:  # a number, but far too large: over the spend limit
        amount, over_limit = 0, True
    server = await _login(request, params)
    if over_limit:
        raise LurkcoinError("ERR_TRANSACTIONLIMIT")
    ledger = _ledger(request)
    await ledger.pay(
        server,
        source_user=params.get("source"),
        target_user=params.get("target"),
        target_server=params.get("server") or ledger.config.server.name,
        amount=amount,
        local_currency=_yes(params.get("local_currency")),
        idempotency_key=request.headers.get("Idempotency-Key"),
    )
    return text_reply("Transaction sent!")
