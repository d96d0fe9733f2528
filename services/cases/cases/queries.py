"""The case lists: which rows each one shows a caller, and in which order."""

from __future__ import annotations

from casemesh.identity import PM_ALLCASES, Identity
from casemesh.store.filters import And, Eq, Filter, Has, In, Not, Or
from casemesh.web.errors import ApiError
from services.cases.cases import records
from services.cases.cases.lists import ListQuery, advanced_filter, common_filter
from services.cases.cases.records import list_row
from services.cases.cases.workflow import Workflow

DELEGATION_ROWS, CASE_ROWS = 0, 1

# List name -> how to find its rows for the caller.
INBOXES = ("todo", "draft", "unassigned", "paused")


def _inbox_filter(kind: str, who: Identity) -> list[Filter]:
    mine = Eq("usr_uid", who.user_uid)
    if kind == "todo":
        return [mine, Eq("app_status", records.TO_DO)]
    if kind == "draft":
        return [mine, Eq("app_status", records.DRAFT)]
    if kind == "paused":
        return [mine, Eq("app_status", records.PAUSED)]
    return [
        Eq("usr_uid", ""),
        Has("pool", who.user_uid),
        In("app_status", (records.TO_DO, records.UNASSIGNED)),
    ]


async def _check_filters(flow: Workflow, who: Identity, query: ListQuery) -> None:
    if query.cat_uid and not await flow.definitions.category_exists(who.workspace, query.cat_uid):
        raise ApiError(400, f"The category with $cat_uid: '{query.cat_uid}' does not exist.")
    if query.pro_uid and await flow.definitions.get(who.workspace, query.pro_uid) is None:
        raise ApiError(400, f"The process with $pro_uid: '{query.pro_uid}' does not exist.")


async def _visible_processes(flow: Workflow, who: Identity) -> tuple[str, ...]:
    """Processes whose cases the caller may search: supervised or permitted."""
    docs = await flow.definitions_list(who.workspace)
    allowed = []
    for definition in docs:
        if flow.can_supervise(who, definition) or any(
            who.user_uid in p.users or set(who.groups) & set(p.groups)
            for p in definition.permissions
            if p.object.value in ("ANY", "CASE_DATA")
        ):
            allowed.append(definition.uid)
    return tuple(allowed)


async def list_cases(
    flow: Workflow, who: Identity, kind: str, query: ListQuery
) -> tuple[int, list[dict]]:
    """``kind``: todo, draft, unassigned, paused, participated or advanced."""
    await _check_filters(flow, who, query)
    base: list[Filter] = [Eq("workspace", who.workspace)]
    if kind in INBOXES:
        source, collection = DELEGATION_ROWS, records.DELEGATIONS
        base += [Eq("status", records.OPEN), *_inbox_filter(kind, who)]
    elif kind == "participated":
        source, collection = CASE_ROWS, records.CASES
        base += [Has("participants", who.user_uid), Not(Eq("app_status", records.DELETED))]
    else:
        source, collection = CASE_ROWS, records.CASES
        base += advanced_filter(query)
        if not who.can(PM_ALLCASES):
            visible: list[Filter] = [Has("participants", who.user_uid)]
            processes = await _visible_processes(flow, who)
            if processes:
                visible.append(In("pro_uid", processes))
            base.append(Or(*visible))
    where = And(*base, *common_filter(query, source))
    total, docs = await flow.store.find_page(
        collection, where, sort=query.sort_keys(source), skip=query.skip, limit=query.limit
    )
    pairs = [(d, d) if source == DELEGATION_ROWS else (d, d["current"]) for d in docs]
    uids = {u for _, row in pairs for u in (row.get("usr_uid"), row.get("previous_usr_uid")) if u}
    users = await flow.people.users(who.workspace, uids)
    return total, [list_row(case, row, users) for case, row in pairs]
