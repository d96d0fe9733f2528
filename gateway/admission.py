"""What stands between a client and the proxy: limits, rate limits, sign-in, Idempotency-Key.

For a proxied request, in this order: the request head's sizes (a
middleware, for every gateway route), the declared body size, the client
IP's or the credential's rate limit, authentication, the body size allowed
to the caller's workspace, then the Idempotency-Key and the proxy itself,
which streams the body through ``limits.RequestBody`` (counted and timed).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohttp import web

from casemesh.adapters import build_store
from casemesh.settings import Settings
from casemesh.store.port import DocumentStore
from casemesh.web.keys import SETTINGS
from gateway.auth import CALLER, Authenticate, authorize
from gateway.idempotency import Idempotency
from gateway.idempotency_store import IdempotencyRecords
from gateway.limits import RequestBody, body_limit, check_declared_length, check_head
from gateway.proxy import open_upstream
from gateway.ratelimit import Throttle, admit

STORE_NAME = "gateway"
THROTTLE: web.AppKey[Throttle] = web.AppKey("throttle", Throttle)
IDEMPOTENCY: web.AppKey[Idempotency] = web.AppKey("idempotency", Idempotency)


def install_guards(
    app: web.Application, settings: Settings, *, store: DocumentStore | None = None
) -> None:
    """Add the head-size middleware, the throttle and the Idempotency-Key records to ``app``.

    ``store`` replaces the gateway's own document store (built from settings on
    first use: SQLite in the data folder embedded, MongoDB in production).
    """
    app.middlewares.append(check_head)
    app[THROTTLE] = Throttle(settings)
    open_store: Callable[[], DocumentStore] = (
        (lambda: store)
        if store is not None
        else functools.partial(build_store, settings, STORE_NAME)
    )
    records = IdempotencyRecords(settings, open_store)
    app[IDEMPOTENCY] = Idempotency(records, settings.idempotency_max_response)

    async def sweeping(app: web.Application) -> AsyncIterator[None]:
        async for _ in records.sweeping():
            yield

    app.cleanup_ctx.append(sweeping)


async def forward_guarded(
    request: web.Request,
    service: str,
    session: aiohttp.ClientSession,
    authenticate: Authenticate,
) -> web.StreamResponse:
    """Check, throttle, authenticate and forward ``request`` to ``service``."""
    settings = request.app[SETTINGS]
    body = RequestBody(request, body_limit(settings, request.path), settings)
    check_declared_length(request, body.limit)
    identity_headers = await admit(
        request.app[THROTTLE], request, lambda: authorize(request, settings, authenticate)
    )
    caller = request.get(CALLER)
    if caller is not None:
        body.limit = body_limit(settings, request.path, caller.workspace)
        check_declared_length(request, body.limit)
    send = functools.partial(
        open_upstream,
        request,
        session,
        settings.service_url(service),
        service,
        identity_headers,
        body,
    )
    return await request.app[IDEMPOTENCY].forward(request, body, send, service)
