"""Credentials: token rotation with a grace period and scoped read-only API keys.

Each function runs inside one SAVEPOINT on the writer thread, like payments.
"""

from __future__ import annotations

import base64
import secrets

from lurkcoin.core.errors import LurkcoinError
from lurkcoin.models import ApiKey
from lurkcoin.store.writes import WriteTx

# What a read-only key may be allowed to see. "explorer" opens every
# transaction of the public explorer (player names included) when the
# operator keeps them private, so only the operator grants it (the CLI).
SCOPES = frozenset({"balance", "history", "pending", "explorer"})
OPERATOR_SCOPES = frozenset({"explorer"})
KEY_PREFIX = "lk_"
MAX_KEYS_PER_SERVER = 50
MAX_LABEL_LENGTH = 100


def new_api_key() -> str:
    return KEY_PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def rotate_token(tx: WriteTx, server_id: int, new_hash: bytes, keep_old: bool, now: int) -> None:
    """Install a new token; with ``keep_old`` the old one works until the new one is used."""
    if tx.server_by_id(server_id) is None:
        raise LurkcoinError("ERR_SERVERNOTFOUND")
    if keep_old:
        tx.update_server(server_id, now, next_token_hash=new_hash)
    else:
        tx.update_server(server_id, now, token_hash=new_hash, next_token_hash=None)


def promote_token(tx: WriteTx, server_id: int, new_hash: bytes, now: int) -> None:
    """The new token was used: from now on only it logs in."""
    server = tx.server_by_id(server_id)
    if server is not None and server.next_token_hash == new_hash:
        tx.update_server(server_id, now, token_hash=new_hash, next_token_hash=None)


def create_api_key(
    tx: WriteTx,
    server_id: int,
    key_hash: bytes,
    prefix: str,
    scopes: frozenset[str],
    label: str,
    now: int,
    operator: bool,
) -> list[ApiKey]:
    """Store a new key; returns every active key (for the in-memory map).

    ``operator``: the operator asks (the CLI), who alone may grant OPERATOR_SCOPES.
    """
    allowed = SCOPES if operator else SCOPES - OPERATOR_SCOPES
    if not scopes or not scopes <= allowed:
        raise LurkcoinError(
            "ERR_INVALIDREQUEST",
            f"Scopes must be a non-empty subset of {', '.join(sorted(allowed))}"
            + ("." if operator else " (the operator grants explorer)."),
        )
    if len(label) > MAX_LABEL_LENGTH:
        raise LurkcoinError("ERR_INVALIDREQUEST", "The label is too long.")
    if tx.server_by_id(server_id) is None:
        raise LurkcoinError("ERR_SERVERNOTFOUND")
    active = tx.active_api_keys()
    if sum(k.server_id == server_id for k in active) >= MAX_KEYS_PER_SERVER:
        raise LurkcoinError("ERR_INVALIDREQUEST", "Too many API keys; revoke some first.")
    tx.insert_api_key(
        server_id=server_id,
        key_hash=key_hash,
        prefix=prefix,
        scopes=",".join(sorted(scopes)),
        label=label,
        now=now,
    )
    return tx.active_api_keys()


def revoke_api_key(tx: WriteTx, server_id: int, key_id: int, now: int) -> list[ApiKey]:
    if not tx.revoke_api_key(server_id, key_id, now):
        raise LurkcoinError("ERR_INVALIDREQUEST", "No such API key.")
    return tx.active_api_keys()
