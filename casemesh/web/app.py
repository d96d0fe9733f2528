"""The skeleton every process shares: middlewares, health, readiness, metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from casemesh.runtime import Runtime
from casemesh.settings import Settings
from casemesh.web.dialects import error_for_path
from casemesh.web.errors import ApiError, ErrorFormatter
from casemesh.web.keys import ERROR_FORMATTER, METRICS, RUNTIME, SETTINGS
from casemesh.web.metrics import Metrics
from casemesh.web.middleware import json_errors, request_context, stamp_request_id

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
MAX_JSON_BODY = 1024 * 1024


def create_process_app(
    name: str,
    settings: Settings,
    *,
    runtime: Runtime | None = None,
    error_formatter: ErrorFormatter | None = None,
    client_max_size: int = MAX_JSON_BODY,
) -> web.Application:
    """An application with the shared middlewares and /healthz, /readyz, /metrics."""
    middlewares = [request_context, json_errors]
    if runtime is not None:
        middlewares.append(_readiness_gate)
    app = web.Application(middlewares=middlewares, client_max_size=client_max_size)
    app[SETTINGS] = settings
    app.on_response_prepare.append(stamp_request_id)
    metrics = Metrics(name)
    app[METRICS] = metrics
    app[ERROR_FORMATTER] = error_formatter or error_for_path
    app.router.add_get("/healthz", _healthz(name))
    app.router.add_get("/metrics", metrics.handle)
    if runtime is not None:
        app[RUNTIME] = runtime
        metrics.watch_bus(lambda: runtime.bus.stats)
        app.router.add_get("/readyz", _readyz)
        app.cleanup_ctx.append(_runtime_lifecycle)
    return app


def _healthz(name: str):
    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "process": name})

    return healthz


async def _readyz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    ok, checks = await runtime.readiness()
    body = {"status": "ready" if ok else "not ready", "process": runtime.name, "checks": checks}
    return web.json_response(body, status=200 if ok else 503)


READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@web.middleware
async def _readiness_gate(request: web.Request, handler):
    """Answer 503 on business routes until the service has connected everything;
    hold a write while the outbox relay is far behind (``OutboxRelay.room``)."""
    runtime = request.app[RUNTIME]
    if not runtime.ready and request.path not in OPEN_PATHS:
        raise ApiError(
            503,
            f"the {runtime.name} service is not ready: {runtime.not_ready_reason}",
            headers={"Retry-After": "2"},
        )
    if runtime.relay is not None and request.method not in READ_METHODS:
        await runtime.relay.room()
    return await handler(request)


async def _runtime_lifecycle(app: web.Application) -> AsyncIterator[None]:
    runtime = app[RUNTIME]
    runtime.start()
    yield
    await runtime.stop()
