"""The events of a case's life as the raw-parts "cases" process emits them.

The same types, order and envelope as the cases service's (casemesh/events/
envelope.py; data as in casemesh/events/cases.py), built with ``json`` from
the documents ``CaseLife`` writes: per three-task case, ``case.created`` and
``case.task.assigned`` at the start, then per routing ``case.routed`` and
``case.task.assigned`` (the last one: ``case.routed`` and ``case.completed``).
The bodies come within a few bytes of the platform's (measured on its
exchange: 713 to 1 149 bytes, ~7.9 KB per case). Users are not read: every
task here is the administrator's, described by ``ADMIN``.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

ADMIN = {
    "usr_uid": "00000000000000000000000000000001",
    "username": "admin",
    "name": "Administrator",
    "email": "admin@localhost",
}


class Event:
    """One event ready for the outbox: its id, type (the routing key) and JSON body."""

    __slots__ = ("body", "id", "type")

    def __init__(self, event_type: str, case: dict, correlation_id: str, data: dict) -> None:
        self.id = uuid.uuid4().hex
        self.type = event_type
        envelope = {
            "id": self.id,
            "type": event_type,
            "version": 1,
            "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "source": "cases",
            "workspace": case["workspace"],
            "subject": case["app_uid"],
            "correlation_id": correlation_id,
            "data": {**_about(case), **data},
        }
        self.body = json.dumps(envelope, separators=(",", ":")).encode()


def _about(case: dict) -> dict:
    return {
        "app_uid": case["app_uid"],
        "app_number": case["app_number"],
        "app_title": case["app_title"],
        "app_status": case["app_status"],
        "pro_uid": case["pro_uid"],
        "pro_title": case["pro_title"],
        "participants": [ADMIN for _ in case["participants"]],
        "supervisors": [],
    }


def _task(row: dict) -> dict:
    return {
        "tas_uid": row["tas_uid"],
        "tas_title": row["tas_title"],
        "del_index": row["del_index"],
        "delegation_id": row["id"],
        "due_date": row["due_date"],
    }


def _assigned(case: dict, row: dict, correlation_id: str, previous: dict | None) -> Event:
    data = {"how": "assigned", "task": _task(row), "previous_assignee": previous}
    data |= {"assignee": ADMIN, "by": ADMIN}
    return Event("case.task.assigned", case, correlation_id, data)


def started(case: dict, row: dict, correlation_id: str) -> list[Event]:
    """POST /cases: the case and its first task's assignment."""
    created = {"created_by": ADMIN, "tasks": [_task(row)]}
    return [
        Event("case.created", case, correlation_id, created),
        _assigned(case, row, correlation_id, None),
    ]


def routed(case: dict, closed: dict, opened: dict | None, correlation_id: str) -> list[Event]:
    """PUT route-case: the routing, then the next task's assignment or the completion."""
    data = {
        "routed_by": ADMIN,
        "from_tasks": [_task(closed)],
        "to_tasks": [_task(opened)] if opened else [],
        "completed": opened is None,
    }
    events = [Event("case.routed", case, correlation_id, data)]
    if opened is None:
        events.append(Event("case.completed", case, correlation_id, {"by": ADMIN}))
    else:
        events.append(_assigned(case, opened, correlation_id, ADMIN))
    return events
