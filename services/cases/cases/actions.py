"""The case commands other than start and route: each one transition, one transaction."""

from __future__ import annotations

from datetime import UTC, datetime

from casemesh.identity import PM_CANCELCASE, PM_REASSIGNCASE, Identity
from casemesh.web.errors import ApiError
from services.cases import variables as pmvars
from services.cases.cases import announce, records
from services.cases.cases.assigning import task_pool
from services.cases.cases.snapshot import TIMERS, CaseChange
from services.cases.cases.workflow import CLOSED_MESSAGE, Workflow, pmvars_from_request
from services.cases.engine import routing


def _stamp(case: dict) -> str:
    case["updated_at"] = records.now_text()
    return case["updated_at"]


def _open_row(rows: list[dict], del_index: int | None, user: str | None = None) -> dict:
    candidates = [r for r in rows if del_index is None or r["del_index"] == del_index]
    if user is not None:
        candidates = [r for r in candidates if r["usr_uid"] == user] or candidates
    if not candidates:
        raise ApiError(400, CLOSED_MESSAGE)
    return max(candidates, key=lambda r: r["del_index"])


async def reassign(
    flow: Workflow, who: Identity, app_uid: str, *, source: str, target: str, del_index: int | None
) -> None:
    if not who.can(PM_REASSIGNCASE):
        raise ApiError(400, "You do not have permission to reassign cases (PM_REASSIGNCASE)")

    async def once() -> None:
        case = await flow.load(who.workspace, app_uid)
        if case["app_status"] not in records.ACTIVE_STATUSES:
            raise ApiError(400, CLOSED_MESSAGE)
        rows = await flow.delegations(case, open_only=True)
        row = _open_row([r for r in rows if r["usr_uid"] == source], del_index)
        definition = await flow.definition(who.workspace, case["pro_uid"])
        pool = await task_pool(
            flow.people, who.workspace, definition.task(row["tas_uid"]), adhoc=True
        )
        if target not in pool:
            raise ApiError(
                400, f"The user with $usr_uid: '{target}' is not in the pool of the task."
            )
        await _move(flow, who, case, row, target, how="reassigned")

    await flow._retrying(once)


async def claim(flow: Workflow, who: Identity, app_uid: str, *, del_index: int | None) -> None:
    """Take an unassigned self-service task: the caller must be in its pool."""

    async def once() -> None:
        case = await flow.load(who.workspace, app_uid)
        rows = [r for r in await flow.delegations(case, open_only=True) if not r["usr_uid"]]
        row = _open_row(rows, del_index)
        if who.user_uid not in row.get("pool", ()):
            raise ApiError(400, "The logged-in user is not in the self-service pool of this task")
        await _move(flow, who, case, row, who.user_uid, how="claimed")

    await flow._retrying(once)


async def _move(
    flow: Workflow, who: Identity, case: dict, row: dict, target: str, *, how: str
) -> None:
    change = CaseChange(case, case["_version"], await flow.delegations(case, open_only=True))
    stamp = _stamp(case)
    previous = row["usr_uid"]
    row = {
        **row,
        "usr_uid": target,
        "previous_usr_uid": previous or row["previous_usr_uid"],
        "pool": [],
        "init_date": row.get("init_date") or stamp,
    }
    change.update_delegation(
        row["id"],
        usr_uid=target,
        previous_usr_uid=row["previous_usr_uid"],
        pool=[],
        init_date=row["init_date"],
    )
    case["participants"] = list(dict.fromkeys([*case["participants"], target]))
    if case["app_status"] == records.UNASSIGNED:
        case["app_status"] = records.TO_DO
    if case["current"]["id"] == row["id"]:
        case["current"] = {
            **case["current"],
            "usr_uid": target,
            "previous_usr_uid": row["previous_usr_uid"],
        }
    change.events = await announce.reassigned(flow, who, case, row, previous, how)
    await flow._commit(change)


async def cancel(flow: Workflow, who: Identity, app_uid: str) -> None:
    async def once() -> None:
        case = await flow.load(who.workspace, app_uid)
        if case["app_status"] == records.CANCELLED:
            raise ApiError(400, f"The case '{app_uid}' is already canceled")
        if case["app_status"] == records.COMPLETED:
            raise ApiError(400, f"The case '{app_uid}' is already completed")
        rows = await flow.delegations(case, open_only=True)
        if not who.can(PM_CANCELCASE) and who.user_uid not in {r["usr_uid"] for r in rows}:
            raise ApiError(400, "You do not have permission to cancel this case")
        change = _close_everything(case, rows)
        case["app_status"] = records.CANCELLED
        change.events = await announce.simple(flow, who, case, "cancelled")
        await flow._commit(change)

    await flow._retrying(once)


def _close_everything(case: dict, rows: list[dict]) -> CaseChange:
    change = CaseChange(case, case["_version"], [r for r in rows if r["status"] == records.OPEN])
    stamp = _stamp(case)
    case["finished_at"] = stamp
    case["routing"] = routing.cancel(
        routing.RoutingState.from_dict(case["routing"])
    ).state.to_dict()
    for row in rows:
        change.update_delegation(row["id"], status=records.CLOSED, finish_date=stamp)
        change.cancelled_timers.append(f"overdue:{row['id']}")
    change.cancelled_timers.append(f"unpause:{case['app_uid']}")
    if case.get("current"):
        case["current"] = {**case["current"], "status": records.CLOSED}
    return change


async def pause(flow: Workflow, who: Identity, app_uid: str, *, unpaused_date: str) -> None:
    until = _parse_when(unpaused_date) if unpaused_date else None

    async def once() -> None:
        case = await flow.load(who.workspace, app_uid)
        if case["app_status"] not in records.ACTIVE_STATUSES:
            raise ApiError(
                400, f"The case '{app_uid}' cannot be paused: it is {case['app_status']}"
            )
        await _require_worker_or_supervisor(flow, who, case)
        change = CaseChange(case, case["_version"], await flow.delegations(case, open_only=True))
        _stamp(case)
        case["pause"] = {
            "previous_status": case["app_status"],
            "by": who.user_uid,
            "until": records.format_date(until),
        }
        case["app_status"] = records.PAUSED
        if until is not None:
            change.timers.append(
                {
                    "id": f"unpause:{app_uid}",
                    "kind": "unpause",
                    "workspace": who.workspace,
                    "app_uid": app_uid,
                    "due_at": records.format_date(until),
                }
            )
        change.events = await announce.simple(
            flow, who, case, "paused", unpause_at=records.format_date(until)
        )
        await flow._commit(change)

    await flow._retrying(once)


async def unpause(
    flow: Workflow, who: Identity | None, workspace: str, app_uid: str, *, unpaused_date: str = ""
) -> None:
    """Unpause now, or at ``unpaused_date``; ``who`` None is the pause timer."""
    if unpaused_date and who is not None:
        until = _parse_when(unpaused_date)
        if until > datetime.now(UTC):
            await _reschedule(flow, who, app_uid, until)
            return

    async def once() -> None:
        case = await flow.load(workspace, app_uid)
        if case["app_status"] != records.PAUSED:
            raise ApiError(400, f"The case '{app_uid}' is not paused")
        if who is not None:
            await _require_worker_or_supervisor(flow, who, case)
        change = CaseChange(case, case["_version"], await flow.delegations(case, open_only=True))
        _stamp(case)
        case["app_status"] = case["pause"]["previous_status"]
        case["pause"] = None
        change.cancelled_timers.append(f"unpause:{app_uid}")
        change.events = await announce.simple(flow, who, case, "unpaused")
        await flow._commit(change)

    await flow._retrying(once)


async def _reschedule(flow: Workflow, who: Identity, app_uid: str, until: datetime) -> None:
    case = await flow.load(who.workspace, app_uid)
    if case["app_status"] != records.PAUSED:
        raise ApiError(400, f"The case '{app_uid}' is not paused")
    await _require_worker_or_supervisor(flow, who, case)
    change = CaseChange(case, case["_version"], await flow.delegations(case, open_only=True))
    case["pause"] = {**case["pause"], "until": records.format_date(until)}
    change.timers.append(
        {
            "id": f"unpause:{app_uid}",
            "kind": "unpause",
            "workspace": who.workspace,
            "app_uid": app_uid,
            "due_at": records.format_date(until),
        }
    )
    await flow._commit(change)


async def _require_worker_or_supervisor(flow: Workflow, who: Identity, case: dict) -> None:
    rows = await flow.delegations(case, open_only=True)
    if who.user_uid in {r["usr_uid"] for r in rows}:
        return
    definition = await flow.definitions.get(case["workspace"], case["pro_uid"])
    if definition is not None and flow.can_supervise(who, definition):
        return
    raise ApiError(400, "The logged-in user is neither assigned to this case nor its supervisor")


def _parse_when(text: str) -> datetime:
    for pattern in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ApiError(400, f"Invalid value for $unpaused_date: '{text}'. Use YYYY-MM-DD [HH:MM:SS]")


async def delete(flow: Workflow, who: Identity, app_uid: str) -> None:
    """Only a case still in its initial task, by the user assigned to it."""

    async def once() -> None:
        case = await flow.load(who.workspace, app_uid)
        rows = await flow.delegations(case)
        if (
            len(rows) != 1
            or rows[0]["status"] != records.OPEN
            or rows[0]["usr_uid"] != who.user_uid
        ):
            raise ApiError(
                400, "Only a case in its initial task can be deleted, by its assigned user"
            )
        change = _close_everything(case, rows)
        case["app_status"] = records.DELETED
        change.events = await announce.simple(flow, who, case, "deleted")
        await flow._commit(change)

    await flow._retrying(once)


async def set_variables(flow: Workflow, who: Identity, app_uid: str, raw: object) -> None:
    new = pmvars_from_request(raw)

    async def once() -> None:
        case = await flow.load(who.workspace, app_uid)
        definition = await flow.definitions.get(who.workspace, case["pro_uid"])
        if not flow.can_view(who, case, definition):
            raise not_allowed(app_uid)
        change = CaseChange(case, case["_version"], await flow.delegations(case, open_only=True))
        _stamp(case)
        try:
            case["variables"] = pmvars.merge_variables(case["variables"], new)
        except pmvars.VariablesError as exc:
            raise ApiError(400, str(exc)) from exc
        change.events = await announce.simple(flow, who, case, "variables", changed=sorted(new))
        await flow._commit(change)

    await flow._retrying(once)


async def execute_trigger(flow: Workflow, who: Identity, app_uid: str, tri_uid: str) -> None:
    async def once() -> None:
        case = await flow.load(who.workspace, app_uid)
        definition = await flow.definition(who.workspace, case["pro_uid"])
        if not flow.can_view(who, case, definition):
            raise not_allowed(app_uid)
        try:
            definition.trigger(tri_uid)
        except KeyError:
            raise ApiError(400, f"The trigger with $tri_uid: '{tri_uid}' does not exist.") from None
        before = dict(case["variables"])
        change = CaseChange(case, case["_version"], await flow.delegations(case, open_only=True))
        _stamp(case)
        case["variables"] = flow._run_triggers(definition, [tri_uid], case)
        changed = sorted(k for k, v in case["variables"].items() if before.get(k) != v)
        removed = sorted(set(before) - set(case["variables"]))
        change.events = await announce.simple(
            flow, who, case, "variables", changed=changed, removed=removed
        )
        await flow._commit(change)

    await flow._retrying(once)


def not_allowed(app_uid: str) -> ApiError:
    return ApiError(400, f"The logged-in user has no access to the case '{app_uid}'")


async def fire_timer(flow: Workflow, timer: dict) -> None:
    """Run a stored timer whose time has come (pause end, or a task overdue)."""
    if timer["kind"] == "unpause":
        try:
            await unpause(flow, None, timer["workspace"], timer["app_uid"])
        except ApiError:
            await flow.store.delete(TIMERS, timer["id"])  # the case moved on; nothing to do
        return
    case = await flow.store.get(records.CASES, timer["app_uid"])
    delegation = await flow.store.get(records.DELEGATIONS, timer["delegation_id"])
    events = []
    if case and delegation and delegation["status"] == records.OPEN:
        events = await announce.overdue(flow, case, delegation)
    await flow.store.delete(TIMERS, timer["id"], events=events)
