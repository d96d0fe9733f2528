"""The table of Casemesh's five processes and how to build each one's app."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from aiohttp import web

from casemesh.settings import PROCESS_NAMES, Settings

AppFactory = Callable[..., web.Application]


def app_factory(name: str) -> AppFactory:
    """The ``create_app`` of process ``name`` (imported only when asked for)."""
    if name not in PROCESS_NAMES:
        raise ValueError(f"unknown process {name!r}; choose one of {', '.join(PROCESS_NAMES)}")
    module = "gateway.app" if name == "gateway" else f"services.{name}.app"
    return import_module(module).create_app


# aiohttp's parser limits are at least this many times the configured sizes
# (and never below aiohttp's defaults): between the two the gateway answers
# 414/431 in the dialect's shape (gateway/limits.py); beyond, the parser
# refuses what is too big to read at all (a plain 400). Services get the same,
# so what the gateway lets through (plus its identity headers) always parses.
PARSER_HEADROOM = 2
AIOHTTP_LINE, AIOHTTP_FIELD, AIOHTTP_HEADERS = 8190, 8190, 128


def server_options(name: str, settings: Settings) -> dict[str, float | int]:
    """Keyword arguments for process ``name``'s ``web.AppRunner``: parser limits, head timeout.

    aiohttp's keep-alive timer also runs from a connection's start, so the
    gateway's ``client_header_timeout`` closes a connection that has not sent
    a whole request head in time (slow-header clients) as well as idle ones.
    Services keep aiohttp's long default: only the gateway's pools talk to
    them, and those keep idle connections open for 15 s.
    """
    options: dict[str, float | int] = {
        "max_line_size": max(AIOHTTP_LINE, PARSER_HEADROOM * settings.max_url_size + 64),
        "max_field_size": max(AIOHTTP_FIELD, PARSER_HEADROOM * settings.max_header_size),
        "max_headers": max(AIOHTTP_HEADERS, PARSER_HEADROOM * settings.max_headers),
    }
    if name == "gateway":
        options["keepalive_timeout"] = settings.client_header_timeout
    return options
