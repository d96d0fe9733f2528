"""Events in, delivery records out: the edge between the bus and the ledger.

The handler only plans, renders and records; sending is the sender's job, so
the event is acked as soon as its deliveries are safely written. A handler
that raises (an event that does not match its contract) is retried by the
bus and then dead-lettered.
"""

from __future__ import annotations

from collections.abc import Callable
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
        # One read each for the whole event: preferences, the templates in
        # force. Records already written (a redelivered event) are not looked
        # for first: the ledger writes a record only if its id is new, and
        # such redeliveries are too rare to be worth a read on every event.
        off = await self.preferences.not_wanting(
            workspace, [r.usr_uid for r in plan.recipients], plan.kind
        )
        todo = [r for r in plan.recipients if r.usr_uid not in off]
        self.stats.suppressed += len(plan.recipients) - len(todo)
        ids = {r.usr_uid: delivery_id(envelope.id, r.usr_uid) for r in todo}
        docs = []
        if todo:
            render = await self.templates.renderer(workspace, plan.kind)
            context = {
                **plan.context,
                "workspace": workspace,
                "kind": plan.kind,
                "case": {**plan.context.get("case", {}), "url": self.case_url(workspace, plan)},
            }
            for person in await self.people.complete_all(workspace, todo):
                doc_id = ids[person.usr_uid]
                docs.append(self._record(envelope, plan, person, doc_id, render, context))
        # Group-committed with other events' records and the sender's writes.
        recorded = await self.sender.ledger.record(docs)
        self.stats.recorded += recorded
        self.stats.duplicates += len(docs) - recorded
        self.sender.wake()

    def _record(
        self,
        envelope: Envelope,
        plan: planning.Plan,
        person: Person,
        doc_id: str,
        render: Callable[[dict[str, Any]], dict[str, str]],
        context: dict[str, Any],
    ) -> Document:
        """The new record for ``person``: the message rendered for them."""
        recipient = {"name": person.name, "username": person.username, "email": person.email}
        rendered = render({**context, "recipient": recipient})
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
