"""POST /v3/pay_batch: several /v3/pay bodies in one request, committed together.

The body is ``{"payments": [<a /v3/pay body>, ...]}`` (1 to 100). Each
payment's fields are read as /v3/pay reads them; a payment whose fields are
wrong is not refused at once but at its turn, so the error reported is
always that of the first payment that fails, with its ``index``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from lurkcoin.api.app_keys import LEDGER_KEY
from lurkcoin.api.auth import authenticate
from lurkcoin.api.body import (
    JsonFields,
    content_type_allowed,
    decode_object,
    invalid_request,
    read_body,
)
from lurkcoin.api.replies import success
from lurkcoin.api.v3 import amount_field, transaction_object
from lurkcoin.core.errors import LurkcoinError
from lurkcoin.ledger.batches import BatchItem, BatchPayment

# 100 payments with long names and amounts fit; /v3/pay's 4096 bytes would not.
MAX_BATCH_BODY_BYTES = 65536


def _payment(value: Any) -> BatchItem:
    """One payment of the batch, or the error /v3/pay would answer for that body."""
    if not isinstance(value, dict):
        return invalid_request()
    fields = JsonFields(value)
    try:
        source_user = fields.string("source")
        target_user = fields.string("target")
        target_server = fields.string("target_server")
        local_currency = fields.boolean("local_currency")
        amount = amount_field(
            fields, "amount", not_a_number="ERR_INVALIDREQUEST", too_large="ERR_TRANSACTIONLIMIT"
        )
    except LurkcoinError as err:
        return err
    if amount is None:
        return LurkcoinError("ERR_INVALIDAMOUNT")
    return BatchPayment(source_user, target_user, target_server, amount, local_currency)


async def _read_body(request: web.Request) -> JsonFields:
    try:
        raw = await read_body(request, MAX_BATCH_BODY_BYTES)
    except LurkcoinError as err:
        if err.code == "ERR_PAYLOADTOOLARGE":
            raise LurkcoinError(
                err.code,
                f"Request body too large. You may send a maximum of {MAX_BATCH_BODY_BYTES} bytes.",
            ) from None
        raise
    if not content_type_allowed(request.headers.get("Content-Type")):
        raise invalid_request()
    return decode_object(raw)


async def pay_batch(request: web.Request) -> web.StreamResponse:
    """Body first, then login and key, as /v3/pay; then every payment in order."""
    fields = await _read_body(request)
    server = await authenticate(request)
    key = request.headers.get("Idempotency-Key")  # checked by Ledger.pay_batch
    listed = fields.get("payments")
    if not isinstance(listed, list):
        raise invalid_request()
    items = [_payment(value) for value in listed]
    done = await request.app[LEDGER_KEY].pay_batch(server, items, key)
    return success([transaction_object(t) for t in done])
