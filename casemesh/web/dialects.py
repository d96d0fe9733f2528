"""Each API family's error shape, chosen by the request path.

The gateway and the services share this table, so an error reads the same
whether the gateway or the owning service raised it.
"""

from __future__ import annotations

import re

from aiohttp import web

from casemesh.web.errors import default_error, plain_json_error, reason

THEHIVE_TYPES = {
    400: "BadRequest",
    401: "AuthenticationError",
    403: "AuthorizationError",
    404: "NotFoundError",
}


def thehive_error(request: web.Request, status: int, message: str) -> web.Response:
    kind = THEHIVE_TYPES.get(status, reason(status).replace(" ", ""))
    return web.json_response({"type": kind, "message": message}, status=status)


def kibana_error(request: web.Request, status: int, message: str) -> web.Response:
    body = {"statusCode": status, "error": reason(status), "message": message}
    return web.json_response(body, status=status)


def casemesh_error(request: web.Request, status: int, message: str) -> web.Response:
    return plain_json_error(status, message)


_DIALECTS = (
    (re.compile(r"^/api/1\.0/|^/[^/]+/oauth2/"), default_error),
    (re.compile(r"^/api/case/task/|^/api/datastore"), thehive_error),
    (re.compile(r"^(/s/[^/]+)?/api/cases/"), kibana_error),
)


def error_for_path(request: web.Request, status: int, message: str) -> web.Response:
    for pattern, formatter in _DIALECTS:
        if pattern.match(request.path):
            return formatter(request, status, message)
    return casemesh_error(request, status, message)
