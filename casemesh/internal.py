"""Calls between Casemesh processes: the shared-secret header on internal endpoints.

Internal endpoints (``/internal/…``) are never routed by the gateway; a
caller proves it is part of the installation with ``X-Casemesh-Internal``
set to ``CASEMESH_INTERNAL_SECRET``.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from casemesh.settings import Settings
from casemesh.web.errors import ApiError
from casemesh.web.keys import SETTINGS

INTERNAL_HEADER = "X-Casemesh-Internal"


def internal_headers(settings: Settings) -> dict[str, str]:
    return {INTERNAL_HEADER: settings.internal_secret.get_secret_value()}


def require_internal(request: web.Request) -> None:
    """401 unless the caller holds the installation's internal secret."""
    secret = request.app[SETTINGS].internal_secret.get_secret_value()
    given = request.headers.get(INTERNAL_HEADER, "")
    if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
        raise ApiError(401, "Unauthorized")
