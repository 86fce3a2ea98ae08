"""API tokens: 128 random bytes shown once, stored only as SHA-256.

A slow password hash buys nothing for secrets of this entropy and would put
milliseconds on every authenticated request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

TOKEN_BYTES = 128

# A webhook signing secret (Standard Webhooks): whsec_ and base64 of 24 to 64
# random bytes; lurkcoin.webhooks.signing signs with it.
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_token() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(TOKEN_BYTES)).decode("ascii")


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def token_matches(token: str, stored: bytes | None) -> bool:
    """Constant-time comparison; a server without a token never matches."""
    if stored is None:
        return False
    return hmac.compare_digest(hash_token(token), stored)


def new_signing_secret() -> str:
    """A fresh webhook signing secret, shown to the operator once."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")
