"""What an endpoint is, and how an app registers a table of them.

An :class:`Endpoint` holds everything about one path and the methods that
share its meaning: the handler that answers it, the login it takes, the body
it reads, the reply it gives and the error codes its own checks raise. The
router (:func:`add_endpoints`) and the OpenAPI document (lurkcoin.api.openapi)
are both built from the same objects, so neither can forget an endpoint.

The server's table is ``lurkcoin.api.routes.ENDPOINTS``; how to declare a new
endpoint is described there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web
from aiohttp.typedefs import Handler

from lurkcoin.api.body import expect_handler

Schema = dict[str, Any]

# What a successful reply is:
#   "envelope": {"success": true, "result": <result>} as JSON, errors as /v3 error JSON;
#   "json":     <result> itself as JSON (errors still as /v3 error JSON);
#   "text":     text/plain (<result> describes the text, a string schema);
#   "html":     an HTML page (never in the OpenAPI document).
ReplyKind = Literal["envelope", "json", "text", "html"]

# A read endpoint answers both, as the reference does; HEAD is never registered
# (the reference answers 405).
READ = ("GET", "POST")


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: the document cache keys on it
class Endpoint:
    """One path, its methods and handler, and what the OpenAPI document says about it."""

    path: str
    methods: tuple[str, ...]
    handler: Handler
    summary: str
    description: str = ""
    tag: str = "meta"
    # The "result" of the success envelope, or the whole reply (see ReplyKind).
    result: Schema | None = None
    reply: ReplyKind = "envelope"
    # None: no login; (): the server's token only; scopes: a read-only key with them also works.
    scopes: tuple[str, ...] | None = ()
    body: Schema | None = None
    body_required: bool = True  # False: an unusable body is ignored, never an error
    body_example: dict[str, Any] | None = None
    # What the document says of the body's format; empty: the /v3 rules (lurkcoin.api.openapi).
    body_rules: str = ""
    codes: tuple[str, ...] = ()  # the endpoint's own error codes
    parameters: tuple[str, ...] = ()  # names in the document's components/parameters
    # False keeps a served path out of the OpenAPI document (pages, /metrics).
    documented: bool = True
    # The operationId suffix; by default the last path segment (must be unique per method).
    operation_name: str = ""

    def __post_init__(self) -> None:
        if self.documented and (self.reply == "html" or self.result is None):
            raise ValueError(f"{self.path}: a documented endpoint needs a result schema, not HTML")

    @property
    def name(self) -> str:
        return self.operation_name or self.path.rsplit("/", 1)[1].replace(".", "_")


ENDPOINTS_KEY = web.AppKey("endpoints", tuple[Endpoint, ...])


def add_endpoints(app: web.Application, endpoints: Iterable[Endpoint]) -> None:
    """Route each endpoint's methods to its handler and record the endpoints on the app.

    May be called more than once (a feature with its own table adds it beside
    the main one); the OpenAPI document served by the app lists every
    documented endpoint of every call.
    """
    added = tuple(endpoints)
    for endpoint in added:
        for method in endpoint.methods:
            app.router.add_route(
                method, endpoint.path, endpoint.handler, expect_handler=expect_handler
            )
    app[ENDPOINTS_KEY] = app.get(ENDPOINTS_KEY, ()) + added
