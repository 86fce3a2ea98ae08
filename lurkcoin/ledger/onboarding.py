"""Self-service onboarding: account requests, the operator's decision, the one-time claim.

A mixin of the Ledger. A stranger asks for a server (``request_account``)
and keeps the random secret it returns; an operator approves (the server is
created, with no token yet) or refuses. Within ``[onboarding] claim_expiry``
of the approval, the requester's id and secret fetch a freshly made token,
once (``claim_account``): the token is created and installed in the same
transaction that marks the request claimed, so it is never stored in clear
and two racing claims cannot both get it. Only hashes of secrets are kept.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

from lurkcoin.core.errors import LurkcoinError
from lurkcoin.core.names import server_uid
from lurkcoin.ledger import accounts, audit, base, credentials
from lurkcoin.ledger.audit import Actor
from lurkcoin.ledger.base import LedgerBase
from lurkcoin.ledger.tokens import hash_token, new_token
from lurkcoin.models import AccountRequest, Server
from lurkcoin.store import onboarding as sql
from lurkcoin.store.writes import WriteTx

SECRET_PREFIX = "lkreq_"
MAX_REASON_LENGTH = 500


def new_request_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _no_longer_waiting(request: AccountRequest) -> LurkcoinError:
    why = f"Request #{request.id} is no longer waiting (it is {request.status})."
    return LurkcoinError("ERR_INVALIDREQUEST", why)


def _waiting(tx: WriteTx, request_id: int) -> AccountRequest:
    request = sql.by_id(tx, request_id)
    if request is None:
        raise LurkcoinError("ERR_INVALIDREQUEST", f"There is no account request #{request_id}.")
    if request.status != "pending":
        raise _no_longer_waiting(request)
    return request


def claim_refusal(request: AccountRequest, now: int) -> LurkcoinError | None:
    """Why this request's token cannot be claimed now, or None when it can."""
    if request.status == "pending":
        return LurkcoinError("ERR_REQUESTPENDING")
    if request.status == "refused":
        return LurkcoinError("ERR_REQUESTREFUSED", details=f"reason: {request.reason}")
    if request.status == "claimed":
        return LurkcoinError("ERR_ALREADYCLAIMED")
    if request.claim_expires_at is None or now > request.claim_expires_at:
        return LurkcoinError("ERR_CLAIMEXPIRED")
    return None


class OnboardingMixin(LedgerBase):
    async def request_account(
        self,
        *,
        name: str,
        contact: str,
        webhook_url: str | None,
        message: str,
        address: str,
    ) -> tuple[AccountRequest, str]:
        """Queue a request (its fields already validated); returns it and its secret (once).

        ERR_SERVEREXISTS, ERR_ALREADYREQUESTED or ERR_QUEUEFULL otherwise.
        """
        uid = server_uid(name)
        secret = new_request_secret()
        cap = self.config.onboarding.max_pending
        now = base.unix_now()

        def run(tx: WriteTx) -> AccountRequest:
            if tx.server_by_uid(uid) is not None:
                raise LurkcoinError(
                    "ERR_SERVEREXISTS", details="name: a server with that name already exists"
                )
            if sql.pending_for_uid(tx, uid):
                raise LurkcoinError(
                    "ERR_ALREADYREQUESTED",
                    details="name: a request for that name is waiting for an operator",
                )
            if sql.count_pending(tx, cap) >= cap:
                raise LurkcoinError(
                    "ERR_QUEUEFULL", details=f"{cap} requests are waiting for an operator"
                )
            request_id = sql.insert(
                tx,
                name=name,
                uid=uid,
                contact=contact,
                webhook_url=webhook_url,
                message=message,
                address=address,
                secret_hash=secret_hash(secret),
                now=now,
            )
            found = sql.by_id(tx, request_id)
            assert found is not None
            return found

        return await self.store.write(run), secret

    async def account_requests(
        self, statuses: Sequence[str], limit: int, *, oldest_first: bool = False
    ) -> list[AccountRequest]:
        return await sql.read_page(self._reader(), statuses, limit, oldest_first=oldest_first)

    async def account_requests_waiting(self) -> int:
        return await sql.read_pending_count(self._reader())

    async def account_request(self, request_id: int) -> AccountRequest | None:
        return await sql.read_one(self._reader(), request_id)

    async def approve_account_request(
        self, request_id: int, *, actor: Actor | None = None, note: str = ""
    ) -> Server:
        """Create the requested server (balance 0, its webhook URL, no token yet), audited.

        The requester claims the token within ``[onboarding] claim_expiry``.
        """
        ttl = self.config.onboarding.claim_expiry_seconds
        who = (actor or self.default_actor).who

        def run(tx: WriteTx) -> Server:
            now = base.unix_now()
            request = _waiting(tx, request_id)
            server = accounts.create_server(
                tx,
                name=request.name,
                balance=0,
                target_balance=0,
                token_hash=None,
                webhook_url=request.webhook_url,
                now=now,
            )
            sql.decide(
                tx,
                request_id,
                status="approved",
                by=who,
                reason=note,
                server_id=server.id,
                claim_expires_at=now + ttl,
                now=now,
            )
            return server

        return await self.change(
            run,
            action="approve-account-request",
            actor=actor,
            reason=note,
            detail=lambda _: {"request": request_id},
        )

    async def refuse_account_request(
        self, request_id: int, reason: str, *, actor: Actor | None = None
    ) -> AccountRequest:
        """Refuse a waiting request; the requester's claim then answers with ``reason``."""
        reason = reason.strip()
        if not reason:
            raise LurkcoinError("ERR_INVALIDREQUEST", "Refusing a request needs a reason.")
        if len(reason) > MAX_REASON_LENGTH:
            raise LurkcoinError(
                "ERR_INVALIDREQUEST", f"A reason has at most {MAX_REASON_LENGTH} characters."
            )
        who = actor or self.default_actor

        def run(tx: WriteTx) -> AccountRequest:
            now = base.unix_now()
            request = _waiting(tx, request_id)
            sql.decide(
                tx,
                request_id,
                status="refused",
                by=who.who,
                reason=reason,
                server_id=None,
                claim_expires_at=None,
                now=now,
            )
            detail = {"request": request_id, "status": "refused"}
            audit.record(tx, who, "refuse-account-request", request.name, None, detail, reason, now)
            refused = sql.by_id(tx, request_id)
            assert refused is not None
            return refused

        return await self.store.write(run)

    async def claim_account(
        self, request_id: int, secret: str, *, address: str
    ) -> tuple[Server, str]:
        """The approved server and a new token for it, once; a coded error otherwise.

        ERR_REQUESTNOTFOUND for an unknown id or a wrong secret (alike, so
        neither can be probed), then ERR_REQUESTPENDING, ERR_REQUESTREFUSED,
        ERR_ALREADYCLAIMED or ERR_CLAIMEXPIRED.
        """
        request = await self.account_request(request_id)
        if request is None or not hmac.compare_digest(
            secret_hash(secret).encode(), request.secret_hash.encode()
        ):
            raise LurkcoinError("ERR_REQUESTNOTFOUND")
        refusal = claim_refusal(request, base.unix_now())
        if refusal is not None:  # answered from a read: polling costs the writer nothing
            raise refusal
        token = new_token()
        digest = hash_token(token)
        server_id = request.server_id
        assert server_id is not None

        def run(tx: WriteTx) -> Server:
            now = base.unix_now()
            current = sql.by_id(tx, request_id)
            assert current is not None
            refusal = claim_refusal(current, now)
            if refusal is not None:  # another claim, or the deadline, came first
                raise refusal
            if tx.server_by_id(server_id) is None:
                raise LurkcoinError(
                    "ERR_CLAIMEXPIRED", "The server of this request no longer exists."
                )
            sql.mark_claimed(tx, request_id, now)
            credentials.rotate_token(tx, server_id, digest, False, now)
            server = tx.server_by_id(server_id)
            assert server is not None
            return server

        server = await self.change(
            run,
            action="claim-account-token",
            actor=Actor(f"requester:#{request_id}", address),
            server_id=server_id,
            detail=lambda _: {"request": request_id},
        )
        return server, token
