"""Giving a new delegation its assignee: the task's pool, its rule, triggers and due date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from casemesh.web.errors import ApiError
from services.cases.cases.ports import People
from services.cases.definitions.model import ProcessDefinition, Task
from services.cases.engine import assignment, duedates
from services.cases.engine.errors import AssignmentError


@dataclass(frozen=True)
class Placement:
    user: str  # "" while a self-service task waits for a claim
    pool: tuple[str, ...]
    due_date: datetime | None
    cursor: int | None  # the BALANCED cursor to remember for this task


async def task_pool(people: People, workspace: str, task: Task, *, adhoc: bool = False) -> set[str]:
    """Everyone the task can be assigned to (its users and its groups' members)."""
    pool = set(task.users) | await people.group_members(workspace, task.groups)
    if adhoc:
        pool |= set(task.adhoc_users) | await people.group_members(workspace, task.adhoc_groups)
    return pool


async def place(
    people: People,
    workspace: str,
    definition: ProcessDefinition,
    task: Task,
    *,
    variables: dict[str, Any],
    previous_user: str | None,
    chosen_user: str | None,
    cursor: int | None,
    now: datetime,
) -> Placement:
    pool = sorted(await task_pool(people, workspace, task))
    previous = await people.users(workspace, [previous_user]) if previous_user else {}
    managers = {uid: user.get("usr_reports_to") or None for uid, user in previous.items()}
    candidates = {v for v in _mentioned_users(task, variables)}
    valid = set(await people.users(workspace, candidates | set(pool)))
    try:
        result = assignment.assign(
            task,
            pool=pool,
            variables=variables,
            previous_user=previous_user,
            managers=managers,
            balanced_cursor=cursor,
            chosen_user=chosen_user,
            valid_users=valid,
        )
    except AssignmentError as exc:
        raise ApiError(400, str(exc)) from exc
    return Placement(
        user=result.user or "",
        pool=tuple(result.pool) if not result.user else (),
        due_date=due_for(definition, task, now),
        cursor=result.next_balanced_cursor,
    )


def due_for(definition: ProcessDefinition, task: Task, now: datetime) -> datetime | None:
    """When the task is due: its duration from now, in working time if it has a calendar."""
    calendar = None
    if task.duration and task.duration.calendar:
        calendar = next(c for c in definition.calendars if c.uid == task.duration.calendar)
    return duedates.due_date(now, task.duration, calendar)


def _mentioned_users(task: Task, variables: dict[str, Any]) -> set[str]:
    """User uids a value-based rule may pick, so their existence can be checked."""
    if not task.assignment.variable:
        return set()
    value = variables.get(task.assignment.variable.lstrip("@#%=&?$"), "")
    if isinstance(value, str):
        return {v.strip() for v in value.split(",") if v.strip()}
    if isinstance(value, (list, tuple)):
        return {str(v) for v in value}
    return set()
