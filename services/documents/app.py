"""The documents service: document metadata and versions, blobs in object storage.

Serves ProcessMaker input and output documents, TheHive task-log attachments
(stored for the notes service, downloaded from the datastore) and Kibana case
files, over one content-addressed blob store (see ``blobs`` and ``records``).
"""

from __future__ import annotations

from aiohttp import web

from casemesh.adapters import build_bus, build_object_store, build_store
from casemesh.bus.port import EventBus
from casemesh.diagnostics import pong_handler
from casemesh.objects.port import ObjectStore
from casemesh.runtime import Runtime
from casemesh.settings import Settings
from casemesh.store.port import DocumentStore
from casemesh.web.app import create_process_app
from casemesh.web.openapi import fragment_handler
from services.documents import kibana, openapi, pm_input, pm_output, thehive
from services.documents.blobs import Blobs
from services.documents.facts import client_context
from services.documents.keys import CASES, DOCUMENTS
from services.documents.records import INDEXES, Documents

NAME = "documents"


def create_app(
    settings: Settings,
    *,
    store: DocumentStore | None = None,
    bus: EventBus | None = None,
    objects: ObjectStore | None = None,
    owns_bus: bool = True,
) -> web.Application:
    runtime = Runtime(
        NAME,
        settings,
        store=store or build_store(settings, NAME),
        bus=bus or build_bus(settings),
        objects=objects or build_object_store(settings),
        owns_bus=owns_bus,
    )
    runtime.handlers = {"system.ping": pong_handler(runtime)}
    runtime.indexes = {**runtime.indexes, **INDEXES}
    # Uploads are streamed part by part and never read whole, so the body-size
    # cap is the per-workspace upload limit enforced while streaming, not this.
    app = create_process_app(NAME, settings, runtime=runtime, client_max_size=1024**4)
    assert runtime.objects is not None
    app[DOCUMENTS] = Documents(runtime.store, Blobs(runtime.objects))
    app.cleanup_ctx.append(client_context(settings, CASES))
    pm_input.add_routes(app)
    pm_output.add_routes(app)
    thehive.add_routes(app)
    kibana.add_routes(app)
    app.router.add_get("/openapi.json", fragment_handler(NAME, openapi.operations))
    return app
