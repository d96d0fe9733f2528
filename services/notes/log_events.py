"""The events a task-log change publishes (log.created / log.updated / log.deleted)."""

from __future__ import annotations

from aiohttp import web

from casemesh.events import Envelope
from casemesh.events.cases import Person
from casemesh.events.notes import LogCreated, LogDeleted, LogUpdated, preview
from casemesh.identity import Identity
from casemesh.web.keys import RUNTIME
from services.notes.casefacts import CaseFacts

_MODELS = {"created": LogCreated, "updated": LogUpdated, "deleted": LogDeleted}


def announce(
    request: web.Request,
    what: str,
    doc: dict,
    facts: CaseFacts,
    who: Identity,
    *,
    changed: list[str] | None = None,
) -> Envelope:
    author = Person(
        usr_uid=who.user_uid, username=who.username, name=who.full_name, email=who.email
    )
    extra = {"changed": changed or []} if what == "updated" else {}
    data = _MODELS[what](
        entry_id=doc["id"],
        log_id=doc["id"],
        task_id=doc["task_id"],
        tas_uid=doc.get("tas_uid", ""),
        status=doc["status"],
        app_uid=facts.app_uid,
        app_number=facts.app_number,
        app_title=facts.app_title,
        author=author,
        preview=preview(doc["text"]),
        **extra,
    )
    return request.app[RUNTIME].event(data, workspace=facts.workspace, subject=facts.app_uid)
