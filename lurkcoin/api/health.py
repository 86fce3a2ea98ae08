"""``GET /healthz`` (the process answers) and ``GET /readyz`` (it can take payments).

Both need no login and say nothing secret, so load balancers, Kubernetes
and Docker's HEALTHCHECK can call them from anywhere. /readyz makes a round
trip through the single writer and a read; it answers 503 with the reason
while the disk is full, the database is read-only or the writer is stuck.
The server only listens once its migrations are done, so it never answers
"ready" before them.
"""

from __future__ import annotations

import math

from aiohttp import web

from lurkcoin.api.app_keys import LEDGER_KEY

# Longer than a healthy writer ever takes, shorter than a probe's usual timeout.
READY_TIMEOUT = 5.0


async def healthz(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok\n")


async def readyz(request: web.Request) -> web.StreamResponse:
    ledger = request.app[LEDGER_KEY]
    problem = await ledger.readiness(READY_TIMEOUT)
    if problem is None:
        return web.Response(text="ready\n")
    retry = math.ceil(ledger.config.database.retry_interval)
    return web.Response(
        status=503, text=f"not ready: {problem}\n", headers={"Retry-After": str(max(1, retry))}
    )
