"""New /v3 endpoints for a server's own credentials: token rotation, read-only keys, webhook secret.

Every one needs the server's token (a read-only key gets 403 ERR_FORBIDDEN),
and a secret it returns is shown this once: only its hash (or, for the
webhook secret, the secret itself) is stored.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from lurkcoin.api.app_keys import LEDGER_KEY
from lurkcoin.api.auth import authenticate, server_actor
from lurkcoin.api.body import invalid_request, read_json_object
from lurkcoin.api.replies import success
from lurkcoin.models import ApiKey

# Ids are SQLite integers; anything larger cannot name a key.
_MAX_ID = 2**63


def key_object(key: ApiKey) -> dict[str, Any]:
    """A read-only key on the wire, without the key itself."""
    return {
        "id": key.id,
        "prefix": key.prefix,
        "scopes": sorted(key.scopes),
        "label": key.label,
        "created_at": key.created_at,
    }


async def regenerate_token(request: web.Request) -> web.StreamResponse:
    """A new token; the old one keeps working until the new one is first used."""
    server = await authenticate(request)
    token = await request.app[LEDGER_KEY].regenerate_token(
        server, keep_old=True, actor=server_actor(request, server)
    )
    return success(token)


async def rotate_webhook_secret(request: web.Request) -> web.StreamResponse:
    """A new signing secret (``whsec_...``); deliveries carry only its signature from now on."""
    server = await authenticate(request)
    return success(
        await request.app[LEDGER_KEY].rotate_webhook_secret(
            server, actor=server_actor(request, server)
        )
    )


async def create_api_key(request: web.Request) -> web.StreamResponse:
    """Body ``{"scopes": [...], "label": "..."}``; the result carries the key, shown once."""
    server = await authenticate(request)
    fields = await read_json_object(request)
    scopes = fields.get("scopes")
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise invalid_request()
    label = fields.string("label")
    info, key = await request.app[LEDGER_KEY].create_api_key(
        server, scopes, label, actor=server_actor(request, server)
    )
    return success(
        {
            "id": info.id,
            "key": key,
            "prefix": info.prefix,
            "scopes": sorted(info.scopes),
            "label": info.label,
            "created_at": info.created_at,
        }
    )


async def list_api_keys(request: web.Request) -> web.StreamResponse:
    server = await authenticate(request)
    return success([key_object(k) for k in request.app[LEDGER_KEY].api_keys(server)])


async def revoke_api_key(request: web.Request) -> web.StreamResponse:
    """Body ``{"id": n}``; the key stops working at once. An unknown id is ERR_INVALIDREQUEST."""
    server = await authenticate(request)
    key_id = (await read_json_object(request)).get("id")
    if isinstance(key_id, bool) or not isinstance(key_id, int) or not 0 < key_id < _MAX_ID:
        raise invalid_request()
    await request.app[LEDGER_KEY].revoke_api_key(
        server, key_id, actor=server_actor(request, server)
    )
    return success(None)
