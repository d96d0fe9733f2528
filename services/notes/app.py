"""The notes service: case notes, case updates and task logs over one timeline.

One store of entries (see ``entries``) serves ProcessMaker case notes,
TheHive task logs and Trackops case updates; the timeline reads them all,
with the case's workflow transitions projected from case events.
"""

from __future__ import annotations

from aiohttp import web

from casemesh.adapters import build_bus, build_store
from casemesh.bus.port import EventBus
from casemesh.diagnostics import pong_handler
from casemesh.events import Envelope
from casemesh.runtime import Runtime
from casemesh.settings import Settings
from casemesh.store.port import DocumentStore
from casemesh.web.app import create_process_app
from casemesh.web.openapi import fragment_handler
from services.notes import (
    attachments,
    directory_ids,
    openapi,
    pm_notes,
    projection,
    thehive_logs,
    timeline,
    trackops,
)
from services.notes.casefacts import client_context
from services.notes.entries import INDEXES, Entries
from services.notes.facts_cache import FACTS_TTL, FactsCache, cache_context
from services.notes.keys import CASES, ENTRIES, FACTS

NAME = "notes"


def create_app(
    settings: Settings,
    *,
    store: DocumentStore | None = None,
    bus: EventBus | None = None,
    owns_bus: bool = True,
    facts_ttl: float = FACTS_TTL,
) -> web.Application:
    runtime = Runtime(
        NAME,
        settings,
        store=store or build_store(settings, NAME),
        bus=bus or build_bus(settings),
        owns_bus=owns_bus,
    )
    facts = FactsCache(lambda app_uid: app[CASES].by_uid(app_uid), ttl=facts_ttl)

    async def on_case_event(envelope: Envelope) -> None:
        facts.invalidate(envelope.data.get("app_uid"))  # the case changed: ask again
        await projection.apply_case_event(
            runtime.store, envelope, lambda write: runtime.handled_with(envelope, write)
        )

    runtime.handlers = {"system.ping": pong_handler(runtime), "case.#": on_case_event}
    runtime.indexes = {**runtime.indexes, **INDEXES, **projection.INDEXES, **directory_ids.INDEXES}
    app = create_process_app(NAME, settings, runtime=runtime)
    app[ENTRIES] = Entries(runtime.store)
    app[FACTS] = facts
    app.cleanup_ctx.append(client_context(settings, CASES))
    app.cleanup_ctx.append(cache_context(facts))  # stops its refreshes before the client closes
    app.cleanup_ctx.append(attachments.client_context(settings))
    pm_notes.add_routes(app)
    thehive_logs.add_routes(app)
    trackops.add_routes(app)
    timeline.add_routes(app)
    app.router.add_get("/openapi.json", fragment_handler(NAME, openapi.operations))
    return app
