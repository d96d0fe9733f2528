"""Case commands: start, route, claim, reassign, pause, cancel, delete, variables, triggers.

Each command reads the case, decides with the pure engine, and writes the
case, its delegation rows, timers and events in one transaction guarded by
the case's version. A command that loses a race re-reads and decides again,
so a second routing of the same delegation finds it closed.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from casemesh.identity import PM_ALLCASES, PM_CANCELCASE, PM_REASSIGNCASE, Identity
from casemesh.runtime import Runtime
from casemesh.store.filters import And, Eq
from casemesh.store.port import VersionConflict
from casemesh.web.errors import ApiError
from services.cases import variables as pmvars
from services.cases.cases import announce, records
from services.cases.cases.assigning import due_for, place, task_pool
from services.cases.cases.ports import Definitions, People
from services.cases.cases.snapshot import (
    CURSORS,
    TIMERS,
    CaseChange,
    case_fields,
    new_delegation_id,
)
from services.cases.cases.sources import CommandPeople
from services.cases.definitions.model import AssignmentRule, ProcessDefinition
from services.cases.engine import routing, triggers
from services.cases.engine.errors import DelegationClosed, EngineError

T = TypeVar("T")
MAX_ATTEMPTS = 5
CLOSED_MESSAGE = "This case delegation is already closed or does not exist"


def not_found(app_uid: str) -> ApiError:
    return ApiError(400, f"The application with $app_uid: '{app_uid}' does not exist.")


class Workflow:
    def __init__(self, runtime: Runtime, definitions: Definitions, people: People) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.definitions = definitions
        self.people = people

    # -- reading -------------------------------------------------------------

    async def load(self, workspace: str, app_uid: str) -> dict:
        case = await self.store.get(records.CASES, app_uid)
        if case is None or case["workspace"] != workspace or case["app_status"] == records.DELETED:
            raise not_found(app_uid)
        return case

    async def delegations(self, case: dict, *, open_only: bool = False) -> list[dict]:
        where = [Eq("app_uid", case["app_uid"])]
        if open_only:
            where.append(Eq("status", records.OPEN))
        rows = await self.store.find(records.DELEGATIONS, And(*where))
        return sorted(rows, key=lambda d: d["del_index"])

    async def definition(self, workspace: str, pro_uid: str) -> ProcessDefinition:
        definition = await self.definitions.get(workspace, pro_uid)
        if definition is None:
            raise ApiError(400, f"The process with $pro_uid: '{pro_uid}' does not exist.")
        return definition

    async def definitions_list(self, workspace: str) -> list[ProcessDefinition]:
        return await self.definitions.all(workspace)

    def can_supervise(self, who: Identity, definition: ProcessDefinition) -> bool:
        return who.user_uid in definition.supervisors or bool(
            set(who.groups) & set(definition.supervisor_groups)
        )

    def can_view(self, who: Identity, case: dict, definition: ProcessDefinition | None) -> bool:
        if who.can(PM_ALLCASES) or who.user_uid in case.get("participants", ()):
            return True
        if definition is None:
            return False
        if self.can_supervise(who, definition):
            return True
        return any(
            who.user_uid in p.users or set(who.groups) & set(p.groups)
            for p in definition.permissions
            if p.object.value in ("ANY", "CASE_DATA")
        )

    # -- the retry loop ------------------------------------------------------

    async def _retrying(self, command: Callable[[], Awaitable[T]]) -> T:
        for _ in range(MAX_ATTEMPTS - 1):
            try:
                return await command()
            except VersionConflict:
                continue  # someone changed the case: decide again on fresh data
        return await command()

    async def _commit(self, change: CaseChange) -> None:
        async with self.store.transaction() as tx:
            await change.write(tx)

    # -- starting --------------------------------------------------------------

    async def start(
        self,
        who: Identity,
        *,
        pro_uid: str,
        tas_uid: str,
        raw_variables: Any,
        as_user: str | None = None,
    ) -> dict:
        """POST /cases (``as_user`` None) and /cases/impersonate (DRAFT for ``as_user``)."""
        workspace = who.workspace
        definition = await self.definition(workspace, pro_uid)
        if tas_uid not in definition.start_tasks:
            raise ApiError(400, f"The task with $tas_uid: '{tas_uid}' is not a starting task.")
        variables = pmvars_from_request(raw_variables)
        user = as_user or who.user_uid
        task = definition.task(tas_uid)
        people = CommandPeople(self.people)
        if user not in await task_pool(people, workspace, task):
            raise ApiError(400, f"The user with $usr_uid: '{user}' is not in the pool of the task.")
        if as_user and not await people.users(workspace, [as_user]):
            raise ApiError(400, f"The user with $usr_uid: '{as_user}' does not exist.")
        now = datetime.now(UTC)
        app_uid = uuid.uuid4().hex
        state = routing.start(definition, tas_uid)
        first = routing.open_delegations(state)[0]
        async with self.store.transaction() as tx:
            number = await tx.next_value("app_number", workspace)
            case = {
                "id": app_uid,
                "workspace": workspace,
                "app_uid": app_uid,
                "app_number": number,
                "app_title": f"#{number}",
                "app_status": records.DRAFT if as_user else records.TO_DO,
                "pro_uid": pro_uid,
                "pro_title": definition.title,
                "cat_uid": definition.category.uid if definition.category else "",
                "init_usr_uid": user,
                "created_at": records.format_date(now),
                "updated_at": records.format_date(now),
                "finished_at": None,
                "last_index": first.index,
                "variables": variables,
                "routing": state.to_dict(),
                "participants": [user],
                "delegation_ids": {},
                "pause": None,
                "pin": secrets.token_hex(2).upper(),
            }
            variables = self._run_triggers(definition, task.triggers.before, case)
            case["variables"] = variables
            delegation = self._delegation_row(
                case, first.index, first.thread, task, user, "", now, pool=(), due=None
            )
            due = due_for(definition, task, now)
            delegation["due_date"] = records.format_date(due)
            case["delegation_ids"][str(first.index)] = delegation["id"]
            case["current"] = _current(delegation)
            await tx.insert(records.CASES, case)
            await tx.insert(records.DELEGATIONS, {**delegation, **case_fields(case)})
            if due is not None:
                await tx.insert(TIMERS, _overdue_timer(case, delegation))
            created = await announce.case_created(
                self, who, case, [delegation], definition, people=people
            )
            for event in created:
                tx.emit(event)
        return {"app_uid": app_uid, "app_number": number}

    # -- routing -----------------------------------------------------------------

    async def route(
        self,
        who: Identity,
        app_uid: str,
        *,
        del_index: int | None,
        selection: Sequence[str] = (),
        next_users: dict[str, str] | None = None,
    ) -> None:
        await self._retrying(
            lambda: self._route_once(who, app_uid, del_index, selection, next_users or {})
        )

    async def _route_once(
        self,
        who: Identity,
        app_uid: str,
        del_index: int | None,
        selection: Sequence[str],
        next_users: dict[str, str],
    ) -> None:
        case = await self.load(who.workspace, app_uid)
        if case["app_status"] not in (records.TO_DO, records.DRAFT):
            raise ApiError(400, CLOSED_MESSAGE)
        definition = await self.definition(who.workspace, case["pro_uid"])
        open_rows = await self.delegations(case, open_only=True)
        row = _pick_delegation(open_rows, del_index, who.user_uid)
        if row["usr_uid"] != who.user_uid:
            raise ApiError(400, "The logged-in user is not assigned to this delegation")
        now = datetime.now(UTC)
        task = definition.task(row["tas_uid"])
        case["variables"] = self._run_triggers(definition, task.triggers.after, case)
        state = routing.RoutingState.from_dict(case["routing"])
        try:
            outcome = routing.route(
                definition,
                state,
                row["del_index"],
                self._condition_variables(case, row, who),
                selection=selection,
            )
        except DelegationClosed as exc:
            raise ApiError(400, CLOSED_MESSAGE) from exc
        except EngineError as exc:
            raise ApiError(400, str(exc)) from exc
        change = CaseChange(case, case["_version"], open_rows)
        people = CommandPeople(self.people)
        case["routing"] = outcome.state.to_dict()
        case["updated_at"] = records.format_date(now)
        by_index = {d["del_index"]: d for d in open_rows}
        finished = []
        for index in outcome.closed:
            if index in by_index:
                change.update_delegation(
                    by_index[index]["id"], status=records.CLOSED, finish_date=case["updated_at"]
                )
                if by_index[index].get("due_date"):  # only a task with a due date has a timer
                    change.cancelled_timers.append(f"overdue:{by_index[index]['id']}")
                finished.append(by_index[index])
        created = []
        for new in outcome.created:
            next_task = definition.task(new.task)
            case["variables"] = self._run_triggers(definition, next_task.triggers.before, case)
            cursor_id = f"{who.workspace}:{case['pro_uid']}:{new.task}"
            cursor = None
            if next_task.assignment.rule == AssignmentRule.BALANCED:  # the only rule using it
                cursor = await self.store.get(CURSORS, cursor_id)
            placement = await place(
                people,
                who.workspace,
                definition,
                next_task,
                variables=self._condition_variables(case, row, who),
                previous_user=row["usr_uid"],
                chosen_user=next_users.get(new.task),
                cursor=cursor["value"] if cursor else None,
                now=now,
            )
            if placement.cursor is not None:
                change.cursor_updates[cursor_id] = placement.cursor
            delegation = self._delegation_row(
                case,
                new.index,
                new.thread,
                next_task,
                placement.user,
                row["usr_uid"],
                now,
                pool=placement.pool,
                due=placement.due_date,
            )
            case["delegation_ids"][str(new.index)] = delegation["id"]
            case["last_index"] = max(case["last_index"], new.index)
            if placement.user:
                case["participants"] = list(dict.fromkeys([*case["participants"], placement.user]))
            if placement.due_date is not None:
                change.timers.append(_overdue_timer(case, delegation))
            change.new_delegations.append(delegation)
            created.append(delegation)
        still_open = [d for d in open_rows if d["del_index"] not in outcome.closed] + created
        case["app_status"] = _status_after_routing(outcome.completed, still_open)
        if outcome.completed:
            case["finished_at"] = case["updated_at"]
        case["current"] = _current(max(still_open or finished, key=lambda d: d["del_index"]))
        change.events = await announce.case_routed(
            self, who, case, finished, created, outcome.completed, definition, people=people
        )
        await self._commit(change)

    # -- helpers -----------------------------------------------------------------

    def _run_triggers(self, definition: ProcessDefinition, uids: Sequence[str], case: dict) -> dict:
        variables = dict(case["variables"])
        for uid in uids:
            try:
                result = triggers.run_script(definition.trigger(uid).script, variables)
            except EngineError as exc:
                raise ApiError(400, f"Trigger '{uid}' failed: {exc}") from exc
            variables = pmvars.normalise_variables(result.variables)
        return variables

    def _condition_variables(self, case: dict, row: dict, who: Identity) -> dict:
        system = pmvars.system_variables(
            workspace=case["workspace"],
            app_uid=case["app_uid"],
            pro_uid=case["pro_uid"],
            tas_uid=row["tas_uid"],
            del_index=row["del_index"],
            user_uid=who.user_uid,
            username=who.username,
            pin=case.get("pin", ""),
        )
        return {**case["variables"], **system}

    @staticmethod
    def _delegation_row(
        case: dict,
        del_index: int,
        thread: int,
        task: Any,
        user: str,
        previous_user: str,
        now: datetime,
        *,
        pool: Sequence[str],
        due: datetime | None,
    ) -> dict:
        stamp = records.format_date(now)
        return {
            "id": new_delegation_id(),
            "workspace": case["workspace"],
            "app_uid": case["app_uid"],
            "del_index": del_index,
            "thread": thread,
            "tas_uid": task.uid,
            "tas_title": task.title,
            "status": records.OPEN,
            "usr_uid": user,
            "previous_usr_uid": previous_user,
            "pool": list(pool) if not user else [],
            "delegate_date": stamp,
            "init_date": stamp if user else None,
            "due_date": records.format_date(due),
            "finish_date": None,
        }


def pmvars_from_request(raw: Any) -> dict:
    """``variables`` as ProcessMaker takes it: an object inside an array (or bare)."""
    if raw in (None, "", []):
        return {}
    if isinstance(raw, list):
        merged: dict = {}
        for item in raw:
            if not isinstance(item, dict):
                raise ApiError(400, "`variables` must be an array holding one object")
            merged.update(item)
        raw = merged
    if not isinstance(raw, dict):
        raise ApiError(400, "`variables` must be an object of case variables")
    try:
        return pmvars.normalise_variables(raw)
    except pmvars.VariablesError as exc:
        raise ApiError(400, str(exc)) from exc


def _pick_delegation(open_rows: list[dict], del_index: int | None, user: str) -> dict:
    if del_index is not None:
        for row in open_rows:
            if row["del_index"] == del_index:
                return row
        raise ApiError(400, CLOSED_MESSAGE)
    mine = [r for r in open_rows if r["usr_uid"] == user] or open_rows
    if not mine:
        raise ApiError(400, CLOSED_MESSAGE)
    return max(mine, key=lambda r: r["del_index"])


def _status_after_routing(completed: bool, open_rows: list[dict]) -> str:
    if completed:
        return records.COMPLETED
    if open_rows and all(not r["usr_uid"] for r in open_rows):
        return records.UNASSIGNED
    return records.TO_DO


def _current(delegation: dict) -> dict:
    keys = (
        "id",
        "del_index",
        "thread",
        "tas_uid",
        "tas_title",
        "status",
        "usr_uid",
        "previous_usr_uid",
        "delegate_date",
        "init_date",
        "due_date",
        "finish_date",
    )
    return {k: delegation.get(k) for k in keys}


def _overdue_timer(case: dict, delegation: dict) -> dict:
    return {
        "id": f"overdue:{delegation['id']}",
        "kind": "overdue",
        "workspace": case["workspace"],
        "app_uid": case["app_uid"],
        "delegation_id": delegation["id"],
        "due_at": delegation["due_date"],
    }


__all__ = ["PM_CANCELCASE", "PM_REASSIGNCASE", "Workflow"]
