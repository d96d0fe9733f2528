"""The notifications service: e-mail for the events people care about.

Wiring only: the runtime consumes the events in ``planning.PLANNERS``; the
``Notifier`` records one delivery per (event, recipient); the ``Sender``
loop sends them; ``routes`` serves preferences, templates and deliveries.
"""

from __future__ import annotations

from aiohttp import web

from casemesh.adapters import build_bus, build_mailer, build_store
from casemesh.bus.port import EventBus
from casemesh.diagnostics import pong_handler
from casemesh.mail.port import Mailer
from casemesh.runtime import Runtime
from casemesh.settings import Settings
from casemesh.store.port import DocumentStore
from casemesh.web.app import create_process_app
from casemesh.web.keys import METRICS
from casemesh.web.openapi import fragment_handler
from services.notifications import openapi, routes
from services.notifications.consumers import Notifier
from services.notifications.deliveries import INDEXES, Deliveries
from services.notifications.metrics import DeliveryCollector, DeliveryStats
from services.notifications.people import People
from services.notifications.planning import PLANNERS
from services.notifications.preferences import Preferences
from services.notifications.sender import Sender
from services.notifications.templates import TemplateBook

NAME = "notifications"
SENDER: web.AppKey[Sender] = web.AppKey("notifications_sender", Sender)


def create_app(
    settings: Settings,
    *,
    store: DocumentStore | None = None,
    bus: EventBus | None = None,
    mailer: Mailer | None = None,
    owns_bus: bool = True,
) -> web.Application:
    runtime = Runtime(
        NAME,
        settings,
        store=store or build_store(settings, NAME),
        bus=bus or build_bus(settings),
        mailer=mailer or build_mailer(settings),
        owns_bus=owns_bus,
    )
    assert runtime.mailer is not None
    stats = DeliveryStats()
    deliveries = Deliveries(runtime.store)
    preferences = Preferences(runtime.store)
    templates = TemplateBook(runtime.store)
    sender = Sender(deliveries, runtime.mailer, settings, stats)
    notifier = Notifier(
        settings=settings,
        deliveries=deliveries,
        people=People(runtime.store),
        preferences=preferences,
        templates=templates,
        sender=sender,
        stats=stats,
    )
    runtime.handlers = {
        "system.ping": pong_handler(runtime),
        **{event_type: notifier.handle for event_type in PLANNERS},
    }
    runtime.indexes = {**runtime.indexes, **INDEXES}
    runtime.background = (*runtime.background, sender.run)
    app = create_process_app(NAME, settings, runtime=runtime)
    app[METRICS].registry.register(DeliveryCollector(NAME, stats))
    app[SENDER] = sender
    routes.add_routes(app, routes.Api(deliveries, preferences, templates))
    app.router.add_get("/openapi.json", fragment_handler(NAME, openapi.operations))
    return app
