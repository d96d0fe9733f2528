"""ProcessMaker 3 cases endpoints: thin handlers — parse, call the workflow, serialise."""

from __future__ import annotations

from aiohttp import web

from casemesh.identity import Identity, caller
from casemesh.web.errors import ApiError
from casemesh.web.forms import read_fields
from services.cases import variables as pmvars
from services.cases.cases import actions, bodies, lists, queries, records
from services.cases.cases.records import case_info
from services.cases.cases.tasks_view import case_tasks
from services.cases.cases.workflow import Workflow

WORKFLOW: web.AppKey[Workflow] = web.AppKey("workflow", Workflow)
BASE = "/api/1.0/{ws}/cases"
LISTS = {
    "": "todo",
    "/draft": "draft",
    "/participated": "participated",
    "/unassigned": "unassigned",
    "/paused": "paused",
    "/advanced-search": "advanced",
}


def _who(request: web.Request) -> Identity:
    who = caller(request)
    if request.match_info["ws"] != who.workspace:
        raise ApiError(401, "Unauthorized")
    return who


def _flow(request: web.Request) -> Workflow:
    return request.app[WORKFLOW]


def _list_handler(kind: str, paged: bool):
    async def handler(request: web.Request) -> web.Response:
        who = _who(request)
        query = lists.parse_query(dict(request.query), advanced=kind == "advanced")
        total, rows = await queries.list_cases(_flow(request), who, kind, query)
        if paged:
            return web.json_response(query.page(total, rows))
        return web.json_response(rows)

    return handler


async def get_case(request: web.Request) -> web.Response:
    who, flow = _who(request), _flow(request)
    case = await flow.load(who.workspace, request.match_info["app_uid"])
    definition = await flow.definitions.get(who.workspace, case["pro_uid"])
    if not flow.can_view(who, case, definition):
        raise actions.not_allowed(case["app_uid"])
    rows = await flow.delegations(case, open_only=True)
    users = await flow.people.users(
        who.workspace, [case["init_usr_uid"], *(r["usr_uid"] for r in rows)]
    )
    return web.json_response(case_info(case, rows, users))


async def current_task(request: web.Request) -> web.Response:
    who, flow = _who(request), _flow(request)
    app_uid = request.match_info["app_uid"]
    case = await flow.load(who.workspace, app_uid)
    rows = await flow.delegations(case, open_only=True)
    if case["app_status"] not in records.ACTIVE_STATUSES or not rows:
        raise ApiError(400, f"Incorrect or unavailable information about this case: {app_uid}")
    definition = await flow.definitions.get(who.workspace, case["pro_uid"])
    if who.user_uid not in {r["usr_uid"] for r in rows} and not flow.can_view(
        who, case, definition
    ):
        raise actions.not_allowed(app_uid)
    return web.json_response(
        [
            {
                "tas_uid": r["tas_uid"],
                "tas_title": r["tas_title"],
                "del_index": str(r["del_index"]),
                "delegation_id": r["id"],
            }
            for r in rows
        ]
    )


async def case_task_list(request: web.Request) -> web.Response:
    who, flow = _who(request), _flow(request)
    case = await flow.load(who.workspace, request.match_info["app_uid"])
    definition = await flow.definition(who.workspace, case["pro_uid"])
    if not flow.can_view(who, case, definition):
        raise actions.not_allowed(case["app_uid"])
    rows = await flow.delegations(case)
    users = await flow.people.users(who.workspace, [r["usr_uid"] for r in rows])
    return web.json_response(case_tasks(definition, rows, users))


async def get_variables(request: web.Request) -> web.Response:
    who, flow = _who(request), _flow(request)
    case = await flow.load(who.workspace, request.match_info["app_uid"])
    definition = await flow.definitions.get(who.workspace, case["pro_uid"])
    if not flow.can_view(who, case, definition):
        raise actions.not_allowed(case["app_uid"])
    current = case.get("current") or {}
    system = pmvars.system_variables(
        workspace=case["workspace"],
        app_uid=case["app_uid"],
        pro_uid=case["pro_uid"],
        tas_uid=current.get("tas_uid", ""),
        del_index=current.get("del_index", 1),
        user_uid=who.user_uid,
        username=who.username,
        pin=case.get("pin", ""),
    )
    return web.json_response({**system, **case["variables"]})


async def new_case(request: web.Request) -> web.Response:
    who = _who(request)
    body = bodies.parse(bodies.NewCase, await read_fields(request))
    created = await _flow(request).start(
        who, pro_uid=body.pro_uid, tas_uid=body.tas_uid, raw_variables=body.variables
    )
    return web.json_response(created)


async def new_case_impersonate(request: web.Request) -> web.Response:
    who = _who(request)
    body = bodies.parse(bodies.NewCaseImpersonate, await read_fields(request))
    created = await _flow(request).start(
        who,
        pro_uid=body.pro_uid,
        tas_uid=body.tas_uid,
        raw_variables=body.variables,
        as_user=body.usr_uid,
    )
    return web.json_response(created)


def _done() -> web.Response:
    """ProcessMaker's actions answer 200 with no body."""
    return web.Response(status=200)


async def route_case(request: web.Request) -> web.Response:
    who = _who(request)
    body = bodies.parse(bodies.RouteCase, await read_fields(request))
    await _flow(request).route(
        who,
        request.match_info["app_uid"],
        del_index=body.del_index,
        selection=body.selection,
        next_users=body.next_users,
    )
    return _done()


async def reassign_case(request: web.Request) -> web.Response:
    who = _who(request)
    body = bodies.parse(bodies.Reassign, await read_fields(request))
    await actions.reassign(
        _flow(request),
        who,
        request.match_info["app_uid"],
        source=body.usr_uid_source,
        target=body.usr_uid_target,
        del_index=body.del_index,
    )
    return _done()


async def claim_case(request: web.Request) -> web.Response:
    who = _who(request)
    body = bodies.parse(bodies.Claim, await read_fields(request))
    await actions.claim(
        _flow(request), who, request.match_info["app_uid"], del_index=body.del_index
    )
    return _done()


async def cancel_case(request: web.Request) -> web.Response:
    await actions.cancel(_flow(request), _who(request), request.match_info["app_uid"])
    return _done()


async def pause_case(request: web.Request) -> web.Response:
    who = _who(request)
    body = bodies.parse(bodies.Pause, await read_fields(request))
    await actions.pause(
        _flow(request), who, request.match_info["app_uid"], unpaused_date=body.unpaused_date
    )
    return _done()


async def unpause_case(request: web.Request) -> web.Response:
    who = _who(request)
    body = bodies.parse(bodies.Pause, await read_fields(request))
    await actions.unpause(
        _flow(request),
        who,
        who.workspace,
        request.match_info["app_uid"],
        unpaused_date=body.unpaused_date,
    )
    return _done()


async def execute_trigger(request: web.Request) -> web.Response:
    await actions.execute_trigger(
        _flow(request), _who(request), request.match_info["app_uid"], request.match_info["tri_uid"]
    )
    return _done()


async def set_variables(request: web.Request) -> web.Response:
    who = _who(request)
    body = bodies.parse(bodies.Variables, await read_fields(request, allow_array=True))
    await actions.set_variables(_flow(request), who, request.match_info["app_uid"], body.root)
    return _done()


async def delete_case(request: web.Request) -> web.Response:
    await actions.delete(_flow(request), _who(request), request.match_info["app_uid"])
    return _done()


def add_routes(app: web.Application, flow: Workflow) -> None:
    app[WORKFLOW] = flow
    router = app.router
    for suffix, kind in LISTS.items():
        router.add_get(f"{BASE}{suffix}", _list_handler(kind, paged=False))
        router.add_get(f"{BASE}{suffix}/paged", _list_handler(kind, paged=True))
    router.add_post(BASE, new_case)
    router.add_post(f"{BASE}/impersonate", new_case_impersonate)
    case = f"{BASE}/{{app_uid}}"
    router.add_get(case, get_case)
    router.add_delete(case, delete_case)
    router.add_get(f"{case}/current-task", current_task)
    router.add_get(f"{case}/tasks", case_task_list)
    router.add_get(f"{case}/variables", get_variables)
    router.add_put(f"{case}/variable", set_variables)
    router.add_put(f"{case}/route-case", route_case)
    router.add_put(f"{case}/reassign-case", reassign_case)
    router.add_put(f"{case}/claim", claim_case)
    router.add_put(f"{case}/cancel", cancel_case)
    router.add_put(f"{case}/pause", pause_case)
    router.add_put(f"{case}/unpause", unpause_case)
    router.add_put(f"{case}/execute-trigger/{{tri_uid}}", execute_trigger)
