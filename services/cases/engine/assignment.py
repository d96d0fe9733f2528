"""Who gets a task: ProcessMaker's assignment rules, as a pure function.

The caller resolves the task's users and groups into ``pool`` (user uids),
persists the BALANCED cursor per task, and passes ``valid_users`` (the uids
of every active user). Errors say what to fix in the process or the case.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from typing import Any

from services.cases.definitions.model import AssignmentRule, Task

from .errors import AssignmentError


@dataclass(frozen=True, slots=True)
class AssignmentResult:
    user: str | None  # None: self service, unassigned until claimed
    pool: tuple[str, ...]  # who may work on it (claim it, for self service)
    next_balanced_cursor: int | None  # BALANCED only: store it for the next case
    self_service: bool


def assign(
    task: Task,
    *,
    pool: Sequence[str],
    variables: Mapping[str, Any],
    previous_user: str | None,
    managers: Mapping[str, str | None],
    balanced_cursor: int | None,
    chosen_user: str | None,
    valid_users: Set[str],
) -> AssignmentResult:
    """Apply ``task.assignment.rule``; raises :class:`AssignmentError`.

    - BALANCED: cyclical over the sorted pool; ``balanced_cursor`` is where the
      cycle stands (None: the start), the result the next one.
    - MANUAL: ``chosen_user``, who must be in the pool.
    - EVALUATE: the user uid in the case variable named by the rule.
    - REPORT_TO: the manager of ``previous_user``, per ``managers`` (not checked
      against ``valid_users``: the caller's directory vouches for managers).
    - SELF_SERVICE: nobody yet; the pool may claim it.
    - SELF_SERVICE_EVALUATE: the pool is in the case variable (a uid, a list of
      uids or comma-separated uids); uids that are not valid users are dropped.
    """
    rule = task.assignment.rule
    members = tuple(sorted(set(pool)))
    if rule == AssignmentRule.BALANCED:
        _need_pool(task, members)
        position = (balanced_cursor or 0) % len(members)  # the pool may have shrunk
        return AssignmentResult(
            members[position], members, (position + 1) % len(members), self_service=False
        )
    if rule == AssignmentRule.MANUAL:
        _need_pool(task, members)
        if not chosen_user:
            raise AssignmentError(f"task '{task.title}' is assigned manually: choose the next user")
        if chosen_user not in members:
            raise AssignmentError(
                f"user '{chosen_user}' is not in the assignment pool of task '{task.title}'"
            )
        return AssignmentResult(chosen_user, members, None, self_service=False)
    if rule == AssignmentRule.EVALUATE:
        name = _variable_name(task)
        value = variables.get(name)
        if not isinstance(value, str) or not value.strip():
            raise AssignmentError(
                f"task '{task.title}' is assigned to the user in @@{name}, which holds no user"
            )
        user = value.strip()
        if user not in valid_users:
            raise AssignmentError(
                f"task '{task.title}' is assigned to @@{name} = '{user}', which is not a user"
            )
        return AssignmentResult(user, (user,), None, self_service=False)
    if rule == AssignmentRule.REPORT_TO:
        manager = managers.get(previous_user) if previous_user else None
        if not manager:
            who = f"user '{previous_user}'" if previous_user else "the previous task"
            raise AssignmentError(f"task '{task.title}' goes to the manager of {who}: none set")
        return AssignmentResult(manager, (manager,), None, self_service=False)
    if rule == AssignmentRule.SELF_SERVICE:
        _need_pool(task, members)
        return AssignmentResult(None, members, None, self_service=True)
    return _self_service_evaluate(task, variables, valid_users)


def _self_service_evaluate(
    task: Task, variables: Mapping[str, Any], valid_users: Set[str]
) -> AssignmentResult:
    name = _variable_name(task)
    value = variables.get(name)
    if isinstance(value, str):
        uids = value.split(",")
    elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        uids = list(value)
    else:
        uids = []
    members = tuple(sorted({uid.strip() for uid in uids if uid.strip() in valid_users}))
    if not members:
        raise AssignmentError(
            f"task '{task.title}' is self service for the users in @@{name}, "
            "which holds no valid user"
        )
    return AssignmentResult(None, members, None, self_service=True)


def _need_pool(task: Task, members: tuple[str, ...]) -> None:
    if not members:
        raise AssignmentError(f"task '{task.title}' has no users to assign it to")


def _variable_name(task: Task) -> str:
    """The variable of EVALUATE rules: "@@approver" (any prefix) names "approver"."""
    name = (task.assignment.variable or "")[1:]  # drop the leading "@"
    if name and name[0] in "@#%=&?$":
        name = name[1:]
    if not name:
        raise AssignmentError(f"task '{task.title}' names no variable for its assignment")
    return name
