"""Payments, acknowledgements and rejections with their refunds.

Each function here is a light operation: it runs inside one SAVEPOINT of a
batch and uses only a LightTx's bounded statements, so its batch may run on
the event loop (lurkcoin.store.sqlite, "two paths"). It either completes or
raises and leaves no trace.
"""

from __future__ import annotations

import dataclasses
import operator
import secrets
from dataclasses import dataclass
from typing import Callable, Iterable, NamedTuple

from lurkcoin.core.errors import LurkcoinError
from lurkcoin.core.exchange import Formula, from_lurkcoin, to_lurkcoin
from lurkcoin.core.fees import fee_for, payment_postings, refund_postings
from lurkcoin.core.money import format_balance
from lurkcoin.core.names import server_uid
from lurkcoin.models import Server, Transaction
from lurkcoin.store.writes import LightTx


@dataclass(frozen=True)
class PaymentRequest:
    """A payment as the API parsed it (user names already cleaned and checked)."""

    source_id: int
    source_user: str
    target_user: str
    target_server: str
    amount: int
    local_currency: bool
    idempotency_key: str | None = None

    def fingerprint(self) -> str:
        """What makes two requests with one idempotency key "the same request"."""
        return "\x1f".join(
            (
                self.source_user,
                self.target_user,
                server_uid(self.target_server),
                str(self.amount),
                "1" if self.local_currency else "0",
            )
        )


# The system account exchange fees are paid to (migration 0008).
FEE_ACCOUNT_UID = "@fees"


@dataclass(frozen=True)
class Rules:
    formula: Formula
    max_spend: int


def new_transaction_id(tx: LightTx, now: int) -> str:
    """``T<unix time hex>-<8 random hex digits>``, unique in the ledger."""
    while True:
        txn_id = f"T{now:X}-{secrets.randbits(32):08X}"
        if not tx.transaction_id_exists(txn_id):
            return txn_id


class Priced(NamedTuple):
    """What a payment moves: lurkcoins from the source, the fee among them, and what arrives."""

    amount: int
    received: int
    fee: int


def price_payment(
    source: Server, target: Server, sent: int, local_currency: bool, rules: Rules
) -> Priced:
    """The spec's money rules 1-5, with the target's exchange fee (lurkcoin.core.fees)."""
    amount = sent
    if local_currency and sent > 0:
        amount = to_lurkcoin(sent, source.balance, source.target_balance, rules.formula)
    if sent <= 0 or amount <= 0:
        raise LurkcoinError("ERR_CANNOTPAYNOTHING" if amount == 0 else "ERR_INVALIDAMOUNT")
    if sent > rules.max_spend or amount > rules.max_spend:
        raise LurkcoinError("ERR_TRANSACTIONLIMIT")
    fee = 0
    if source.id == target.id:
        received = sent
    else:
        # The target converts what reaches it: the amount less its fee.
        fee = fee_for(amount, target.fee_bps)
        received = from_lurkcoin(amount - fee, target.balance, target.target_balance, rules.formula)
    if received <= 0:
        raise LurkcoinError("ERR_CANNOTPAYNOTHING")
    if received > rules.max_spend:
        raise LurkcoinError("ERR_TRANSACTIONLIMIT")
    if source.balance < amount:
        raise LurkcoinError("ERR_CANNOTAFFORD")
    return Priced(amount, received, fee)


def _fee_account(tx: LightTx) -> int:
    fees = tx.server_by_uid(FEE_ACCOUNT_UID)
    if fees is None:  # migration 0008 creates it; a database without it is damaged
        raise RuntimeError("the fee account is missing")
    return fees.id


def _record(tx: LightTx, t: Transaction, source: Server, target: Server, now: int) -> Transaction:
    """Insert a transaction, move its money and queue the target's webhook."""
    seq = tx.insert_transaction(t)
    if not t.fee:
        tx.post(source.id, target.id, t.amount, time=t.time, txn_seq=seq)
    elif t.refund_of is None:
        postings = payment_postings(source.id, target.id, _fee_account(tx), t.amount, t.fee)
        tx.post_split(postings, time=t.time, txn_seq=seq)
    else:
        postings = refund_postings(source.id, target.id, _fee_account(tx), t.amount, t.fee)
        tx.post_split(postings, time=t.time, txn_seq=seq)
    tx.add_to_histories(source.id, target.id, seq, t.time)  # a self-payment appears once
    if t.status == "pending" and target.webhook_url:
        tx.notify_webhook(target.id, float(now))
    return _with_seq(t, seq)


_AFTER_SEQ = operator.attrgetter(*(f.name for f in dataclasses.fields(Transaction)[1:]))


def _with_seq(t: Transaction, seq: int) -> Transaction:
    """``dataclasses.replace(t, seq=seq)`` at a fifth of the cost (once per payment)."""
    return Transaction(seq, *_AFTER_SEQ(t))


def pay(tx: LightTx, req: PaymentRequest, rules: Rules, now: int) -> Transaction:
    source = tx.server_by_id(req.source_id)
    if source is None:  # deleted while the request was in flight
        raise LurkcoinError("ERR_INVALIDLOGIN")
    if req.idempotency_key is not None:
        seen = tx.idempotency_lookup(source.id, req.idempotency_key)
        if seen is not None:
            fingerprint, seq = seen
            if fingerprint != req.fingerprint():
                raise LurkcoinError("ERR_IDEMPOTENCYKEYREUSED")
            return tx.transaction_by_seq(seq)
    target = tx.server_by_uid(server_uid(req.target_server))
    if target is None:
        raise LurkcoinError("ERR_SERVERNOTFOUND")
    amount, received, fee = price_payment(source, target, req.amount, req.local_currency, rules)
    t = _record(
        tx,
        Transaction(
            seq=0,
            id=new_transaction_id(tx, now),
            source=req.source_user,
            source_server=source.name,
            target=req.target_user,
            target_server=target.name,
            amount=amount,
            sent_amount=req.amount,
            received_amount=received,
            time=now,
            revertable=True,
            status="pending" if req.target_user else "settled",
            source_server_id=source.id,
            target_server_id=target.id,
            fee=fee,
        ),
        source,
        target,
        now,
    )
    if req.idempotency_key is not None:
        tx.idempotency_store(source.id, req.idempotency_key, req.fingerprint(), t.seq, now)
    return t


def acknowledge(tx: LightTx, server_id: int, ids: Iterable[str], now: int) -> int:
    """Mark pending transactions processed; unknown or foreign ids are ignored."""
    done = tx.pending_among(server_id, ids)
    for t in done:
        tx.finish_transaction(t.seq, "acknowledged", now)
    tx.count_settled(len(done), now)
    return len(done)


def drop_oldest(tx: LightTx, server_id: int, count: int, now: int) -> int:
    """lurkcoinV2's remove_transactions: the ``count`` oldest pending ones are done.

    Nothing is refunded and nobody is notified; they are kept as acknowledged.
    Asking for more than are pending drops all of them.
    """
    done = tx.oldest_pending(server_id, count)
    for t in done:
        tx.finish_transaction(t.seq, "acknowledged", now)
    tx.count_settled(len(done), now)
    return len(done)


def reject(tx: LightTx, server_id: int, ids: Iterable[str], now: int) -> int:
    """Reject pending transactions and, in the same transaction, refund the revertable ones."""
    done = tx.pending_among(server_id, ids)
    for t in done:
        refund_id, failure = None, None
        if t.revertable:
            refund_id, failure = refund(tx, t, now)
        tx.finish_transaction(t.seq, "rejected", now, refund_id=refund_id, refund_failed=failure)
    tx.count_settled(len(done), now)
    return len(done)


def refund(tx: LightTx, t: Transaction, now: int) -> tuple[str | None, str | None]:
    """Pay back exactly what moved (never re-priced); returns (refund id, failure reason).

    The sender gets the whole amount back: the rejecter returns what reached
    it (the amount less the fee) and the fee account returns the fee.
    """
    rejecter = tx.server_by_id(t.target_server_id) if t.target_server_id else None
    if rejecter is None:
        return None, "the rejecting server no longer exists"
    # Only the very account that paid gets the money back: once it is deleted
    # its name may belong to someone else, so no lookup by name.
    original = tx.server_by_id(t.source_server_id) if t.source_server_id else None
    if original is None:
        return None, f"the sending server {t.source_server!r} no longer exists"
    owed = t.amount - t.fee
    if rejecter.balance < owed:
        return None, (
            f"{rejecter.name} holds {format_balance(rejecter.balance)} and cannot "
            f"cover the refund of {format_balance(owed)}"
        )
    refund = _record(
        tx,
        Transaction(
            seq=0,
            id=new_transaction_id(tx, now),
            source=t.target,
            source_server=rejecter.name,
            target=t.source,
            target_server=original.name,
            amount=t.amount,
            sent_amount=t.received_amount,
            received_amount=t.sent_amount,
            time=now,
            revertable=False,
            status="pending" if t.source else "settled",
            source_server_id=rejecter.id,
            target_server_id=original.id,
            refund_of=t.id,
            fee=t.fee,
        ),
        rejecter,
        original,
        now,
    )
    return refund.id, None


def quote(
    lookup: Callable[[str], Server | None],
    source: str,
    target: str,
    amount: int,
    rules: Rules,
    *,
    with_fee: bool,
) -> int:
    """The /v3/exchange_rates conversion from ``source``'s currency to ``target``'s.

    An empty name skips that side's conversion; a named server must exist.
    Converting into a target's currency takes its exchange fee, as a payment
    from another server does (``with_fee=False``: the bare rate).
    """
    if amount < 0:
        raise LurkcoinError("ERR_INVALIDAMOUNT")
    if server_uid(source) == server_uid(target):
        if source and lookup(source) is None:
            raise LurkcoinError("ERR_SOURCESERVERNOTFOUND")
        return amount
    if amount > rules.max_spend:
        raise LurkcoinError("ERR_TRANSACTIONLIMIT")
    if source:
        src = lookup(source)
        if src is None:
            raise LurkcoinError("ERR_SOURCESERVERNOTFOUND")
        amount = to_lurkcoin(amount, src.balance, src.target_balance, rules.formula)
        if amount > rules.max_spend:
            raise LurkcoinError("ERR_TRANSACTIONLIMIT")
    if target:
        tgt = lookup(target)
        if tgt is None:
            raise LurkcoinError("ERR_TARGETSERVERNOTFOUND")
        if with_fee:
            amount -= fee_for(amount, tgt.fee_bps)
        amount = from_lurkcoin(amount, tgt.balance, tgt.target_balance, rules.formula)
        if amount > rules.max_spend:
            raise LurkcoinError("ERR_TRANSACTIONLIMIT")
    return amount
