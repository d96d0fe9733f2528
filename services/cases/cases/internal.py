"""Internal endpoints other services use to learn about a case and who may see it.

The notes and documents services decide rights on their own entries from
this: the case's participants, current assignees, supervisors and process
permissions, with the people's names and e-mail addresses.
"""

from __future__ import annotations

from aiohttp import web

from casemesh.internal import require_internal
from casemesh.store.filters import And, Eq
from casemesh.web.errors import ApiError
from services.cases.cases import records
from services.cases.cases.routes import WORKFLOW
from services.cases.cases.workflow import Workflow


async def _summary(flow: Workflow, case: dict) -> dict:
    definition = await flow.definitions.get(case["workspace"], case["pro_uid"])
    rows = await flow.delegations(case)
    supervisors = set(definition.supervisors) if definition else set()
    if definition and definition.supervisor_groups:
        supervisors |= await flow.people.group_members(
            case["workspace"], definition.supervisor_groups
        )
    uids = {*case["participants"], *supervisors, *(r["usr_uid"] for r in rows if r["usr_uid"])}
    users = await flow.people.users(case["workspace"], uids)
    return {
        "workspace": case["workspace"],
        "app_uid": case["app_uid"],
        "app_number": case["app_number"],
        "app_title": case["app_title"],
        "app_status": case["app_status"],
        "pro_uid": case["pro_uid"],
        "pro_title": case["pro_title"],
        "participants": case["participants"],
        "supervisors": sorted(supervisors),
        "permissions": [p.model_dump(mode="json") for p in definition.permissions]
        if definition
        else [],
        "input_documents": [d.model_dump(mode="json") for d in definition.input_documents]
        if definition
        else [],
        "output_documents": [d.model_dump(mode="json") for d in definition.output_documents]
        if definition
        else [],
        "delegations": [
            {
                "delegation_id": r["id"],
                "del_index": r["del_index"],
                "tas_uid": r["tas_uid"],
                "tas_title": r["tas_title"],
                "status": r["status"],
                "usr_uid": r["usr_uid"],
            }
            for r in rows
        ],
        "people": {
            uid: {
                "usr_username": u.get("usr_username", ""),
                "usr_firstname": u.get("usr_firstname", ""),
                "usr_lastname": u.get("usr_lastname", ""),
                "usr_email": u.get("usr_email", ""),
            }
            for uid, u in users.items()
        },
    }


def _missing(what: str) -> ApiError:
    return ApiError(404, f"no case {what}")


async def case_by_uid(request: web.Request) -> web.Response:
    require_internal(request)
    flow = request.app[WORKFLOW]
    case = await flow.store.get(records.CASES, request.match_info["app_uid"])
    if case is None or case["app_status"] == records.DELETED:
        raise _missing(request.match_info["app_uid"])
    return web.json_response(await _summary(flow, case))


async def case_by_number(request: web.Request) -> web.Response:
    require_internal(request)
    flow = request.app[WORKFLOW]
    raw = request.match_info["app_number"]
    if not raw.isdigit() or len(raw) > 12:
        raise _missing(raw)
    found = await flow.store.find(
        records.CASES,
        And(Eq("workspace", request.match_info["ws"]), Eq("app_number", int(raw))),
        limit=1,
    )
    if not found or found[0]["app_status"] == records.DELETED:
        raise _missing(raw)
    return web.json_response(await _summary(flow, found[0]))


async def case_by_delegation(request: web.Request) -> web.Response:
    require_internal(request)
    flow = request.app[WORKFLOW]
    delegation = await flow.store.get(records.DELEGATIONS, request.match_info["delegation_id"])
    case = await flow.store.get(records.CASES, delegation["app_uid"]) if delegation else None
    if case is None or case["app_status"] == records.DELETED:
        raise _missing("for that task")
    summary = await _summary(flow, case)
    summary["delegation"] = next(
        d for d in summary["delegations"] if d["delegation_id"] == delegation["id"]
    )
    return web.json_response(summary)


async def group_members(request: web.Request) -> web.Response:
    """The active members of a group, with their names and e-mail addresses."""
    require_internal(request)
    flow = request.app[WORKFLOW]
    workspace, grp_uid = request.match_info["ws"], request.match_info["grp_uid"]
    members = await flow.people.group_members(workspace, [grp_uid])
    users = await flow.people.users(workspace, members)
    return web.json_response(
        [
            {
                "usr_uid": uid,
                "usr_username": u.get("usr_username", ""),
                "usr_firstname": u.get("usr_firstname", ""),
                "usr_lastname": u.get("usr_lastname", ""),
                "usr_email": u.get("usr_email", ""),
            }
            for uid, u in sorted(users.items())
        ]
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/internal/v1/cases/{app_uid}", case_by_uid)
    app.router.add_get("/internal/v1/workspaces/{ws}/cases/{app_number}", case_by_number)
    app.router.add_get("/internal/v1/delegations/{delegation_id}", case_by_delegation)
    app.router.add_get("/internal/v1/workspaces/{ws}/groups/{grp_uid}/members", group_members)
