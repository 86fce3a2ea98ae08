"""Admin passwords: argon2id hashes in the config (``[admin] accounts``), verified here.

Verification costs tens of milliseconds of CPU by design: call it from a
request handler through ``await asyncio.to_thread(verify_admin, ...)``.
"""

from __future__ import annotations

import functools
import hmac
import secrets

from argon2 import PasswordHasher, Type, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError

from lurkcoin.config import Config

_HASHER = PasswordHasher(type=Type.ID)


def hash_password(password: str) -> str:
    """The argon2id hash to paste into ``[admin] accounts`` (argon2-cffi's defaults)."""
    return _HASHER.hash(password)


@functools.lru_cache(maxsize=8)
def _dummy_hash(like: str | None) -> str:
    """A hash of a random password that costs as much to verify as ``like`` does."""
    hasher = _HASHER
    if like is not None:
        try:
            hasher = PasswordHasher.from_parameters(extract_parameters(like))
        except (InvalidHashError, ValueError):
            pass
    return hasher.hash(secrets.token_urlsafe(16))


def verify_admin(config: Config, user: str, password: str) -> bool:
    """Whether ``password`` is ``user``'s admin password.

    An unknown user costs one verification against a hash with the same
    parameters as a configured account's, so timing does not tell which
    user names exist.
    """
    accounts = config.admin.accounts
    stored = None
    for name, hashed in accounts.items():  # compare every name: no early exit
        if hmac.compare_digest(
            name.encode("utf-8", "surrogatepass"), user.encode("utf-8", "surrogatepass")
        ):
            stored = hashed
    if stored is None:
        candidate = _dummy_hash(next(iter(accounts.values()), None))
    else:
        candidate = stored
    try:
        matched: bool = _HASHER.verify(candidate, password)
    except (VerificationError, InvalidHashError):
        matched = False
    return matched and stored is not None


def warm_up(config: Config) -> None:
    """Make the unknown-user hash now, so the first unknown user is not slower (call at startup)."""
    _dummy_hash(next(iter(config.admin.accounts.values()), None))
