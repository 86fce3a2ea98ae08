"""Atomic payment batches: up to 100 payments from one server, all committed or none.

The whole batch is one writer operation, so it runs inside one SAVEPOINT:
the first payment that fails raises, the SAVEPOINT is rolled back and no
other payment of the batch leaves a trace. Each payment is checked in
/v3/pay's order and recorded exactly as /v3/pay records it (its own
transaction, pending entry, history rows, webhook and rollup).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from lurkcoin.core.errors import LurkcoinError
from lurkcoin.core.names import clean_username, server_uid, username_too_long
from lurkcoin.ledger import payments
from lurkcoin.ledger.payments import PaymentRequest, Rules
from lurkcoin.models import Transaction
from lurkcoin.store.writes import WriteTx

MAX_BATCH_PAYMENTS = 100


class BatchItemError(LurkcoinError):
    """Payment ``index`` (from 0) of a batch failed, so the whole batch did."""

    def __init__(self, index: int, cause: LurkcoinError) -> None:
        super().__init__(cause.code, f"Payment {index}: {cause.message}")
        self.index = index


@dataclass(frozen=True)
class BatchPayment:
    """One payment of a batch as the API parsed it (user names not yet checked)."""

    source_user: str
    target_user: str
    target_server: str
    amount: int
    local_currency: bool


# A payment, or the error its fields already had when the API parsed them:
# reported only if every payment before it succeeds (the first failure wins).
BatchItem = Union[BatchPayment, LurkcoinError]


def _request(tx: WriteTx, source_id: int, item: BatchPayment) -> PaymentRequest:
    """/v3/pay's checks after the body and login, in its order."""
    if tx.server_by_uid(server_uid(item.target_server)) is None:
        raise LurkcoinError("ERR_SERVERNOTFOUND")
    source_user = clean_username(item.source_user)
    target_user = clean_username(item.target_user)
    if username_too_long(source_user):
        raise LurkcoinError("ERR_SOURCEUSERNAMETOOLONG")
    if username_too_long(target_user):
        raise LurkcoinError("ERR_USERNAMETOOLONG")
    return PaymentRequest(
        source_id,
        source_user,
        target_user,
        item.target_server,
        item.amount,
        item.local_currency,
    )


def fingerprint(items: list[BatchItem]) -> str | None:
    """What makes two batches with one idempotency key the same; None if an item is invalid."""
    parts = ["batch", str(len(items))]
    for item in items:
        if isinstance(item, LurkcoinError):
            return None
        parts += (
            clean_username(item.source_user),
            clean_username(item.target_user),
            server_uid(item.target_server),
            str(item.amount),
            "1" if item.local_currency else "0",
        )
    return "\x1f".join(parts)


def pay_batch(
    tx: WriteTx,
    source_id: int,
    items: list[BatchItem],
    idempotency_key: str | None,
    rules: Rules,
    now: int,
) -> list[Transaction]:
    """Every payment of the batch, or BatchItemError for the first that fails."""
    if tx.server_by_id(source_id) is None:  # deleted while the request was in flight
        raise LurkcoinError("ERR_INVALIDLOGIN")
    wanted = fingerprint(items)
    if idempotency_key is not None:
        seen = tx.idempotency_lookup(source_id, idempotency_key)
        if seen is not None:
            stored, first_seq = seen
            if stored != wanted:
                raise LurkcoinError("ERR_IDEMPOTENCYKEYREUSED")
            return tx.transactions_from(first_seq, len(items))
    done: list[Transaction] = []
    for index, item in enumerate(items):
        try:
            if isinstance(item, LurkcoinError):
                raise item
            done.append(payments.pay(tx, _request(tx, source_id, item), rules, now))
        except LurkcoinError as err:
            raise BatchItemError(index, err) from None
    if idempotency_key is not None and wanted is not None:
        # The batch's transactions have consecutive seqs (one operation of the
        # single writer inserts them in a row), so the first one finds them all.
        tx.idempotency_store(source_id, idempotency_key, wanted, done[0].seq, now)
    return done
