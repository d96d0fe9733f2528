"""The table of Casemesh's five processes and how to build each one's app."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from aiohttp import web

from casemesh.settings import PROCESS_NAMES

AppFactory = Callable[..., web.Application]


def app_factory(name: str) -> AppFactory:
    """The ``create_app`` of process ``name`` (imported only when asked for)."""
    if name not in PROCESS_NAMES:
        raise ValueError(f"unknown process {name!r}; choose one of {', '.join(PROCESS_NAMES)}")
    module = "gateway.app" if name == "gateway" else f"services.{name}.app"
    return import_module(module).create_app
