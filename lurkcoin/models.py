"""The records the ledger hands around: servers, transactions (money in cents), webhook state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# An account of a game server, or a system account (issuance, fees; balance may go negative).
ServerKind = Literal["server", "system"]
# pending: in the target's queue; acknowledged/rejected: processed by the target
# (a rejection refunds); settled: paid with no queue step (no target user, imports).
TransactionStatus = Literal["pending", "acknowledged", "rejected", "settled"]


@dataclass(frozen=True, slots=True)
class Server:
    id: int
    uid: str
    name: str
    kind: ServerKind
    balance: int
    target_balance: int
    token_hash: bytes | None
    webhook_url: str | None
    webhook_secret: str | None
    created_at: int
    updated_at: int
    # A regenerated token not used yet; the old one works until it is.
    next_token_hash: bytes | None = None
    # Exchange fee on payments it receives from other servers, in basis points.
    fee_bps: int = 0


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A read-only key a server gave to a dashboard (only its hash is stored)."""

    id: int
    server_id: int
    key_hash: bytes
    prefix: str
    scopes: frozenset[str]
    label: str
    created_at: int


@dataclass(frozen=True, slots=True)
class Transaction:
    """One payment or refund; immutable apart from its status."""

    seq: int
    id: str
    source: str
    source_server: str
    target: str
    target_server: str
    amount: int
    sent_amount: int
    received_amount: int
    time: int
    revertable: bool
    status: TransactionStatus
    source_server_id: int | None = None
    target_server_id: int | None = None
    processed_at: int | None = None
    refund_of: str | None = None
    refund_id: str | None = None
    refund_failed: str | None = None
    # Lurkcoin cents of ``amount`` paid to (a refund: returned from) the fee account.
    fee: int = 0


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One row of the audit log; ``before``/``after`` are JSON text (or None)."""

    id: int
    at: int
    actor: str
    address: str
    action: str
    subject: str
    before: str | None
    after: str | None
    reason: str
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class AdminSession:
    """A signed-in browser; the session id itself is never stored."""

    id_hash: bytes
    user: str
    address: str
    created_at: float
    last_seen_at: float


@dataclass(frozen=True, slots=True)
class DailyTotals:
    """One day of the rollup: transactions a server sent and received (lurkcoin cents)."""

    day: int
    sent_count: int
    sent_volume: int
    received_count: int
    received_volume: int


# pending: waiting for an operator; approved: the server exists and its token
# waits to be claimed; claimed: the requester has it; refused: see ``reason``.
AccountRequestStatus = Literal["pending", "approved", "claimed", "refused"]


@dataclass(frozen=True, slots=True)
class AccountRequest:
    """A request for a server account (self-service onboarding); its secret is stored hashed."""

    id: int
    name: str
    uid: str
    contact: str
    webhook_url: str | None
    message: str
    address: str  # the client address it came from
    secret_hash: str
    status: AccountRequestStatus
    created_at: int
    decided_at: int | None
    decided_by: str | None
    reason: str
    server_id: int | None
    claim_expires_at: int | None
    claimed_at: int | None


@dataclass
class BatchOutcome:
    """What one committed batch changed, for the in-memory caches."""

    servers: list[Server]
    deleted_server_ids: set[int]
    notified_server_ids: set[int]
    size: int
    # True when ``servers`` is every live server (another process wrote).
    full: bool = False
    # How long the COMMIT (the fsync) took, for the metrics.
    commit_seconds: float = 0.0
    # Every active read-only key, on a full reload.
    api_keys: list[ApiKey] | None = None


# -- the webhook outbox ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claim:
    """One server's notification, taken by the dispatcher for one delivery attempt."""

    server_id: int
    server_name: str
    url: str
    secret: str | None
    generation: int
    queued_at: float
    attempts: int  # failed attempts so far for this notification
    message_id: str
    lease_until: float


@dataclass(frozen=True, slots=True)
class ClaimResult:
    claims: list[Claim]
    # Earliest due time among the rows left behind (None: nothing waits).
    next_due: float | None


@dataclass(frozen=True, slots=True)
class DeliveryState:
    """What `lurkcoin webhooks` and the admin pages show for one server."""

    server_name: str
    webhook_url: str | None
    signed: bool
    pending: bool  # a notification is waiting to be delivered
    queued_at: float | None
    next_attempt_at: float | None
    attempts: int  # failed attempts of the waiting notification
    last_attempt_at: float | None
    last_status: int | None
    last_error: str | None
    last_success_at: float | None
    consecutive_failures: int
    gave_up_at: float | None
