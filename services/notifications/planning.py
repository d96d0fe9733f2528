"""Event -> what to send to whom: pure functions, no I/O.

Each planner reads one event's data (validated against its contract; an
invalid payload raises and the bus dead-letters the event) and answers a
``Plan``: the kind, the recipients and the facts the templates show, or
``None`` when the event asks for no mail (a note without ``send_mail``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from casemesh.events import Envelope
from casemesh.events.cases import (
    CaseCancelled,
    CaseCompleted,
    CaseEvent,
    Person,
    TaskAssigned,
    TaskOverdue,
    TaskRef,
    TaskWaitingForClaim,
)
from casemesh.events.notes import EntryEvent, NoteCreated, UpdateCreated
from services.notifications import kinds

UPDATE_CREATED = "update.created"


@dataclass(frozen=True)
class Plan:
    kind: str
    app_uid: str
    app_number: int
    recipients: list[Person]
    context: dict[str, Any] = field(default_factory=dict)


Planner = Callable[[Envelope], Plan | None]


def unique(
    people: Iterable[Person | None], *, without: Iterable[Person | None] = ()
) -> list[Person]:
    """People once each (by usr_uid, first seen wins), minus ``without``."""
    skip = {p.usr_uid for p in without if p is not None}
    out: dict[str, Person] = {}
    for person in people:
        if person is not None and person.usr_uid not in skip and person.usr_uid not in out:
            out[person.usr_uid] = person
    return list(out.values())


def _who(person: Person | None) -> dict[str, str]:
    if person is None:
        return {"name": "", "username": ""}
    return {"name": person.name or person.username, "username": person.username}


def _case(data: CaseEvent) -> dict[str, Any]:
    return {
        "uid": data.app_uid,
        "number": data.app_number,
        "title": data.app_title,
        "process": data.pro_title,
        "status": data.app_status,
    }


def _entry_case(data: EntryEvent) -> dict[str, Any]:
    return {
        "uid": data.app_uid,
        "number": data.app_number,
        "title": data.app_title,
        "process": "",
        "status": "",
    }


def _task(task: TaskRef, how: str = "") -> dict[str, Any]:
    return {
        "title": task.tas_title,
        "del_index": task.del_index,
        "due_date": task.due_date or "",
        "how": how,
    }


def plan_note(envelope: Envelope) -> Plan | None:
    data = NoteCreated.model_validate(envelope.data)
    if not data.send_mail:
        return None
    return Plan(
        kinds.NOTE_CREATED,
        data.app_uid,
        data.app_number,
        unique(data.participants, without=[data.author]),
        {"case": _entry_case(data), "actor": _who(data.author), "note": {"text": data.text}},
    )


def plan_assigned(envelope: Envelope) -> Plan | None:
    data = TaskAssigned.model_validate(envelope.data)
    return Plan(
        kinds.TASK_ASSIGNED,
        data.app_uid,
        data.app_number,
        [data.assignee],
        {
            "case": _case(data),
            "actor": _who(data.by),
            "task": _task(data.task, data.how),
            "previous": _who(data.previous_assignee),
        },
    )


def plan_waiting(envelope: Envelope) -> Plan | None:
    data = TaskWaitingForClaim.model_validate(envelope.data)
    return Plan(
        kinds.TASK_WAITING,
        data.app_uid,
        data.app_number,
        unique(data.pool),
        {"case": _case(data), "actor": _who(None), "task": _task(data.task)},
    )


def plan_overdue(envelope: Envelope) -> Plan | None:
    data = TaskOverdue.model_validate(envelope.data)
    return Plan(
        kinds.TASK_OVERDUE,
        data.app_uid,
        data.app_number,
        unique([data.assignee, *data.supervisors]),
        {
            "case": _case(data),
            "actor": _who(None),
            "task": _task(data.task),
            "assignee": _who(data.assignee),
        },
    )


def plan_cancelled(envelope: Envelope) -> Plan | None:
    data = CaseCancelled.model_validate(envelope.data)
    return Plan(
        kinds.CASE_CANCELLED,
        data.app_uid,
        data.app_number,
        unique(data.participants, without=[data.by]),
        {"case": _case(data), "actor": _who(data.by)},
    )


def plan_completed(envelope: Envelope) -> Plan | None:
    data = CaseCompleted.model_validate(envelope.data)
    return Plan(
        kinds.CASE_COMPLETED,
        data.app_uid,
        data.app_number,
        unique(data.participants, without=[data.by]),
        {"case": _case(data), "actor": _who(data.by)},
    )


def plan_update(envelope: Envelope) -> Plan | None:
    data = UpdateCreated.model_validate(envelope.data)
    return Plan(
        kinds.UPDATE_CREATED,
        data.app_uid,
        data.app_number,
        unique(data.recipients, without=[data.author]),
        {
            "case": _entry_case(data),
            "actor": _who(data.author),
            "update": {
                "title": data.title,
                "text": data.text or data.preview,
                "access_group": data.access_group,
            },
        },
    )


# Routing key -> planner: the events this service consumes.
PLANNERS: dict[str, Planner] = {
    "note.created": plan_note,
    "case.task.assigned": plan_assigned,
    "case.task.unassigned": plan_waiting,
    "case.task.overdue": plan_overdue,
    "case.cancelled": plan_cancelled,
    "case.completed": plan_completed,
    UPDATE_CREATED: plan_update,
}


def plan(envelope: Envelope) -> Plan | None:
    return PLANNERS[envelope.type](envelope)
