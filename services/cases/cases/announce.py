"""The events a case command publishes, built with everything a subscriber needs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from casemesh.events import Envelope
from casemesh.events.cases import (
    CaseCancelled,
    CaseCompleted,
    CaseCreated,
    CaseDeleted,
    CasePaused,
    CaseRouted,
    CaseUnpaused,
    CaseVariablesChanged,
    TaskAssigned,
    TaskOverdue,
    TaskRef,
    TaskWaitingForClaim,
)
from casemesh.identity import Identity
from services.cases.cases.people_view import people as people_of
from services.cases.cases.people_view import person
from services.cases.cases.ports import People
from services.cases.definitions.model import ProcessDefinition

if TYPE_CHECKING:
    from services.cases.cases.workflow import Workflow


def task_ref(delegation: dict) -> TaskRef:
    return TaskRef(
        tas_uid=delegation["tas_uid"],
        tas_title=delegation["tas_title"],
        del_index=delegation["del_index"],
        delegation_id=delegation["id"],
        due_date=delegation.get("due_date"),
    )


async def _context(
    flow: Workflow,
    case: dict,
    extra: list[str],
    definition: ProcessDefinition | None = None,
    people: People | None = None,
) -> tuple[dict, dict]:
    """The directory records needed, and the fields every case event has.

    ``definition``: the case's process, when the caller has it already;
    ``people``: the command's view of the directory (users it read already).
    """
    people = people or flow.people
    if definition is None:
        definition = await flow.definitions.get(case["workspace"], case["pro_uid"])
    supervisors = list(definition.supervisors) if definition else []
    if definition and definition.supervisor_groups:
        supervisors += sorted(
            await people.group_members(case["workspace"], definition.supervisor_groups)
        )
    uids = [*case.get("participants", ()), *supervisors, *extra]
    users = await people.users(case["workspace"], [u for u in uids if u])
    common = {
        "app_uid": case["app_uid"],
        "app_number": case["app_number"],
        "app_title": case["app_title"],
        "app_status": case["app_status"],
        "pro_uid": case["pro_uid"],
        "pro_title": case["pro_title"],
        "participants": people_of(case.get("participants", ()), users),
        "supervisors": people_of(supervisors, users),
    }
    return users, common


def _wrap(flow: Workflow, case: dict, data) -> Envelope:
    return flow.runtime.event(data, workspace=case["workspace"], subject=case["app_uid"])


def _assignments(flow, case, users, common, delegations, by: Identity | None) -> list[Envelope]:
    events = []
    for d in delegations:
        if d["usr_uid"]:
            events.append(
                _wrap(
                    flow,
                    case,
                    TaskAssigned(
                        **common,
                        how="assigned",
                        task=task_ref(d),
                        assignee=person(d["usr_uid"], users),
                        previous_assignee=person(d["previous_usr_uid"], users)
                        if d["previous_usr_uid"]
                        else None,
                        by=person(by.user_uid, users) if by else None,
                    ),
                )
            )
        else:
            events.append(
                _wrap(
                    flow,
                    case,
                    TaskWaitingForClaim(
                        **common, task=task_ref(d), pool=people_of(d.get("pool", ()), users)
                    ),
                )
            )
    return events


async def case_created(
    flow: Workflow,
    who: Identity,
    case: dict,
    delegations: list[dict],
    definition: ProcessDefinition | None = None,
    *,
    people: People | None = None,
) -> list[Envelope]:
    pool = [u for d in delegations for u in d.get("pool", ())]
    users, common = await _context(flow, case, [who.user_uid, *pool], definition, people)
    created = CaseCreated(
        **common, created_by=person(who.user_uid, users), tasks=[task_ref(d) for d in delegations]
    )
    return [_wrap(flow, case, created), *_assignments(flow, case, users, common, delegations, who)]


async def case_routed(
    flow,
    who: Identity,
    case,
    finished,
    created,
    completed: bool,
    definition: ProcessDefinition | None = None,
    *,
    people: People | None = None,
) -> list[Envelope]:
    pool = [u for d in created for u in d.get("pool", ())]
    users, common = await _context(flow, case, [who.user_uid, *pool], definition, people)
    events = [
        _wrap(
            flow,
            case,
            CaseRouted(
                **common,
                routed_by=person(who.user_uid, users),
                from_tasks=[task_ref(d) for d in finished],
                to_tasks=[task_ref(d) for d in created],
                completed=completed,
            ),
        )
    ]
    events += _assignments(flow, case, users, common, created, who)
    if completed:
        events.append(_wrap(flow, case, CaseCompleted(**common, by=person(who.user_uid, users))))
    return events


async def reassigned(
    flow, who: Identity, case, delegation, previous: str, how: str
) -> list[Envelope]:
    users, common = await _context(flow, case, [who.user_uid, previous, delegation["usr_uid"]])
    return [
        _wrap(
            flow,
            case,
            TaskAssigned(
                **common,
                how=how,
                task=task_ref(delegation),
                assignee=person(delegation["usr_uid"], users),
                previous_assignee=person(previous, users) if previous else None,
                by=person(who.user_uid, users),
            ),
        )
    ]


async def simple(flow, who: Identity | None, case, kind: str, **extra) -> list[Envelope]:
    """Pause, unpause, cancel, delete and variable changes."""
    users, common = await _context(flow, case, [who.user_uid] if who else [])
    by = person(who.user_uid, users) if who else None
    models = {
        "paused": CasePaused,
        "unpaused": CaseUnpaused,
        "cancelled": CaseCancelled,
        "deleted": CaseDeleted,
        "variables": CaseVariablesChanged,
    }
    return [_wrap(flow, case, models[kind](**common, by=by, **extra))]


async def overdue(flow, case, delegation) -> list[Envelope]:
    users, common = await _context(flow, case, [delegation["usr_uid"]])
    assignee = person(delegation["usr_uid"], users) if delegation["usr_uid"] else None
    return [_wrap(flow, case, TaskOverdue(**common, task=task_ref(delegation), assignee=assignee))]
