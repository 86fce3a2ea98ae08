"""Token rotation with a grace period and scoped read-only keys, at the ledger level."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lurkcoin.config import Config
from lurkcoin.core.errors import LurkcoinError
from lurkcoin.ledger import Ledger


async def test_old_token_works_until_the_new_one_is_used(tmp_path: Path) -> None:
    config = Config()
    config.database.path = str(tmp_path / "rotate.db")
    ledger = await Ledger.open(config)
    _, old = await ledger.create_server("Alpha")
    new = await ledger.regenerate_token("alpha")
    assert await ledger.authenticate("alpha", old) is not None
    assert await ledger.authenticate("alpha", old) is not None
    assert await ledger.authenticate("alpha", new) is not None
    assert await ledger.authenticate("alpha", old) is None
    assert await ledger.authenticate("alpha", new) is not None
    # The promotion is durable: a fresh process sees only the new token.
    await ledger.close()
    reopened = await Ledger.open(config)
    try:
        assert await reopened.authenticate("alpha", old) is None
        assert await reopened.authenticate("alpha", new) is not None
    finally:
        await reopened.close()


async def test_a_promotion_is_durable_when_the_login_returns(ledger: Ledger) -> None:
    """Promoting the token is an awaited write, not a task left running after the login."""
    _, old = await ledger.create_server("Alpha")
    new = await ledger.regenerate_token("alpha")
    assert await ledger.authenticate("alpha", new) is not None
    # Another process (the CLI) opening the file now already sees only the new token.
    other = await Ledger.open(ledger.config)
    try:
        assert await other.authenticate("alpha", old) is None
        assert await other.authenticate("alpha", new) is not None
    finally:
        await other.close()


async def test_a_promotion_that_cannot_be_written_fails_the_login(ledger: Ledger) -> None:
    _, old = await ledger.create_server("Alpha")
    new = await ledger.regenerate_token("alpha")
    await ledger.close()  # the writer is gone: nothing can be written
    with pytest.raises(RuntimeError, match="not open"):
        await ledger.authenticate("alpha", new)
    # Not promoted in memory either: the old token still names the account.
    assert await ledger.authenticate("alpha", old) is not None


async def test_two_logins_racing_with_the_new_token_both_succeed(ledger: Ledger) -> None:
    _, old = await ledger.create_server("Alpha")
    new = await ledger.regenerate_token("alpha")
    first, second = await asyncio.gather(
        ledger.authenticate("alpha", new), ledger.authenticate("alpha", new)
    )
    assert first is not None and second is not None
    assert first.next_token_hash is None and second.next_token_hash is None
    assert await ledger.authenticate("alpha", old) is None


async def test_operator_can_revoke_the_old_token_at_once(ledger: Ledger) -> None:
    _, old = await ledger.create_server("Alpha")
    new = await ledger.regenerate_token("alpha", keep_old=False)
    assert await ledger.authenticate("alpha", old) is None
    assert await ledger.authenticate("alpha", new) is not None


async def test_unused_regenerated_token_is_replaced_by_the_next(ledger: Ledger) -> None:
    _, old = await ledger.create_server("Alpha")
    first = await ledger.regenerate_token("alpha")
    second = await ledger.regenerate_token("alpha")
    assert await ledger.authenticate("alpha", first) is None
    assert await ledger.authenticate("alpha", second) is not None
    assert await ledger.authenticate("alpha", old) is None


async def test_read_keys_are_scoped_and_revocable(ledger: Ledger) -> None:
    alpha, _ = await ledger.create_server("Alpha")
    await ledger.create_server("Bravo")
    info, key = await ledger.create_api_key(alpha, ["balance", "history"], "dashboard")
    assert info.scopes == frozenset({"balance", "history"}) and key.startswith("lk_")
    found = ledger.authenticate_key(key)
    assert found is not None and found[0].uid == "alpha"
    assert ledger.authenticate_key(key, "ALPHA") is not None
    assert ledger.authenticate_key(key, "bravo") is None
    assert await ledger.authenticate("alpha", key) is None  # a key is never a token
    assert [k.id for k in ledger.api_keys(alpha)] == [info.id]
    await ledger.revoke_api_key(alpha, info.id)
    assert ledger.authenticate_key(key) is None
    with pytest.raises(LurkcoinError):
        await ledger.revoke_api_key(alpha, info.id)
    with pytest.raises(LurkcoinError, match="ERR_INVALIDREQUEST"):
        await ledger.create_api_key(alpha, ["pay"])
    with pytest.raises(LurkcoinError, match="ERR_INVALIDREQUEST"):
        await ledger.create_api_key(alpha, [])
