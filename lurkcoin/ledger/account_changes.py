"""The operator's changes to accounts: create, adjust, fees, tokens, API keys, webhooks, delete.

Each is one audited transaction through ``LedgerBase.change``; the rules
themselves live in lurkcoin.ledger.accounts and credentials.
"""

from __future__ import annotations

from typing import Iterable, NamedTuple

from lurkcoin.core.urls import normalise_webhook_url
from lurkcoin.ledger import accounts, base, credentials
from lurkcoin.ledger.audit import Actor
from lurkcoin.ledger.base import LedgerBase
from lurkcoin.ledger.credentials import new_api_key
from lurkcoin.ledger.tokens import hash_token, new_signing_secret, new_token
from lurkcoin.models import ApiKey, Server
from lurkcoin.store.writes import WriteTx


class WebhookChange(NamedTuple):
    """What set_webhook stored: the URL (None: cleared) and a new secret to show once."""

    url: str | None
    new_secret: str | None


class AccountChanges(LedgerBase):
    async def create_server(
        self,
        name: str,
        *,
        balance: int = 0,
        target_balance: int = 0,
        webhook_url: str | None = None,
        actor: Actor | None = None,
    ) -> tuple[Server, str]:
        """Returns the new server and its token (shown once, stored hashed)."""
        token = new_token()
        url = normalise_webhook_url(webhook_url) if webhook_url else None
        server = await self.change(
            lambda tx: accounts.create_server(
                tx,
                name=name,
                balance=balance,
                target_balance=target_balance,
                token_hash=hash_token(token),
                webhook_url=url,
                now=base.unix_now(),
            ),
            action="create-server",
            actor=actor,
        )
        return server, token

    async def adjust_balance(
        self, name: str, delta: int, reason: str, *, actor: Actor | None = None
    ) -> Server:
        server = self.require_server(name)
        return await self.change(
            lambda tx: accounts.adjust_balance(tx, server.id, delta, reason, base.unix_now()),
            action="adjust-balance",
            actor=actor,
            server_id=server.id,
            reason=reason,
            detail=lambda _: {"amount": delta},
        )

    async def set_fee(self, server: Server | str, bps: int, *, actor: Actor | None = None) -> None:
        """Set the server's exchange fee in basis points (0 to 10,000; 0 takes nothing)."""
        s = self._resolve(server)
        await self.change(
            lambda tx: accounts.set_fee(tx, s.id, bps, base.unix_now()),
            action="set-fee",
            actor=actor,
            server_id=s.id,
        )

    async def set_target_balance(
        self, server: Server | str, cents: int, *, actor: Actor | None = None
    ) -> None:
        s = self._resolve(server)
        await self.change(
            lambda tx: accounts.set_target_balance(tx, s.id, cents, base.unix_now()),
            action="set-target-balance",
            actor=actor,
            server_id=s.id,
        )

    async def regenerate_token(
        self, server: Server | str, *, keep_old: bool = True, actor: Actor | None = None
    ) -> str:
        """A new token; with ``keep_old`` the old one works until the new one is used."""
        s = self._resolve(server)
        token = new_token()
        digest = hash_token(token)
        await self.change(
            lambda tx: credentials.rotate_token(tx, s.id, digest, keep_old, base.unix_now()),
            action="regenerate-token",
            actor=actor,
            server_id=s.id,
            detail=lambda _: {"old_token_kept_until_first_use": keep_old},
        )
        return token

    async def create_api_key(
        self,
        server: Server,
        scopes: Iterable[str],
        label: str = "",
        *,
        actor: Actor | None = None,
        operator: bool = False,
    ) -> tuple[ApiKey, str]:
        """A new read-only key (returned once, stored hashed).

        ``operator``: asked by the operator (CLI), who alone grants the explorer scope.
        """
        key = new_api_key()
        digest = hash_token(key)
        wanted = frozenset(scopes)
        keys = await self.change(
            lambda tx: credentials.create_api_key(
                tx, server.id, digest, key[:10], wanted, label, base.unix_now(), operator
            ),
            action="create-api-key",
            actor=actor,
            server_id=server.id,
            detail=lambda _: {"prefix": key[:10], "scopes": sorted(wanted), "label": label},
        )
        self._set_api_keys(keys)
        return self._api_keys[digest], key

    def api_keys(self, server: Server) -> list[ApiKey]:
        return sorted(
            (k for k in self._api_keys.values() if k.server_id == server.id), key=lambda k: k.id
        )

    async def revoke_api_key(
        self, server: Server, key_id: int, *, actor: Actor | None = None
    ) -> None:
        self._set_api_keys(
            await self.change(
                lambda tx: credentials.revoke_api_key(tx, server.id, key_id, base.unix_now()),
                action="revoke-api-key",
                actor=actor,
                server_id=server.id,
                detail=lambda _: {"key_id": key_id},
            )
        )

    async def set_webhook(
        self,
        server: Server | str,
        url: str | None,
        *,
        sign: bool | None = None,
        actor: Actor | None = None,
    ) -> WebhookChange:
        """Normalise and store (or, with None, clear) the webhook URL.

        ``sign``: True makes a fresh signing secret (returned, to be shown once),
        False makes deliveries unsigned, None keeps the secret the server has.
        Clearing the URL drops the secret and any queued notification.
        """
        s = self._resolve(server)
        normalised = normalise_webhook_url(url) if url is not None else None
        fresh = new_signing_secret() if sign else None
        await self.change(
            lambda tx: accounts.set_webhook(
                tx, s.id, normalised, sign=sign, fresh_secret=fresh, now=base.unix_now()
            ),
            action="set-webhook" if normalised else "clear-webhook",
            actor=actor,
            server_id=s.id,
        )
        return WebhookChange(normalised, fresh if normalised is not None else None)

    async def rotate_webhook_secret(
        self, server: Server | str, *, actor: Actor | None = None
    ) -> str:
        """Replace the signing secret (starting signing if there was none); returns it.

        The old secret stops at once: later deliveries carry only the new signature.
        ERR_INVALIDREQUEST when the server has no webhook URL.
        """
        s = self._resolve(server)
        secret = new_signing_secret()
        await self.change(
            lambda tx: accounts.set_webhook_secret(tx, s.id, secret, base.unix_now()),
            action="rotate-webhook-secret",
            actor=actor,
            server_id=s.id,
        )
        return secret

    async def remove_webhook_secret(
        self, server: Server | str, *, actor: Actor | None = None
    ) -> None:
        """Stop signing deliveries (they become exactly the reference's request)."""
        s = self._resolve(server)
        await self.change(
            lambda tx: accounts.set_webhook_secret(tx, s.id, None, base.unix_now()),
            action="remove-webhook-secret",
            actor=actor,
            server_id=s.id,
        )

    async def delete_server(
        self, name: str, *, actor: Actor | None = None, drain_reason: str | None = None
    ) -> None:
        """Delete a server; with ``drain_reason``, first acknowledge what is pending for it
        and move its balance to the issuance account (all in the same transaction)."""
        server = self.require_server(name)

        def run(tx: WriteTx) -> None:
            if drain_reason is not None:
                accounts.drain_to_issuance(tx, server.id, drain_reason, base.unix_now())
            accounts.delete_server(tx, server.id, base.unix_now())

        await self.change(
            run,
            action="delete-server",
            actor=actor,
            server_id=server.id,
            reason=drain_reason or "",
        )
        self._set_api_keys([k for k in self._api_keys.values() if k.server_id != server.id])
