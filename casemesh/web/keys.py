"""Typed keys for what a process keeps in its aiohttp application."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from casemesh.runtime import Runtime
    from casemesh.settings import Settings
    from casemesh.web.errors import ErrorFormatter
    from casemesh.web.metrics import Metrics

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
ERROR_FORMATTER: web.AppKey[ErrorFormatter] = web.AppKey("error_formatter")
RUNTIME: web.AppKey[Runtime] = web.AppKey("runtime")
