"""The lurkcoinV3 API: parse each request, call the Ledger, render the reply.

Checks run in the reference server's order (spec, "Endpoints"); a handler
raises LurkcoinError and the app's middleware turns it into the error reply.
Reads name the scopes a read-only API key needs (``authenticate(request,
"balance")``); everything that changes state asks for none, so a key gets 403.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from lurkcoin import __version__
from lurkcoin.api.app_keys import LEDGER_KEY
from lurkcoin.api.auth import authenticate, server_actor
from lurkcoin.api.body import (
    MISSING,
    JsonFields,
    clean_string,
    invalid_request,
    read_json_object,
    read_optional_json_object,
)
from lurkcoin.api.jsonout import Money
from lurkcoin.api.replies import success
from lurkcoin.core.errors import LurkcoinError
from lurkcoin.core.money import AmountError, format_balance, parse_amount
from lurkcoin.ledger import Ledger
from lurkcoin.ledger.engine import UNIX_TIME_MAX
from lurkcoin.ledger.pay_order import TOO_LARGE, RequestedAmount
from lurkcoin.models import Transaction

# The protocol level we answer as: clients written against lurkcoin-core
# 3.0.x see the version they know.
PROTOCOL_VERSION = "3.0.10"
SUMMARY_HISTORY = 10
HISTORY_DEFAULT_LIMIT = 10
HISTORY_MAX_LIMIT = 500
_DIGITS = re.compile(r"[0-9]{1,9}")
_TIME_DIGITS = re.compile(r"[0-9]{1,12}")


def transaction_object(t: Transaction) -> dict[str, Any]:
    """A transaction on the wire, keys in the reference's order.

    ``fee`` is added only when an exchange fee was taken: a ledger without
    fees answers exactly as the reference does.
    """
    obj = {
        "id": t.id,
        "source": t.source,
        "source_server": t.source_server,
        "target": t.target,
        "target_server": t.target_server,
        "amount": Money(t.amount),
        "sent_amount": Money(t.sent_amount),
        "received_amount": Money(t.received_amount),
        "time": t.time,
        "revertable": t.revertable,
    }
    if t.fee:
        obj["fee"] = Money(t.fee)
    return obj


def _ledger(request: web.Request) -> Ledger:
    return request.app[LEDGER_KEY]


def amount_field(fields: JsonFields, name: str, *, not_a_number: str, too_large: str) -> int | None:
    """Cents of an amount field, None when absent; the error codes differ per endpoint.

    An amount in a notation other than plain decimal (hex, "inf") is always
    ERR_INVALIDREQUEST: only decimal numbers are money.
    """
    raw = fields.get(name)
    if raw is MISSING:
        return None
    try:
        return parse_amount(clean_string(raw) if isinstance(raw, str) else raw)
    except AmountError as err:
        if err.kind == "not_decimal":
            raise invalid_request() from None
        raise LurkcoinError(too_large if err.kind == "too_large" else not_a_number) from None


# -- account reads -------------------------------------------------------------


async def summary(request: web.Request) -> web.StreamResponse:
    server = await authenticate(request, "balance", "history")
    history = await _ledger(request).history(server, SUMMARY_HISTORY)
    return success(
        {
            "uid": server.uid,
            "name": server.name,
            "bal": Money(server.balance),
            "balance": format_balance(server.balance),
            "history": [transaction_object(t) for t in history],
            "interest_rate": 0,
            "target_balance": Money(server.target_balance),
        }
    )


async def balance(request: web.Request) -> web.StreamResponse:
    """The balance now, or with ``?at=UNIX_TIME`` at the end of that second."""
    server = await authenticate(request, "balance")
    at = request.query.getall("at", [])
    if not at:
        return success(Money(server.balance))
    if len(at) > 1:
        raise invalid_request()
    return success(Money(await _ledger(request).balance_at(server, _unix_time(at[0]))))


def _unix_time(value: Any) -> int:
    """A time filter: whole seconds since 1970, as digits or a JSON integer."""
    if isinstance(value, str) and _TIME_DIGITS.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= UNIX_TIME_MAX:
        raise invalid_request()
    return value


def _limit(value: Any) -> int:
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_request()
    if not 1 <= value <= HISTORY_MAX_LIMIT:
        raise invalid_request()
    return value


def _before(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise invalid_request()
    return clean_string(value)


def _history_param(request: web.Request, fields: JsonFields | None, name: str) -> Any:
    """A paging parameter from the query string or the JSON body (not both)."""
    in_query = request.query.getall(name, [])
    in_body = fields.get(name) if fields is not None else MISSING
    if in_body is None:  # null means "not given", as for every optional field
        in_body = MISSING
    if len(in_query) > 1 or (in_query and in_body is not MISSING):
        raise invalid_request()
    return in_query[0] if in_query else in_body


async def history(request: web.Request) -> web.StreamResponse:
    """Newest first; ``limit`` (1-500, default 10) and ``before`` (an id) page further back."""
    server = await authenticate(request, "history")
    # The reference ignores any body here, so an unusable one is ignored too.
    fields = await read_optional_json_object(request) if request.method == "POST" else None
    limit_value = _history_param(request, fields, "limit")
    before_value = _history_param(request, fields, "before")
    since_value = _history_param(request, fields, "since")
    until_value = _history_param(request, fields, "until")
    limit = HISTORY_DEFAULT_LIMIT if limit_value is MISSING else _limit(limit_value)
    before = None if before_value is MISSING else _before(before_value)
    if since_value is MISSING and until_value is MISSING:
        found = await _ledger(request).history(server, limit, before)
    else:
        # Extra: only transactions made from ``since`` to ``until`` (inclusive).
        since = 0 if since_value is MISSING else _unix_time(since_value)
        until = UNIX_TIME_MAX if until_value is MISSING else _unix_time(until_value)
        found = await _ledger(request).history_between(server, since, until, limit, before)
    return success([transaction_object(t) for t in found])


async def pending_transactions(request: web.Request) -> web.StreamResponse:
    server = await authenticate(request, "pending")
    pending = await _ledger(request).pending(server)
    return success([transaction_object(t) for t in pending])


async def get_target_balance(request: web.Request) -> web.StreamResponse:
    server = await authenticate(request, "balance")
    return success(Money(server.target_balance))


async def get_webhook_url(request: web.Request) -> web.StreamResponse:
    # Settings are shown to the balance scope: a dashboard of the account's state.
    server = await authenticate(request, "balance")
    return success(server.webhook_url)


async def version(request: web.Request) -> web.StreamResponse:
    return success(
        {
            "version": PROTOCOL_VERSION,
            "implementation": "lurkcoin",
            "implementation_version": __version__,
            "license": "AGPL-3.0-or-later",
        }
    )


# -- payments and quotes -------------------------------------------------------


def _requested_amount(fields: JsonFields) -> RequestedAmount:
    """Position 1 of lurkcoin.ledger.pay_order for the amount: a decimal number or absent.

    A number too large to represent is still a number: it fails the spend
    limit at position 5, after the login, not the decoding.
    """
    raw = fields.get("amount")
    if raw is MISSING:
        return None
    try:
        return parse_amount(clean_string(raw) if isinstance(raw, str) else raw)
    except AmountError as err:
        if err.kind == "too_large":
            return TOO_LARGE
        raise invalid_request() from None


async def pay(request: web.Request) -> web.StreamResponse:
    """The checks of lurkcoin.ledger.pay_order: the body (1), the login (2), then Ledger.pay."""
    fields = await read_json_object(request)
    source_user = fields.string("source")
    target_user = fields.string("target")
    target_server = fields.string("target_server")
    local_currency = fields.boolean("local_currency")
    amount = _requested_amount(fields)
    server = await authenticate(request)
    t = await _ledger(request).pay(
        server,
        source_user=source_user,
        target_user=target_user,
        target_server=target_server,
        amount=amount,
        local_currency=local_currency,
        idempotency_key=request.headers.get("Idempotency-Key"),
    )
    return success(transaction_object(t))


async def exchange_rates(request: web.Request) -> web.StreamResponse:
    fields = await read_json_object(request)
    source = fields.string("source")
    target = fields.string("target")
    # Here (only) an amount that is not a number is ERR_INVALIDAMOUNT, as the
    # reference answers.
    amount = amount_field(
        fields, "amount", not_a_number="ERR_INVALIDAMOUNT", too_large="ERR_INVALIDAMOUNT"
    )
    if amount is None or amount < 0:
        raise LurkcoinError("ERR_INVALIDAMOUNT")
    return success(Money(_ledger(request).quote(source, target, amount)))


# -- pending queue ---------------------------------------------------------------


async def acknowledge_transactions(request: web.Request) -> web.StreamResponse:
    server = await authenticate(request)
    fields = await read_json_object(request)
    await _ledger(request).acknowledge(server, fields.lenient_string_list("transactions"))
    return success(None)


async def reject_transactions(request: web.Request) -> web.StreamResponse:
    server = await authenticate(request)
    fields = await read_json_object(request)
    await _ledger(request).reject(server, fields.lenient_string_list("transactions"))
    return success(None)


# -- settings --------------------------------------------------------------------


async def set_target_balance(request: web.Request) -> web.StreamResponse:
    server = await authenticate(request)
    fields = await read_json_object(request)
    cents = amount_field(
        fields, "target_balance", not_a_number="ERR_INVALIDREQUEST", too_large="ERR_INVALIDAMOUNT"
    )
    if cents is None:
        raise LurkcoinError("ERR_INVALIDAMOUNT")
    await _ledger(request).set_target_balance(server, cents, actor=server_actor(request, server))
    return success(None)


def _webhook_url_field(fields: JsonFields) -> str | None:
    """The requested URL; null or "" clears it (the reference's backups store "")."""
    value = fields.get("webhook_url")
    if value is MISSING or not (value is None or isinstance(value, str)):
        raise invalid_request()
    return value or None


async def set_webhook_url(request: web.Request) -> web.StreamResponse:
    """New endpoint: store the normalised URL (or clear it); returns what was stored."""
    server = await authenticate(request)
    url = _webhook_url_field(await read_json_object(request))
    # Keep the operator-set signing secret: the client only changes the URL.
    change = await _ledger(request).set_webhook(server, url, actor=server_actor(request, server))
    return success(change.url)
