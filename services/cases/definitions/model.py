"""The process definition format (JSON or YAML), validated by pydantic.

A process is tasks joined by routes. Routing happens *from* a task: its
``routes`` say how (``type``) and to which tasks (``to``, each with an
optional ProcessMaker condition). ``END`` as a target completes the thread.
Joins (SEC-JOIN, DISCRIMINATOR) are declared on the routes *into* the join
task, as ProcessMaker does. See docs/process-definitions.md.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

END = "END"
UID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
Uid = Annotated[str, StringConstraints(pattern=UID_PATTERN)]
Title = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Text = Annotated[str, StringConstraints(max_length=5000)]
# A ProcessMaker variable reference in a definition, e.g. "@@approver".
VariableRef = Annotated[str, StringConstraints(pattern=r"^@[@#%=&?$]?[A-Za-z_][A-Za-z0-9_]{0,63}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskType(StrEnum):
    NORMAL = "NORMAL"
    ADHOC = "ADHOC"
    SUBPROCESS = "SUBPROCESS"


class AssignmentRule(StrEnum):
    BALANCED = "BALANCED"  # cyclical over the pool, remembered across cases
    MANUAL = "MANUAL"  # the router names the next user, who must be in the pool
    EVALUATE = "EVALUATE"  # the user uid in a case variable
    REPORT_TO = "REPORT_TO"  # the previous user's manager
    SELF_SERVICE = "SELF_SERVICE"  # unassigned until a pool member claims it
    SELF_SERVICE_EVALUATE = "SELF_SERVICE_EVALUATE"  # pool from a case variable


class RouteType(StrEnum):
    SEQUENTIAL = "SEQUENTIAL"
    SELECT = "SELECT"
    EVALUATE = "EVALUATE"
    PARALLEL = "PARALLEL"
    PARALLEL_BY_EVALUATION = "PARALLEL-BY-EVALUATION"
    SEC_JOIN = "SEC-JOIN"
    DISCRIMINATOR = "DISCRIMINATOR"


class DurationUnit(StrEnum):
    MINUTES = "MINUTES"
    HOURS = "HOURS"
    DAYS = "DAYS"


class Duration(_Strict):
    value: float = Field(gt=0, le=100_000)
    unit: DurationUnit = DurationUnit.DAYS
    calendar: Uid | None = None  # working-hours calendar; None counts calendar time


class Calendar(_Strict):
    uid: Uid
    title: Title = "Working hours"
    working_days: tuple[int, ...] = (1, 2, 3, 4, 5)  # ISO weekdays, Monday = 1
    start: Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")] = "09:00"
    end: Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")] = "17:00"
    holidays: tuple[date, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Calendar:
        if not self.working_days or any(d < 1 or d > 7 for d in self.working_days):
            raise ValueError("working_days must be ISO weekdays 1..7")
        if self.start >= self.end:
            raise ValueError("a working day must start before it ends")
        return self


class Assignment(_Strict):
    rule: AssignmentRule = AssignmentRule.BALANCED
    variable: VariableRef | None = None  # for EVALUATE / SELF_SERVICE_EVALUATE

    @model_validator(mode="after")
    def _check(self) -> Assignment:
        needs = {AssignmentRule.EVALUATE, AssignmentRule.SELF_SERVICE_EVALUATE}
        if (self.rule in needs) != (self.variable is not None):
            verb = "needs" if self.rule in needs else "takes no"
            raise ValueError(f"assignment rule {self.rule} {verb} variable")
        return self


class RouteTarget(_Strict):
    task: Uid  # a task uid or END
    condition: Annotated[str, StringConstraints(max_length=2000)] = ""


class Routes(_Strict):
    type: RouteType = RouteType.SEQUENTIAL
    to: tuple[RouteTarget, ...] = Field(min_length=1, max_length=50)


class TaskTriggers(_Strict):
    before: tuple[Uid, ...] = ()  # run when the task is assigned (before work starts)
    after: tuple[Uid, ...] = ()  # run when the task is routed (before conditions)


class Task(_Strict):
    uid: Uid
    title: Title
    description: Text = ""
    type: TaskType = TaskType.NORMAL
    assignment: Assignment = Assignment()
    users: tuple[Uid, ...] = ()
    groups: tuple[Uid, ...] = ()
    adhoc_users: tuple[Uid, ...] = ()
    adhoc_groups: tuple[Uid, ...] = ()
    duration: Duration | None = None
    triggers: TaskTriggers = TaskTriggers()
    routes: Routes | None = None  # None: routing from this task ends the thread
    subprocess: Uid | None = None  # for SUBPROCESS: the process uid to start


class Trigger(_Strict):
    uid: Uid
    title: Title
    script: Annotated[str, StringConstraints(max_length=20_000)]


class InputDocument(_Strict):
    uid: Uid
    title: Title
    description: Text = ""
    versioning: bool = True
    max_file_size: int | None = Field(None, gt=0)  # bytes; None: the workspace limit


class OutputFormat(StrEnum):
    PDF = "PDF"
    DOC = "DOC"
    BOTH = "BOTH"


class OutputDocument(_Strict):
    uid: Uid
    title: Title
    filename: Annotated[str, StringConstraints(min_length=1, max_length=200)] = "document"
    template: Annotated[str, StringConstraints(max_length=200_000)]
    generate: OutputFormat = OutputFormat.PDF
    versioning: bool = True


class PermissionObject(StrEnum):
    ANY = "ANY"
    CASES_NOTES = "CASES_NOTES"
    INPUT_DOCUMENTS = "INPUT_DOCUMENTS"
    OUTPUT_DOCUMENTS = "OUTPUT_DOCUMENTS"
    ATTACHMENTS = "ATTACHMENTS"
    CASE_DATA = "CASE_DATA"


class PermissionAction(StrEnum):
    VIEW = "VIEW"
    EDIT = "EDIT"
    DELETE = "DELETE"


class ProcessPermission(_Strict):
    """Who (users/groups) may do ``action`` on ``object`` of this process's cases."""

    object: PermissionObject
    action: PermissionAction = PermissionAction.VIEW
    users: tuple[Uid, ...] = ()
    groups: tuple[Uid, ...] = ()


class Category(_Strict):
    uid: Uid
    name: Title


class ProcessDefinition(_Strict):
    uid: Uid
    title: Title
    description: Text = ""
    category: Category | None = None
    start_tasks: tuple[Uid, ...] = Field(min_length=1)
    tasks: tuple[Task, ...] = Field(min_length=1, max_length=500)
    triggers: tuple[Trigger, ...] = ()
    calendars: tuple[Calendar, ...] = ()
    input_documents: tuple[InputDocument, ...] = ()
    output_documents: tuple[OutputDocument, ...] = ()
    supervisors: tuple[Uid, ...] = ()
    supervisor_groups: tuple[Uid, ...] = ()
    permissions: tuple[ProcessPermission, ...] = ()

    @model_validator(mode="after")
    def _references_exist(self) -> ProcessDefinition:
        tasks = {t.uid for t in self.tasks}
        _unique("task", [t.uid for t in self.tasks])
        _unique("trigger", [t.uid for t in self.triggers])
        _unique("calendar", [c.uid for c in self.calendars])
        _unique("input document", [d.uid for d in self.input_documents])
        _unique("output document", [d.uid for d in self.output_documents])
        if END in tasks:
            raise ValueError(f"{END!r} is reserved for the end of the process")
        for uid in self.start_tasks:
            if uid not in tasks:
                raise ValueError(f"start task {uid!r} is not a task of this process")
        triggers = {t.uid for t in self.triggers}
        calendars = {c.uid for c in self.calendars}
        for task in self.tasks:
            for target in task.routes.to if task.routes else ():
                if target.task != END and target.task not in tasks:
                    raise ValueError(f"task {task.uid!r} routes to unknown task {target.task!r}")
            for uid in (*task.triggers.before, *task.triggers.after):
                if uid not in triggers:
                    raise ValueError(f"task {task.uid!r} uses unknown trigger {uid!r}")
            if task.duration and task.duration.calendar and task.duration.calendar not in calendars:
                raise ValueError(
                    f"task {task.uid!r} uses unknown calendar {task.duration.calendar!r}"
                )
            if task.type == TaskType.SUBPROCESS and not task.subprocess:
                raise ValueError(f"SUBPROCESS task {task.uid!r} needs a subprocess uid")
        return self

    def task(self, uid: str) -> Task:
        for task in self.tasks:
            if task.uid == uid:
                return task
        raise KeyError(uid)

    def trigger(self, uid: str) -> Trigger:
        for trigger in self.triggers:
            if trigger.uid == uid:
                return trigger
        raise KeyError(uid)


def _unique(kind: str, uids: list[str]) -> None:
    seen: set[str] = set()
    for uid in uids:
        if uid in seen:
            raise ValueError(f"{kind} uid {uid!r} is used twice")
        seen.add(uid)


def is_variable_name(name: str) -> bool:
    return re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", name) is not None
