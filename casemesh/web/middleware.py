"""Middlewares every process runs: request id, access log, metrics, JSON errors."""

from __future__ import annotations

import logging

from aiohttp import web
from pydantic import ValidationError

from casemesh.web.context import (
    REQUEST_ID_HEADER,
    accept_request_id,
    current_request_id,
    new_request_id,
    request_id_var,
)
from casemesh.web.errors import ApiError, ErrorFormatter, default_error
from casemesh.web.keys import ERROR_FORMATTER, METRICS
from casemesh.web.metrics import route_label, timer

log = logging.getLogger("casemesh.http")
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id", str)


def _formatter(request: web.Request) -> ErrorFormatter:
    return request.app.get(ERROR_FORMATTER, default_error)


def describe_validation(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ())) or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


@web.middleware
async def request_context(request: web.Request, handler):
    """Give the request an id (the caller's if valid), log and measure it."""
    request_id = accept_request_id(request.headers.get(REQUEST_ID_HEADER))
    request[REQUEST_ID] = request_id  # plain responses are prepared after we return
    token = request_id_var.set(request_id)
    elapsed = timer()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        seconds = elapsed()
        metrics = request.app.get(METRICS)
        if metrics is not None:
            metrics.observe(request.method, route_label(request), status, seconds)
        log.info(
            "%s %s %s",
            request.method,
            request.path,
            status,
            extra={
                "process_name": metrics.process if metrics is not None else "casemesh",
                "method": request.method,
                "path": request.path,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
            },
        )
        request_id_var.reset(token)


async def stamp_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every answer, streamed ones too, names its request id."""
    request_id = request.get(REQUEST_ID) or current_request_id() or new_request_id()
    response.headers[REQUEST_ID_HEADER] = request_id


def _http_error_message(request: web.Request, exc: web.HTTPException) -> str:
    if isinstance(exc, web.HTTPNotFound) and request.match_info.route.resource is None:
        return f"no route for {request.method} {request.path}"
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return f"method {request.method} is not allowed on {request.path}"
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return "the request body is too large"
    message = exc.text if exc.text and exc.content_type != "text/html" else exc.reason
    return message.split(": ", 1)[1] if message.startswith(f"{exc.status}: ") else message


@web.middleware
async def json_errors(request: web.Request, handler):
    """Turn every failure into the dialect's JSON error, never a traceback."""
    try:
        return await handler(request)
    except ApiError as exc:
        response = _formatter(request)(request, exc.status, exc.message)
        response.headers.update(exc.headers)
        return response
    except ValidationError as exc:
        return _formatter(request)(request, 400, describe_validation(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = _http_error_message(request, exc)
        response = _formatter(request)(request, exc.status, message)
        for name in ("Allow", "Retry-After", "WWW-Authenticate"):
            if name in exc.headers:
                response.headers[name] = exc.headers[name]
        return response
    except ConnectionResetError:
        # The caller went away while we read its body (e.g. the gateway cut an
        # over-limit upload): nothing failed here and nobody is left to answer.
        log.info("%s %s: the client closed the connection", request.method, request.path)
        return _formatter(request)(request, 400, "the client closed the connection")
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return _formatter(request)(request, 500, "an unexpected error occurred")
