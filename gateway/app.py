"""The gateway: one front door that routes every API family to its service."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from casemesh.settings import SERVICE_NAMES, Settings
from casemesh.store.port import DocumentStore
from casemesh.web.app import create_process_app
from casemesh.web.context import REQUEST_ID_HEADER, current_request_id
from casemesh.web.dialects import error_for_path
from casemesh.web.errors import ApiError
from casemesh.web.keys import SETTINGS
from gateway import event_catalogue, internal_fetch, openapi
from gateway.admission import forward_guarded, install_guards
from gateway.auth import Authenticate, default_authenticator
from gateway.limits import expect_continue
from gateway.routing import service_for

NAME = "gateway"
log = logging.getLogger("casemesh.gateway")
HTTP: web.AppKey[aiohttp.ClientSession] = web.AppKey("http", aiohttp.ClientSession)
AUTHENTICATE: web.AppKey[Authenticate] = web.AppKey("authenticate")
CHECK_TIMEOUT = 3.0


def create_app(
    settings: Settings,
    *,
    http: aiohttp.ClientSession | None = None,
    authenticate: Authenticate | None = None,
    idempotency_store: DocumentStore | None = None,
) -> web.Application:
    """The gateway; ``authenticate`` replaces asking the cases service whose a credential is."""
    app = create_process_app(NAME, settings, error_formatter=error_for_path)
    app.cleanup_ctx.append(_client_session(http))
    app[AUTHENTICATE] = authenticate or default_authenticator(settings, lambda: app[HTTP])
    install_guards(app, settings, store=idempotency_store)  # limits, rate limits, Idempotency-Key
    internal_fetch.install(app)  # downloads fetched from the object store directly
    if not settings.internal_secret.get_secret_value():
        log.error("CASEMESH_INTERNAL_SECRET is not set: every authenticated route answers 503")
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/services/{service}/{probe:healthz|readyz}", service_probe)
    openapi.add_routes(app, lambda: app[HTTP])
    event_catalogue.add_routes(app.router)
    app.router.add_route("*", "/{tail:.*}", proxy, expect_handler=expect_continue)
    return app


def _client_session(given: aiohttp.ClientSession | None):
    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        session = given or aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=512, limit_per_host=256),
            timeout=aiohttp.ClientTimeout(
                total=None,
                sock_connect=settings.upstream_connect_timeout,
                sock_read=settings.upstream_read_timeout,
            ),
            auto_decompress=False,
        )
        app[HTTP] = session
        yield
        if given is None:
            await session.close()

    return lifecycle


async def proxy(request: web.Request) -> web.StreamResponse:
    service = service_for(request.path)
    if service is None:
        raise ApiError(404, f"no route for {request.method} {request.path}")
    return await forward_guarded(request, service, request.app[HTTP], request.app[AUTHENTICATE])


async def _probe(app: web.Application, service: str, probe: str) -> tuple[int, dict]:
    url = app[SETTINGS].service_url(service).rstrip("/") + f"/{probe}"
    try:
        headers = {REQUEST_ID_HEADER: current_request_id()}
        timeout = aiohttp.ClientTimeout(total=CHECK_TIMEOUT)
        async with app[HTTP].get(url, headers=headers, timeout=timeout) as r:
            return r.status, await r.json()
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return 503, {"status": "unreachable", "process": service, "error": str(exc) or "timeout"}


async def service_probe(request: web.Request) -> web.Response:
    service = request.match_info["service"]
    if service not in SERVICE_NAMES:
        raise ApiError(404, f"no service named {service!r}")
    status, body = await _probe(request.app, service, request.match_info["probe"])
    return web.json_response(body, status=status)


async def readyz(request: web.Request) -> web.Response:
    """The gateway is ready when every service it routes to is ready."""
    results = await asyncio.gather(*(_probe(request.app, s, "readyz") for s in SERVICE_NAMES))
    services = {name: body for name, (_, body) in zip(SERVICE_NAMES, results, strict=True)}
    ok = all(status == 200 for status, _ in results)
    body = {"status": "ready" if ok else "not ready", "process": NAME, "services": services}
    return web.json_response(body, status=200 if ok else 503)
