"""The route table of self-service onboarding, added beside lurkcoin.api.routes.

:func:`install` registers it only when ``[onboarding] enabled`` is true;
otherwise both paths are unknown paths (404) and absent from the OpenAPI
document.
"""

from __future__ import annotations

from aiohttp import web

from lurkcoin.api.onboarding import (
    CLAIM_FIELDS,
    MAX_CONTACT_LENGTH,
    MAX_MESSAGE_LENGTH,
    MAX_SECRET_LENGTH,
    ONBOARDING_KEY,
    REQUEST_FIELDS,
    OnboardingState,
    claim_account,
    guarded,
    request_account,
)
from lurkcoin.api.openapi_schemas import Schema
from lurkcoin.api.routing import Endpoint, add_endpoints
from lurkcoin.config import Config
from lurkcoin.core.names import MAX_SERVER_NAME_LENGTH
from lurkcoin.core.urls import MAX_WEBHOOK_URL_LENGTH

_BODY_RULES = (
    "One JSON object of at most 4096 bytes (413 ERR_PAYLOADTOOLARGE otherwise), sent as "
    "`Content-Type: application/json`, with only the fields listed (field names ignore "
    "case; an unknown or repeated field is 400 ERR_INVALIDPARAMETER naming it). Other "
    "bodies are 400 ERR_INVALIDREQUEST with `details`."
)
_FLOW = (
    " The flow: (1) POST /api/account_requests with the server's name and a contact; keep "
    "the `id` and `secret` of the answer (the secret is shown only then and stored hashed). "
    "(2) An operator approves (the server is created with balance 0 and the webhook URL) or "
    "refuses (with a reason). (3) POST /api/account_requests/claim with the id and secret: "
    "409 ERR_REQUESTPENDING while waiting (poll every few minutes), 409 ERR_REQUESTREFUSED "
    "with the reason in `details`, and after approval the server's API token, exactly once "
    "(410 ERR_ALREADYCLAIMED afterwards) and only within the claim period after approval "
    "(24 hours unless the operator says otherwise; 410 ERR_CLAIMEXPIRED after it)."
)


def _printable(description: str, max_length: int, *, min_length: int = 0) -> Schema:
    return {
        "type": "string",
        "minLength": min_length,
        "maxLength": max_length,
        "description": description,
    }


_REQUEST_BODY: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "contact"],
    "properties": {
        "name": _printable(
            "The server's name: printable, no spaces around it, no ':', at least one letter "
            "or digit a-z/0-9. Matched by uid (lower case, spaces dropped, other characters "
            "as '_') against existing servers (400 ERR_SERVEREXISTS) and waiting requests "
            "(409 ERR_ALREADYREQUESTED).",
            MAX_SERVER_NAME_LENGTH,
            min_length=1,
        ),
        "contact": _printable(
            "How the operator reaches you (an e-mail address, a forum or chat name); shown "
            "only to operators.",
            MAX_CONTACT_LENGTH,
            min_length=1,
        ),
        "webhook_url": {
            "type": ["string", "null"],
            "maxLength": MAX_WEBHOOK_URL_LENGTH,
            "description": "Optional: the server's webhook URL, as /v3/webhook_url takes it "
            "(http(s), a public host, `/lurkcoin` appended to the path). Null or empty: none.",
        },
        "message": {
            "type": ["string", "null"],
            "maxLength": MAX_MESSAGE_LENGTH,
            "description": "Optional: a note for the operator (line breaks allowed).",
        },
    },
}
_CLAIM_BODY: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": list(CLAIM_FIELDS),
    "properties": {
        "id": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
        "secret": _printable("The secret the request answered.", MAX_SECRET_LENGTH, min_length=1),
    },
}
assert list(_REQUEST_BODY["properties"]) == list(REQUEST_FIELDS)

_REQUEST_RESULT: Schema = {
    "type": "object",
    "required": ["id", "secret", "name", "webhook_url", "status", "created_at"],
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "secret": {
            "type": "string",
            "pattern": "^lkreq_",
            "description": "Keep it: with the id it claims the token. Shown only this once.",
        },
        "name": {"type": "string"},
        "webhook_url": {"type": ["string", "null"], "description": "As it will be stored."},
        "status": {"const": "pending"},
        "created_at": {"type": "integer", "description": "Unix time."},
    },
}
_CLAIM_RESULT: Schema = {
    "type": "object",
    "required": ["name", "token", "webhook_url"],
    "properties": {
        "name": {"type": "string"},
        "token": {
            "type": "string",
            "description": "The server's API token (HTTP Basic password for /v3), shown once.",
        },
        "webhook_url": {"type": ["string", "null"]},
    },
}

ONBOARDING_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "/api/account_requests",
        ("POST",),
        guarded(request_account),
        "Ask for a server account",
        "Queues a request for an operator. Rate limited per client address (429 "
        "ERR_RATELIMITED with Retry-After, counting every request, valid or not); 503 "
        "ERR_QUEUEFULL while too many requests wait." + _FLOW,
        "onboarding",
        _REQUEST_RESULT,
        scopes=None,
        body=_REQUEST_BODY,
        body_example={
            "name": "My Server",
            "contact": "admin@game.example",
            "webhook_url": "https://game.example/hooks",
            "message": "A survival server with about 40 players.",
        },
        body_rules=_BODY_RULES,
        codes=(
            "ERR_INVALIDPARAMETER",
            "ERR_INVALIDWEBHOOKURL",
            "ERR_SERVEREXISTS",
            "ERR_ALREADYREQUESTED",
            "ERR_RATELIMITED",
            "ERR_QUEUEFULL",
        ),
        operation_name="request_account",
    ),
    Endpoint(
        "/api/account_requests/claim",
        ("POST",),
        guarded(claim_account),
        "Claim the token of an approved request, once",
        "404 ERR_REQUESTNOTFOUND for an unknown id or a wrong secret (alike); such failures "
        "count as failed logins of the client address (429 ERR_TOOMANYREQUESTS)." + _FLOW,
        "onboarding",
        _CLAIM_RESULT,
        scopes=None,
        body=_CLAIM_BODY,
        body_example={"id": 1, "secret": "lkreq_..."},
        body_rules=_BODY_RULES,
        codes=(
            "ERR_INVALIDPARAMETER",
            "ERR_TOOMANYREQUESTS",
            "ERR_REQUESTNOTFOUND",
            "ERR_REQUESTPENDING",
            "ERR_REQUESTREFUSED",
            "ERR_ALREADYCLAIMED",
            "ERR_CLAIMEXPIRED",
        ),
        operation_name="claim_account",
    ),
)


def install(app: web.Application, config: Config) -> None:
    """Serve the onboarding endpoints on ``app`` if the operator enabled them."""
    if not config.onboarding.enabled:
        return
    app[ONBOARDING_KEY] = OnboardingState.from_config(config)
    add_endpoints(app, ONBOARDING_ENDPOINTS)
