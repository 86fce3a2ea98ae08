"""Helpers for the self-service onboarding tests: a config with it on, and its two calls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auth_helpers import Client, Reply
from console_helpers import console_config

from lurkcoin.config import Config

REQUESTS = "/api/account_requests"
CLAIM = "/api/account_requests/claim"
GOOD = {
    "name": "New Server",
    "contact": "admin@game.example",
    "webhook_url": "https://game.example/hooks",
    "message": "A survival server.\nAbout 40 players.",
}


def onboarding_config(db: Path, **onboarding: Any) -> Config:
    """The console's test accounts (alice, olga, victor) and onboarding on, with overrides."""
    config = console_config(db)
    config.onboarding.enabled = True
    for key, value in onboarding.items():
        setattr(config.onboarding, key, value)
    return config


async def ask(client: Client, body: Any = None, **fields: Any) -> Reply:
    """POST /api/account_requests with GOOD's fields, changed by ``fields`` (None drops one)."""
    if body is None:
        body = {k: v for k, v in (GOOD | fields).items() if v is not None}
    return await client.call("POST", REQUESTS, body=body)


async def claim(client: Client, request_id: Any, secret: Any) -> Reply:
    return await client.call("POST", CLAIM, body={"id": request_id, "secret": secret})


def failed(reply: Reply, status: int, code: str, details: str | None = None) -> None:
    """The reply is the error envelope with this status and code (details starting so)."""
    assert reply.status == status, (reply.status, reply.body)
    assert reply.body["success"] is False and reply.body["error"] == code, reply.body
    if details is not None:
        assert reply.body.get("details", "").startswith(details), reply.body
