"""Column lists and row converters shared by the read and write sides."""

from __future__ import annotations

from typing import Any, Sequence

from lurkcoin.models import Server, Transaction

TRANSACTION_COLUMNS = (
    "seq, id, source, source_server, target, target_server, amount, sent_amount, "
    "received_amount, time, revertable, status, source_server_id, target_server_id, "
    "processed_at, refund_of, refund_id, refund_failed"
)

SERVER_COLUMNS = (
    "id, uid, name, kind, balance, target_balance, token_hash, webhook_url, "
    "webhook_secret, created_at, updated_at"
)


def transaction_from_row(row: Sequence[Any]) -> Transaction:
    values = list(row)
    values[10] = bool(values[10])
    return Transaction(*values)


def server_from_row(row: Sequence[Any]) -> Server:
    values = list(row)
    if values[6] is not None:
        values[6] = bytes(values[6])
    return Server(*values)
