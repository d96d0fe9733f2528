"""Errors as JSON, never a traceback.

Each API dialect answers in its own error shape; a process picks the shape
per request with an ``ErrorFormatter``. The kernel's default is
ProcessMaker's ``{"error": {"code": N, "message": "..."}}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from http import HTTPStatus

from aiohttp import web

ErrorFormatter = Callable[[web.Request, int, str], web.Response]


class ApiError(Exception):
    """A failure the caller should see with ``status`` and ``message``."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def default_error(request: web.Request, status: int, message: str) -> web.Response:
    body = {"error": {"code": status, "message": f"{reason(status)}: {message}"}}
    return web.json_response(body, status=status)


def plain_json_error(status: int, message: str, **extra: object) -> web.Response:
    """A neutral shape for Casemesh's own endpoints: ``{"error", "message", "status"}``."""
    body = {"status": status, "error": reason(status), "message": message, **extra}
    return web.Response(text=json.dumps(body), status=status, content_type="application/json")
