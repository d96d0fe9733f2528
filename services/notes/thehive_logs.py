"""TheHive task logs (seed 000): the seven routes, over entries of kind ``log``.

    GET    /api/case/task/{taskId}/log           the task's logs (range "all")
    POST   /api/case/task/{taskId}/log/_search   search the task's logs
    POST   /api/case/task/log/_search            search every log the caller may see
    POST   /api/case/task/{taskId}/log           create: 201 + log (JSON or multipart)
    PATCH  /api/case/task/log/{logId}            change: 200 + log
    DELETE /api/case/task/log/{logId}            soft delete: 200, empty body
    GET    /api/case/task/log/{logId}            one log

``taskId`` is a delegation id of the cases service. Errors are TheHive's
``{"type", "message"}``. Search answers are bare arrays with ``X-Total``.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from casemesh.identity import PM_ALLCASES, Identity, caller
from casemesh.store.filters import And, Eq, Filter, In
from casemesh.web.forms import FORM, body_kind
from services.notes import clock, log_bodies, rights
from services.notes.casefacts import CaseFacts
from services.notes.entries import LOG
from services.notes.keys import CASES, ENTRIES
from services.notes.log_bodies import AttributeCheckingError, TheHiveError
from services.notes.log_events import announce
from services.notes.projection import cases_taken_part_in
from services.notes.thehive_query import SearchError, compile_query, parse_range, parse_sort

LOG_TYPE = "case_task_log"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def typed_errors(handler: Handler) -> Handler:
    """Answer TheHive's typed 400s (SearchError, AttributeCheckingError) in its shape."""

    @functools.wraps(handler)
    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except SearchError as exc:
            return web.json_response({"type": "SearchError", "message": str(exc)}, status=400)
        except AttributeCheckingError as exc:
            body = {"type": "AttributeCheckingError", "message": str(exc)}
            return web.json_response(body, status=400)
        except TheHiveError as exc:
            body = {"type": exc.kind, "message": exc.message}
            return web.json_response(body, status=exc.status)

    return handle


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/case/task/log/{log_id}", typed_errors(get_log))
    r.add_patch("/api/case/task/log/{log_id}", typed_errors(patch_log))
    r.add_delete("/api/case/task/log/{log_id}", typed_errors(delete_log))
    r.add_post("/api/case/task/log/_search", typed_errors(search_all))
    r.add_get("/api/case/task/{task_id}/log", typed_errors(task_logs))
    r.add_post("/api/case/task/{task_id}/log/_search", typed_errors(search_task))
    r.add_post("/api/case/task/{task_id}/log", typed_errors(create_log))


def log_view(doc: dict) -> dict:
    out = {
        "_type": LOG_TYPE,
        "_id": doc["id"],
        "id": doc["id"],
        "_parent": doc["task_id"],
        "_version": doc.get("_version", 1),
        "message": doc["text"],
        "startDate": doc["start_ms"],
        "createdAt": doc["at_ms"],
        "createdBy": doc["author_name"],
        "user": doc["author_name"],
        "status": doc["status"],
    }
    if doc.get("updated_ms"):
        out["updatedAt"] = doc["updated_ms"]
        out["updatedBy"] = doc.get("updated_by", "")
    if doc.get("attachment"):
        out["attachment"] = doc["attachment"]
    return out


def _not_found(what: str) -> TheHiveError:
    return TheHiveError(404, "NotFoundError", f"{what} not found")


async def _task(request: web.Request, who: Identity, task_id: str) -> CaseFacts:
    facts = await request.app[CASES].by_delegation(task_id)
    if facts is None or not rights.same_workspace(who, facts):
        raise _not_found(f"case_task {task_id}")
    if not rights.can_view_case(who, facts):
        raise TheHiveError(403, "AuthorizationError", "you may not see this task")
    return facts


async def _log(request: web.Request, who: Identity) -> tuple[dict, CaseFacts]:
    log_id = request.match_info["log_id"]
    doc = await request.app[ENTRIES].get(log_id)
    if doc is None or doc.get("kind") != LOG or doc.get("workspace") != who.workspace:
        raise _not_found(f"case_task_log {log_id}")
    return doc, await _task(request, who, doc["task_id"])


async def _search(request: web.Request, scope: Filter, body: dict, default_range: str):
    terms = log_bodies.search_terms(request, body)
    where = compile_query(terms.query)
    skip, limit = parse_range(terms.range, default_range)
    sort = parse_sort(terms.sort)
    full = And(scope, where) if where is not None else scope
    entries = request.app[ENTRIES]
    docs = await entries.find(full, sort=sort, skip=skip, limit=limit)
    total = await entries.count(full)
    return web.json_response([log_view(d) for d in docs], headers={"X-Total": str(total)})


def _task_scope(who: Identity, task_id: str) -> Filter:
    return And(Eq("kind", LOG), Eq("workspace", who.workspace), Eq("task_id", task_id))


async def task_logs(request: web.Request) -> web.Response:
    who = caller(request)
    task_id = request.match_info["task_id"]
    await _task(request, who, task_id)
    return await _search(request, _task_scope(who, task_id), {}, "all")


async def search_task(request: web.Request) -> web.Response:
    who = caller(request)
    body = await log_bodies.search_body(request)
    task_id = request.match_info["task_id"]
    await _task(request, who, task_id)
    return await _search(request, _task_scope(who, task_id), body, "0-10")


async def search_all(request: web.Request) -> web.Response:
    """Every log of the caller's workspace (PM_ALLCASES), else of cases they take part in."""
    who = caller(request)
    body = await log_bodies.search_body(request)
    compile_query(log_bodies.search_terms(request, body).query)  # refuse a bad query first
    scope: Filter = And(Eq("kind", LOG), Eq("workspace", who.workspace))
    if not who.can(PM_ALLCASES):
        store = request.app[ENTRIES].store
        cases = await cases_taken_part_in(store, who.workspace, who.user_uid)
        scope = And(scope, In("app_uid", tuple(cases)))
    return await _search(request, scope, body, "0-10")


async def get_log(request: web.Request) -> web.Response:
    who = caller(request)
    doc, _facts = await _log(request, who)
    return web.json_response(log_view(doc))


async def create_log(request: web.Request) -> web.Response:
    who = caller(request)
    facts = await _task(request, who, request.match_info["task_id"])
    if not rights.can_write_log(who, facts):
        raise TheHiveError(403, "AuthorizationError", "you may not write logs on this task")
    fields, attachment = await log_bodies.create_body(request, facts.app_uid)
    moment = clock.now()
    delegation = facts.delegation or {}
    doc = {
        "id": secrets.token_urlsafe(15),
        "kind": LOG,
        "workspace": facts.workspace,
        "app_uid": facts.app_uid,
        "app_number": facts.app_number,
        "task_id": delegation.get("delegation_id", request.match_info["task_id"]),
        "task_title": delegation.get("tas_title", ""),
        "tas_uid": delegation.get("tas_uid", ""),
        "author": who.user_uid,
        "author_name": who.username,
        "at": clock.stamp(moment),
        "at_ms": clock.millis(moment),
        "start_ms": fields.get("startDate", clock.millis(moment)),
        "text": fields["message"],
        "status": "Ok",
    }
    if attachment is not None:
        doc["attachment"] = attachment
    event = announce(request, "created", doc, facts, who)
    saved = await request.app[ENTRIES].add(doc, event)
    return web.json_response(log_view(saved), status=201)


async def patch_log(request: web.Request) -> web.Response:
    who = caller(request)
    form = body_kind(request) == FORM
    changes = log_bodies.update_fields(await log_bodies.json_object(request), form=form)
    doc, facts = await _log(request, who)
    if not rights.can_change_log(who, facts, doc["author"]):
        raise TheHiveError(403, "AuthorizationError", "you may not change this log")
    stored = {log_bodies.STORED[k]: v for k, v in changes.items()}
    if "text" in stored:
        stored["at"] = doc["at"]
    moment = clock.now()
    stored |= {"updated_ms": clock.millis(moment), "updated_by": who.username}
    merged = {**doc, **stored}
    kind = "deleted" if stored.get("status") == "Deleted" != doc["status"] else "updated"
    event = announce(request, kind, merged, facts, who, changed=sorted(changes))
    saved = await request.app[ENTRIES].change(doc, stored, event)
    return web.json_response(log_view(saved))


async def delete_log(request: web.Request) -> web.Response:
    who = caller(request)
    doc, facts = await _log(request, who)
    if not rights.can_change_log(who, facts, doc["author"]):
        raise TheHiveError(403, "AuthorizationError", "you may not delete this log")
    if doc["status"] != "Deleted":
        moment = clock.now()
        stored = {
            "status": "Deleted",
            "updated_ms": clock.millis(moment),
            "updated_by": who.username,
        }
        event = announce(request, "deleted", {**doc, **stored}, facts, who)
        await request.app[ENTRIES].change(doc, stored, event)
    return web.Response(status=200)
