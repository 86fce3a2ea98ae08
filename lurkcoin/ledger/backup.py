"""Import and export of lurkcoin-core backups (one JSON array of server records).

Import is one writer operation, so it is all or nothing; it is idempotent:
servers and transactions already present with the same data are skipped,
while a server that exists with different data stops the whole import.
Balances arrive as opening entries against the issuance account, so the
double-entry invariant holds from the first moment.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from lurkcoin.core.errors import LurkcoinError
from lurkcoin.core.money import AmountError, parse_amount, render_json
from lurkcoin.core.names import server_uid
from lurkcoin.core.urls import normalise_webhook_url
from lurkcoin.ledger import accounts
from lurkcoin.ledger.tokens import hash_token
from lurkcoin.models import Server, Transaction, TransactionStatus
from lurkcoin.store.writes import WriteTx

IMPORT_REASON = "imported from a lurkcoin-core backup"
# Rows between two progress reports of an import (a report costs a lock and a clock read).
PROGRESS_EVERY = 256
_TXN_KEYS = (
    "id",
    "source",
    "source_server",
    "target",
    "target_server",
    "amount",
    "sent_amount",
    "received_amount",
    "time",
    "revertable",
)


class BackupError(LurkcoinError):
    """The backup file is malformed; nothing was imported."""

    def __init__(self, message: str) -> None:
        super().__init__("ERR_INVALIDREQUEST", message)


@dataclass
class ImportReport:
    servers_created: int = 0
    servers_skipped: int = 0
    transactions_created: int = 0
    pending: int = 0


@dataclass
class _ServerRecord:
    name: str
    balance: int
    target_balance: int
    token_hash: bytes | None
    webhook_url: str | None
    history: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)


# Bounds that keep every stored number a SQLite 64-bit integer with room to spare.
_MAX_CENTS = 10**15
_MAX_TIME = 2**40


def _money(value: Any, where: str) -> int:
    """A transaction amount: positive, as every payment and refund moved."""
    if isinstance(value, float):  # a caller decoded with floats: use the shortest repr
        value = Decimal(repr(value))
    try:
        cents = parse_amount(value)
    except AmountError:
        raise BackupError(f"{where}: not an amount: {value!r}") from None
    if not 0 < cents <= _MAX_CENTS:
        raise BackupError(f"{where}: {value!r} is not a positive amount a payment can move")
    return cents


def _cents_field(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_CENTS:
        raise BackupError(f"{where}: expected integer cents from 0 to {_MAX_CENTS}, got {value!r}")
    return value


def _text(record: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = record.get(key, default)
    if not isinstance(value, str):
        raise BackupError(f"{where}: '{key}' must be a string")
    return value


def _parse_transaction(raw: Any, where: str) -> Transaction:
    if not isinstance(raw, dict):
        raise BackupError(f"{where}: a transaction must be an object")
    missing = [k for k in _TXN_KEYS if k not in raw]
    if missing:
        raise BackupError(f"{where}: transaction lacks {', '.join(missing)}")
    txn_id = _text(raw, "id", where)
    where = f"{where} {txn_id}"
    time_value = raw["time"]
    if (
        isinstance(time_value, bool)
        or not isinstance(time_value, int)
        or not 0 <= time_value <= _MAX_TIME
    ):
        raise BackupError(f"{where}: 'time' must be a Unix time in seconds")
    if not isinstance(raw["revertable"], bool):
        raise BackupError(f"{where}: 'revertable' must be true or false")
    return Transaction(
        seq=0,
        id=txn_id,
        source=_text(raw, "source", where),
        source_server=_text(raw, "source_server", where),
        target=_text(raw, "target", where),
        target_server=_text(raw, "target_server", where),
        amount=_money(raw["amount"], f"{where} amount"),
        sent_amount=_money(raw["sent_amount"], f"{where} sent_amount"),
        received_amount=_money(raw["received_amount"], f"{where} received_amount"),
        time=time_value,
        revertable=raw["revertable"],
        status="settled",
    )


def parse_backup(data: Any) -> tuple[list[_ServerRecord], dict[str, Transaction]]:
    """Validate a whole backup before anything is written."""
    if not isinstance(data, list):
        raise BackupError("a lurkcoin-core backup is a JSON array of servers")
    records: list[_ServerRecord] = []
    transactions: dict[str, Transaction] = {}
    seen_uids: set[str] = set()
    for index, raw in enumerate(data):
        where = f"server #{index + 1}"
        if not isinstance(raw, dict):
            raise BackupError(f"{where}: must be an object")
        name = _text(raw, "name", where)
        where = f"server {name!r}"
        uid = server_uid(name)
        if uid in seen_uids:
            raise BackupError(f"{where}: appears twice (same uid {uid!r})")
        seen_uids.add(uid)
        token = _text(raw, "token", where, "")
        url = _text(raw, "webhook_url", where, "") if raw.get("webhook_url") is not None else ""
        try:
            webhook = normalise_webhook_url(url) if url else None
        except LurkcoinError:
            raise BackupError(f"{where}: invalid webhook URL {url!r}") from None
        token_hash = hash_token(token) if token else None
        if not token and isinstance(raw.get("token_sha256"), str):  # our own exports
            try:
                token_hash = bytes.fromhex(raw["token_sha256"])
            except ValueError:
                raise BackupError(f"{where}: invalid token_sha256") from None
        record = _ServerRecord(
            name=name,
            balance=_cents_field(raw.get("balance", 0), f"{where} balance"),
            target_balance=_cents_field(raw.get("target_balance", 0), f"{where} target_balance"),
            token_hash=token_hash,
            webhook_url=webhook,
        )
        for key, ids in (("history", record.history), ("pending_transactions", record.pending)):
            items = raw.get(key) or []
            if not isinstance(items, list):
                raise BackupError(f"{where}: '{key}' must be a list")
            for item in items:
                t = _parse_transaction(item, f"{where} {key}")
                known = transactions.setdefault(t.id, t)
                if known != t:
                    raise BackupError(f"transaction {t.id} appears with different contents")
                ids.append(t.id)
        records.append(record)
    return records, transactions


def _same_server(existing: Server, record: _ServerRecord) -> bool:
    return (
        existing.name == record.name
        and existing.balance == record.balance
        and existing.target_balance == record.target_balance
        and existing.token_hash == record.token_hash
        and existing.webhook_url == record.webhook_url
    )


def import_records(
    tx: WriteTx,
    records: list[_ServerRecord],
    transactions: dict[str, Transaction],
    now: int,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """The writer operation: create servers, then transactions, history and queues.

    ``progress(rows_done, rows_total)``: servers, transactions and history rows.
    """
    report = ImportReport()
    total = len(records) + len(transactions) + sum(len(set(r.history)) for r in records)
    done = 0

    def step(rows: int = 1) -> None:
        nonlocal done
        done += rows
        if progress is not None and (done % PROGRESS_EVERY == 0 or done >= total):
            progress(done, total)

    if progress is not None:
        progress(0, total)
    ids: dict[str, int] = {}
    created: set[str] = set()
    for record in records:
        existing = tx.server_by_uid(server_uid(record.name))
        if existing is not None:
            if not _same_server(existing, record):
                raise LurkcoinError(
                    "ERR_SERVEREXISTS", f"Server {record.name!r} already exists with other data."
                )
            report.servers_skipped += 1
            ids[record.name] = existing.id
            step()
            continue
        server = accounts.create_server(
            tx,
            name=record.name,
            balance=record.balance,
            target_balance=record.target_balance,
            token_hash=record.token_hash,
            webhook_url=record.webhook_url,
            now=now,
            reason=IMPORT_REASON,
        )
        ids[record.name] = server.id
        created.add(record.name)
        report.servers_created += 1
        step()

    pending_at: dict[str, int] = {}
    for record in records:
        for txn_id in record.pending:
            pending_at[txn_id] = ids[record.name]

    def live_id(name: str) -> int | None:
        server = tx.server_by_uid(server_uid(name))
        return server.id if server else None

    # Insertion (seq) order is the order of the pending queues, which are
    # oldest first; histories keep their own order through history.pos.
    order = [i for r in records for i in r.pending]
    order += [i for r in records for i in reversed(r.history)]
    seqs: dict[str, int] = {}
    for txn_id in dict.fromkeys(order):
        t = transactions[txn_id]
        step()
        already = tx.transaction_by_id(txn_id)
        if already is not None:
            seqs[txn_id] = already.seq
            continue
        status: TransactionStatus = "pending" if txn_id in pending_at else "settled"
        stored = dataclasses.replace(
            t,
            status=status,
            source_server_id=live_id(t.source_server),
            target_server_id=pending_at.get(txn_id, live_id(t.target_server)),
        )
        seqs[txn_id] = tx.insert_transaction(stored, imported=True)
        report.transactions_created += 1
        report.pending += status == "pending"
    for record in records:
        history = list(dict.fromkeys(record.history))  # newest first
        if record.name not in created:
            step(len(history))
            continue
        for index, txn_id in enumerate(history):
            tx.add_history(
                ids[record.name],
                seqs[txn_id],
                transactions[txn_id].time,
                pos=len(history) - index,
            )
            step()
    return report


def transaction_json(t: Transaction) -> str:
    """One transaction object in the wire format, money rendered exactly."""
    return (
        "{"
        + ",".join(
            [
                f'"id":{json.dumps(t.id)}',
                f'"source":{json.dumps(t.source)}',
                f'"source_server":{json.dumps(t.source_server)}',
                f'"target":{json.dumps(t.target)}',
                f'"target_server":{json.dumps(t.target_server)}',
                f'"amount":{render_json(t.amount)}',
                f'"sent_amount":{render_json(t.sent_amount)}',
                f'"received_amount":{render_json(t.received_amount)}',
                f'"time":{t.time}',
                f'"revertable":{"true" if t.revertable else "false"}',
            ]
        )
        + "}"
    )


def server_json_head(server: Server) -> str:
    """A server record up to its history's first transaction (to stream the history)."""
    return (
        '{"version":0,'
        f'"name":{json.dumps(server.name)},'
        f'"balance":{server.balance},'
        f'"target_balance":{server.target_balance},'
        '"history":['
    )


def server_json_pending_start() -> str:
    """Between a server's history and its pending transactions (to stream both)."""
    return '],"pending_transactions":['


def server_json_tail(server: Server) -> str:
    """The rest of a server record after its last pending transaction."""
    parts = [
        '"token":""',
        f'"token_sha256":{json.dumps(server.token_hash.hex() if server.token_hash else "")}',
        f'"webhook_url":{json.dumps(server.webhook_url or "")}',
    ]
    return "]," + ",".join(parts) + "}"
