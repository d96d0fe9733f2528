"""Events in, delivery records out: the edge between the bus and the ledger.

The handler only plans, renders and records; sending is the sender's job, so
the event is acked as soon as its deliveries are safely written. A handler
that raises (an event that does not match its contract) is retried by the
bus and then dead-lettered.
"""

from __future__ import annotations

from typing import Any

from casemesh.events import Envelope
from casemesh.events.cases import Person
from casemesh.settings import Settings
from casemesh.store.port import Document
from services.notifications import planning
from services.notifications.compose import mail_domain, message_id, thread_id
from services.notifications.deliveries import Deliveries, delivery_id, new_record
from services.notifications.metrics import DeliveryStats
from services.notifications.people import People
from services.notifications.preferences import Preferences
from services.notifications.sender import Sender
from services.notifications.templates import TemplateBook


class Notifier:
    def __init__(
        self,
        *,
        settings: Settings,
        deliveries: Deliveries,
        people: People,
        preferences: Preferences,
        templates: TemplateBook,
        sender: Sender,
        stats: DeliveryStats,
    ) -> None:
        self.settings = settings
        self.deliveries = deliveries
        self.people = people
        self.preferences = preferences
        self.templates = templates
        self.sender = sender
        self.stats = stats
        self.domain = mail_domain(settings.mail_from)

    async def handle(self, envelope: Envelope) -> None:
        plan = planning.plan(envelope)
        if plan is None:
            return
        workspace = envelope.workspace
        await self.people.remember(workspace, plan.recipients)
        context = {
            **plan.context,
            "workspace": workspace,
            "kind": plan.kind,
            "case": {**plan.context.get("case", {}), "url": self.case_url(workspace, plan)},
        }
        docs = []
        for recipient in plan.recipients:
            if not await self.preferences.wants(workspace, recipient.usr_uid, plan.kind):
                self.stats.suppressed += 1
                continue
            person = await self.people.complete(workspace, recipient)
            doc = await self._render(envelope, plan, person, context)
            if doc is not None:
                docs.append(doc)
        recorded = await self.deliveries.record_all(docs) if docs else 0
        self.stats.recorded += recorded
        self.stats.duplicates += len(docs) - recorded
        self.sender.wake()

    async def _render(
        self, envelope: Envelope, plan: planning.Plan, person: Person, context: dict[str, Any]
    ) -> Document | None:
        """The new record for ``person``, or None if it is already recorded."""
        doc_id = delivery_id(envelope.id, person.usr_uid)
        if await self.deliveries.get(doc_id) is not None:
            self.stats.duplicates += 1
            return None
        recipient = {"name": person.name, "username": person.username, "email": person.email}
        rendered = await self.templates.render(
            envelope.workspace, plan.kind, {**context, "recipient": recipient}
        )
        return new_record(
            id=doc_id,
            workspace=envelope.workspace,
            event_id=envelope.id,
            event_type=envelope.type,
            kind=plan.kind,
            usr_uid=person.usr_uid,
            username=person.username,
            name=person.name,
            email=person.email,
            app_uid=plan.app_uid,
            app_number=plan.app_number,
            message_id=message_id(doc_id, self.domain),
            thread_id=thread_id(envelope.workspace, plan.app_uid, self.domain),
            **rendered,
        )

    def case_url(self, workspace: str, plan: planning.Plan) -> str:
        return self.settings.notifications_case_link.format(
            public_url=self.settings.public_url.rstrip("/"),
            workspace=workspace,
            app_uid=plan.app_uid,
            app_number=plan.app_number,
        )
