"""Standard Webhooks signatures (https://www.standardwebhooks.com/) for signed servers.

A server's secret is ``whsec_`` + base64 of random bytes; each delivery carries
``webhook-id``, ``webhook-timestamp`` and ``webhook-signature: v1,<base64 of
HMAC-SHA256(key, "id.timestamp.body")>``, which receivers check with any
Standard Webhooks library.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

from lurkcoin.ledger.tokens import SECRET_PREFIX, new_signing_secret

__all__ = [
    "SECRET_PREFIX",
    "new_message_id",
    "new_signing_secret",
    "secret_key",
    "signature",
    "signature_headers",
]


def new_message_id() -> str:
    """A webhook-id: unique per notification, kept across its retries."""
    return "msg_" + secrets.token_urlsafe(18)


def secret_key(secret: str) -> bytes:
    """The HMAC key inside a ``whsec_`` secret; ValueError if it is not one."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a signing secret starts with whsec_")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except binascii.Error:
        raise ValueError("a signing secret is whsec_ followed by base64") from None
    if not key:
        raise ValueError("empty signing secret")
    return key


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,`` + base64 HMAC-SHA256 of id.timestamp.body."""
    signed = f"{message_id}.{timestamp}.".encode("ascii") + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
    }
