"""API error codes of the lurkcoinV3 protocol and the exception that carries them.

The first 13 codes and their messages are the reference server's, byte for byte;
the rest are ours and keep the same ``ERR_`` + upper-case shape.
"""

from __future__ import annotations

import math
from typing import Any

ERRORS: dict[str, tuple[int, str]] = {
    # The reference server's codes (spec, error table).
    "ERR_INVALIDLOGIN": (401, "Invalid login!"),
    "ERR_INVALIDREQUEST": (400, "Invalid request."),
    "ERR_PAYLOADTOOLARGE": (
        413,
        "Request body too large. You may send a maximum of 4096 bytes.",
    ),
    "ERR_SERVERNOTFOUND": (400, "Server not found!"),
    "ERR_INVALIDAMOUNT": (400, "Invalid number!"),
    "ERR_CANNOTPAYNOTHING": (400, "You cannot pay someone \u00a40.00!"),
    "ERR_CANNOTAFFORD": (400, "You cannot afford to do that!"),
    "ERR_SOURCEUSERNAMETOOLONG": (400, "The source username is too long!"),
    "ERR_USERNAMETOOLONG": (400, "The target username is too long!"),
    "ERR_SOURCESERVERNOTFOUND": (400, 'The "from" server does not exist!'),
    "ERR_TARGETSERVERNOTFOUND": (400, 'The "to" server does not exist!'),
    "ERR_TRANSACTIONLIMIT": (400, "The amount you specified exceeds the max spend!"),
    "ERR_INTERNALERROR": (500, "Internal error!"),
    # Codes we add for new endpoints and parameters.
    "ERR_IDEMPOTENCYKEYREUSED": (
        409,
        "This idempotency key was already used with a different request.",
    ),
    "ERR_INVALIDIDEMPOTENCYKEY": (400, "Invalid idempotency key."),
    "ERR_TOOMANYREQUESTS": (429, "Too many failed login attempts. Try again later."),
    "ERR_FORBIDDEN": (403, "This key is not allowed to do that."),
    "ERR_INVALIDWEBHOOKURL": (400, "Invalid webhook URL."),
    "ERR_TRANSACTIONNOTFOUND": (400, "Transaction not found!"),
    "ERR_SERVEREXISTS": (400, "A server with that name already exists!"),
    "ERR_SERVERNOTEMPTY": (
        400,
        "The server still holds a balance or pending transactions!",
    ),
    # The public explorer (/api/).
    "ERR_INVALIDPARAMETER": (400, "Invalid query parameters."),
    "ERR_NOTFOUND": (404, "Not found."),
    "ERR_RATELIMITED": (429, "Too many requests. Try again later."),
    # Self-service onboarding (/api/account_requests).
    "ERR_ALREADYREQUESTED": (409, "An account with that name is already requested."),
    "ERR_REQUESTNOTFOUND": (404, "No account request with that id and secret."),
    "ERR_REQUESTPENDING": (409, "The request is waiting for an operator; try again later."),
    "ERR_REQUESTREFUSED": (409, "The request was refused."),
    "ERR_ALREADYCLAIMED": (410, "The token of this request was already claimed."),
    "ERR_CLAIMEXPIRED": (410, "The claim expired; ask the operator for a token."),
    "ERR_QUEUEFULL": (503, "Too many account requests are waiting; try again later."),
}

# An unknown code is a bug on our side, so it is reported like an internal error.
_UNKNOWN_STATUS = 500
_UNKNOWN_MESSAGE = ERRORS["ERR_INTERNALERROR"][1]


class LurkcoinError(Exception):
    """An API-level failure: ``code`` is the wire code, ``message`` its text.

    ``details``: what exactly was wrong (the /api/ endpoints name the
    parameter and what it allows); /v3 never sets it, so its bodies stay the
    reference's.
    """

    def __init__(self, code: str, message: str | None = None, details: str | None = None) -> None:
        if message is None:
            message = ERRORS.get(code, (_UNKNOWN_STATUS, _UNKNOWN_MESSAGE))[1]
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.details = details

    @property
    def status(self) -> int:
        """HTTP status of the error (500 for a code missing from the table)."""
        return ERRORS.get(self.code, (_UNKNOWN_STATUS, ""))[0]

    @property
    def headers(self) -> dict[str, str]:
        """Extra HTTP headers of the reply (Retry-After on a 429 or 503)."""
        return {}

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class ServiceUnavailable(LurkcoinError):
    """The ledger cannot record changes now (a full disk...): HTTP 503 with Retry-After.

    The code stays ERR_INTERNALERROR, which every old client already handles.
    """

    def __init__(self, reason: str, retry_after: float) -> None:
        super().__init__(
            "ERR_INTERNALERROR", "The ledger cannot record changes right now; try again later."
        )
        self.reason = reason
        self.retry_after = max(1, math.ceil(retry_after))

    @property
    def status(self) -> int:
        return 503

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


def error_body(err: LurkcoinError) -> dict[str, Any]:
    """The JSON body of a failure, keys in the reference server's (sorted) order.

    Then ``details`` if any; a failed batch payment adds its ``index`` before
    the message (extra fields old clients ignore).
    """
    body: dict[str, Any] = {"error": err.code}
    index = getattr(err, "index", None)
    if isinstance(index, int):
        body["index"] = index
    body["message"] = err.message
    body["success"] = False
    if err.details is not None:
        body["details"] = err.details
    return body
