"""The cases service: workspaces, process definitions, cases and their workflow."""

from __future__ import annotations

from aiohttp import web

from casemesh.adapters import build_bus, build_store
from casemesh.bus.port import EventBus
from casemesh.runtime import Runtime
from casemesh.settings import Settings
from casemesh.store.port import DocumentStore
from casemesh.web.app import create_process_app
from casemesh.web.openapi import fragment_handler
from services.cases import openapi, pings
from services.cases.cases import internal as case_internal
from services.cases.cases import routes as case_routes
from services.cases.cases.indexes import INDEXES as CASE_INDEXES
from services.cases.cases.sources import StoredDefinitions, StoredPeople
from services.cases.cases.timers import timer_loop
from services.cases.cases.workflow import Workflow
from services.cases.definitions import loader as definitions_loader
from services.cases.definitions import routes as definitions_routes
from services.cases.definitions.store import INDEXES as DEFINITIONS_INDEXES
from services.cases.directory import routes as directory_routes

NAME = "cases"


def create_app(
    settings: Settings,
    *,
    store: DocumentStore | None = None,
    bus: EventBus | None = None,
    owns_bus: bool = True,
) -> web.Application:
    runtime = Runtime(
        NAME,
        settings,
        store=store or build_store(settings, NAME),
        bus=bus or build_bus(settings),
        owns_bus=owns_bus,
    )
    runtime.handlers = {"system.pong": lambda envelope: pings.record_pong(runtime, envelope)}
    runtime.indexes = {**runtime.indexes, **DEFINITIONS_INDEXES, **CASE_INDEXES}
    workflow = Workflow(runtime, StoredDefinitions(runtime.store), StoredPeople(runtime.store))
    runtime.background = (*runtime.background, timer_loop(workflow, settings.timer_interval))
    runtime.startup = (*runtime.startup, definitions_loader.startup_hook(runtime))
    app = create_process_app(NAME, settings, runtime=runtime)
    app.router.add_get("/openapi.json", fragment_handler(NAME, openapi.operations))
    app.router.add_post("/casemesh/v1/pings", pings.post_ping)
    app.router.add_get("/casemesh/v1/pings/{ping_id}", pings.get_ping)
    definitions_routes.add_routes(app)
    directory_routes.install(app, runtime)
    case_routes.add_routes(app, workflow)
    case_internal.add_routes(app)
    return app
