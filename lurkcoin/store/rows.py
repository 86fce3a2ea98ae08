"""Column lists and row converters shared by the read and write sides."""

from __future__ import annotations

from typing import Any, Sequence

from lurkcoin.models import ApiKey, Server, Transaction

TRANSACTION_COLUMNS = (
    "seq, id, source, source_server, target, target_server, amount, sent_amount, "
    "received_amount, time, revertable, status, source_server_id, target_server_id, "
    "processed_at, refund_of, refund_id, refund_failed, fee"
)

SERVER_COLUMNS = (
    "id, uid, name, kind, balance, target_balance, token_hash, webhook_url, "
    "webhook_secret, created_at, updated_at, next_token_hash, fee_bps"
)

API_KEY_COLUMNS = "id, server_id, key_hash, prefix, scopes, label, created_at"


def transaction_from_row(row: Sequence[Any]) -> Transaction:
    values = list(row)
    values[10] = bool(values[10])
    return Transaction(*values)


def server_from_row(row: Sequence[Any]) -> Server:
    values = list(row)
    for index in (6, 11):  # token hashes come back as memoryview on some paths
        if values[index] is not None:
            values[index] = bytes(values[index])
    return Server(*values)


def api_key_from_row(row: Sequence[Any]) -> ApiKey:
    key_id, server_id, key_hash, prefix, scopes, label, created_at = row
    return ApiKey(
        key_id,
        server_id,
        bytes(key_hash),
        prefix,
        frozenset(s for s in scopes.split(",") if s),
        label,
        created_at,
    )
