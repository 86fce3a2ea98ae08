"""Server accounts: creation, settings, tokens, operator adjustments and deletion.

Like payments, each function runs inside one SAVEPOINT on the writer thread.
"""

from __future__ import annotations

from lurkcoin.core.errors import LurkcoinError
from lurkcoin.core.fees import check_fee_bps
from lurkcoin.core.money import MAX_TARGET_BALANCE
from lurkcoin.core.names import server_uid
from lurkcoin.ledger import payments
from lurkcoin.models import Server
from lurkcoin.store.writes import WriteTx


def _live(tx: WriteTx, server_id: int) -> Server:
    server = tx.server_by_id(server_id)
    if server is None:
        raise LurkcoinError("ERR_SERVERNOTFOUND")
    return server


# The most an operator may add or remove at once (¤1 trillion): far beyond any
# real economy, and far below SQLite's 64-bit integer limit.
MAX_OPERATOR_AMOUNT = 10**14
# All money in circulation together; SQLite's SUM fails past 2**63.
MAX_CIRCULATION = 2**62


def check_target_balance(cents: int) -> None:
    if not 0 <= cents <= MAX_TARGET_BALANCE:
        raise LurkcoinError("ERR_INVALIDAMOUNT")


def create_server(
    tx: WriteTx,
    *,
    name: str,
    balance: int,
    target_balance: int,
    token_hash: bytes | None,
    webhook_url: str | None,
    now: int,
    reason: str = "opening balance",
) -> Server:
    uid = server_uid(name)
    if not name.strip() or not uid.strip("_"):
        raise LurkcoinError("ERR_INVALIDREQUEST", "A server name needs a letter or digit.")
    if tx.server_by_uid(uid) is not None:
        raise LurkcoinError("ERR_SERVEREXISTS")
    check_target_balance(target_balance)
    if not 0 <= balance <= MAX_OPERATOR_AMOUNT:
        raise LurkcoinError("ERR_INVALIDAMOUNT")
    server_id = tx.insert_server(
        uid=uid,
        name=name,
        target_balance=target_balance,
        token_hash=token_hash,
        webhook_url=webhook_url,
        now=now,
    )
    if balance:
        adjust_balance(tx, server_id, balance, reason, now)
    return _live(tx, server_id)


def adjust_balance(tx: WriteTx, server_id: int, delta: int, reason: str, now: int) -> Server:
    """An operator's change: a pair of entries against the issuance account."""
    server = _live(tx, server_id)
    if not reason.strip():
        raise LurkcoinError("ERR_INVALIDREQUEST", "An adjustment needs a reason.")
    if delta == 0:
        raise LurkcoinError("ERR_CANNOTPAYNOTHING")
    if abs(delta) > MAX_OPERATOR_AMOUNT or server.balance + delta > 10 * MAX_OPERATOR_AMOUNT:
        raise LurkcoinError("ERR_INVALIDAMOUNT")
    if server.balance + delta < 0:
        raise LurkcoinError("ERR_CANNOTAFFORD")
    issuance = tx.server_by_id(tx.issuance_id)
    if issuance is not None and abs(issuance.balance - delta) > MAX_CIRCULATION:
        raise LurkcoinError("ERR_INVALIDAMOUNT")  # keeps every sum a 64-bit integer
    adjustment_id = tx.insert_adjustment(server.id, delta, reason, now)
    tx.post(tx.issuance_id, server.id, delta, time=now, adjustment_id=adjustment_id)
    return _live(tx, server_id)


def set_target_balance(tx: WriteTx, server_id: int, cents: int, now: int) -> None:
    check_target_balance(cents)
    _live(tx, server_id)
    tx.update_server(server_id, now, target_balance=cents)


def set_fee(tx: WriteTx, server_id: int, bps: int, now: int) -> None:
    """The exchange fee the server's incoming payments from other servers pay (basis points)."""
    check_fee_bps(bps)
    _live(tx, server_id)
    tx.update_server(server_id, now, fee_bps=bps)


def set_webhook(
    tx: WriteTx,
    server_id: int,
    url: str | None,
    *,
    sign: bool | None,
    fresh_secret: str | None,
    now: int,
) -> None:
    """Set (or clear, with None) the normalised webhook URL and decide its signing secret.

    ``sign``: True installs ``fresh_secret``, False signs no more, None keeps
    the current secret. Without a URL there is no secret and nothing queued.
    """
    server = _live(tx, server_id)
    secret = fresh_secret if sign else None if sign is False else server.webhook_secret
    tx.update_server(server_id, now, webhook_url=url, webhook_secret=secret if url else None)
    if url is None:
        tx.clear_webhook(server_id)


def set_webhook_secret(tx: WriteTx, server_id: int, secret: str | None, now: int) -> None:
    """Replace (or, with None, remove) the signing secret of a server that has a webhook URL."""
    server = _live(tx, server_id)
    if server.webhook_url is None:
        raise LurkcoinError("ERR_INVALIDREQUEST", "This server has no webhook URL to sign.")
    tx.update_server(server_id, now, webhook_secret=secret)


def delete_server(tx: WriteTx, server_id: int, now: int) -> None:
    """Refused while the server holds money or has transactions waiting for it."""
    server = _live(tx, server_id)
    if server.balance != 0 or tx.has_pending(server.id):
        raise LurkcoinError("ERR_SERVERNOTEMPTY")
    tx.clear_webhook(server.id)
    tx.revoke_all_api_keys(server.id, now)
    tx.update_server(server.id, now, deleted_at=now, token_hash=None, next_token_hash=None)


def drain_to_issuance(tx: WriteTx, server_id: int, reason: str, now: int) -> None:
    """Empty a server before deletion: acknowledge what waits for it, hand its balance back."""
    if not reason.strip():
        raise LurkcoinError("ERR_INVALIDREQUEST", "Moving a balance to issuance needs a reason.")
    payments.acknowledge(tx, server_id, tx.pending_ids(server_id), now)
    server = _live(tx, server_id)
    if server.balance:
        adjust_balance(tx, server_id, -server.balance, reason, now)
