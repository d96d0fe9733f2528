"""Events the cases service publishes: one per case transition.

Each carries what a subscriber needs without calling back: the workspace
(in the envelope), the case's uid, number, title and process, the task and
delegation involved, the previous and new assignee with their e-mail, and
everyone who has taken part in the case.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from casemesh.events.catalogue import EventData, event


class Person(BaseModel):
    """A user as events describe them."""

    model_config = ConfigDict(extra="allow")

    usr_uid: str
    username: str = ""
    name: str = ""
    email: str = ""


class TaskRef(BaseModel):
    model_config = ConfigDict(extra="allow")

    tas_uid: str
    tas_title: str = ""
    del_index: int
    delegation_id: str
    due_date: str | None = None


class CaseEvent(EventData):
    """Fields every case event has."""

    app_uid: str
    app_number: int
    app_title: str
    app_status: str
    pro_uid: str
    pro_title: str
    participants: list[Person] = []
    supervisors: list[Person] = []


@event("case.created")
class CaseCreated(CaseEvent):
    created_by: Person
    tasks: list[TaskRef] = []


@event("case.routed")
class CaseRouted(CaseEvent):
    routed_by: Person | None = None
    from_tasks: list[TaskRef] = []
    to_tasks: list[TaskRef] = []
    completed: bool = False


@event("case.task.assigned")
class TaskAssigned(CaseEvent):
    """A task got an assignee: on creation of the delegation, a reassignment or a claim."""

    how: str  # "assigned" | "reassigned" | "claimed"
    task: TaskRef
    previous_assignee: Person | None = None
    assignee: Person
    by: Person | None = None


@event("case.task.unassigned")
class TaskWaitingForClaim(CaseEvent):
    """A self-service task waits for one of its pool to claim it."""

    task: TaskRef
    pool: list[Person] = []


@event("case.task.overdue")
class TaskOverdue(CaseEvent):
    task: TaskRef
    assignee: Person | None = None


@event("case.paused")
class CasePaused(CaseEvent):
    by: Person | None = None
    unpause_at: str | None = None


@event("case.unpaused")
class CaseUnpaused(CaseEvent):
    by: Person | None = None  # None: the pause timer ran out


@event("case.cancelled")
class CaseCancelled(CaseEvent):
    by: Person


@event("case.completed")
class CaseCompleted(CaseEvent):
    by: Person | None = None


@event("case.deleted")
class CaseDeleted(CaseEvent):
    by: Person


@event("case.variables.changed")
class CaseVariablesChanged(CaseEvent):
    by: Person | None = None
    changed: list[str] = []
    removed: list[str] = []
