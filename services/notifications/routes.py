"""The notifications API: preferences, templates, delivery records. Thin handlers.

Bodies and queries are validated with the models of ``request_models``.

All under ``/casemesh/v1/notifications`` (the gateway routes that prefix to
this service and vouches for the caller). See docs/notifications.md.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from casemesh.identity import Identity, caller
from casemesh.store.filters import And, Eq
from casemesh.web.errors import ApiError
from services.notifications.defaults import Templates
from services.notifications.deliveries import Deliveries, public, visible_to
from services.notifications.kinds import KINDS
from services.notifications.preferences import Preferences
from services.notifications.request_models import (
    DeliveriesQuery,
    PreferencesBody,
    TemplateBody,
    WhoseQuery,
)
from services.notifications.sandbox import TemplateProblem
from services.notifications.templates import TemplateBook

BASE = "/casemesh/v1/notifications"
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Api:
    deliveries: Deliveries
    preferences: Preferences
    templates: TemplateBook


API: web.AppKey[Api] = web.AppKey("notifications_api", Api)


def add_routes(app: web.Application, api: Api) -> None:
    app[API] = api
    app.router.add_get(f"{BASE}/preferences", get_preferences)
    app.router.add_put(f"{BASE}/preferences", put_preferences)
    app.router.add_get(f"{BASE}/templates", list_templates)
    app.router.add_get(f"{BASE}/templates/{{kind}}", get_template)
    app.router.add_put(f"{BASE}/templates/{{kind}}", put_template)
    app.router.add_delete(f"{BASE}/templates/{{kind}}", delete_template)
    app.router.add_get(f"{BASE}/deliveries", list_deliveries)
    app.router.add_get(f"{BASE}/deliveries/{{delivery_id}}", get_delivery)


# -- preferences ----------------------------------------------------------------


def _subject_user(request: web.Request, who: Identity) -> str:
    """Whose preferences: the caller's, or (admins only) ``?usr_uid=``."""
    usr_uid = _query(WhoseQuery, request).usr_uid or who.user_uid
    if usr_uid != who.user_uid and not who.is_admin:
        raise ApiError(403, "only an administrator may see or change another user's preferences")
    return usr_uid


def _preferences_view(who: Identity, usr_uid: str, kinds: dict[str, bool]) -> dict[str, Any]:
    return {
        "workspace": who.workspace,
        "usr_uid": usr_uid,
        "kinds": kinds,
        "descriptions": KINDS,
    }


async def get_preferences(request: web.Request) -> web.Response:
    who = caller(request)
    usr_uid = _subject_user(request, who)
    kinds = await request.app[API].preferences.of(who.workspace, usr_uid)
    return web.json_response(_preferences_view(who, usr_uid, kinds))


async def put_preferences(request: web.Request) -> web.Response:
    who = caller(request)
    usr_uid = _subject_user(request, who)
    body = _parse(PreferencesBody, await _json(request))
    changes: dict[str, bool] = dict(body.kinds)
    kinds = await request.app[API].preferences.change(who.workspace, usr_uid, changes)
    return web.json_response(_preferences_view(who, usr_uid, kinds))


# -- templates --------------------------------------------------------------------


def _kind(request: web.Request) -> str:
    kind = request.match_info["kind"]
    if kind not in KINDS:
        raise ApiError(404, f"no notification kind {kind!r}")
    return kind


def _admin(request: web.Request) -> Identity:
    who = caller(request)
    if not who.is_admin:
        raise ApiError(403, "only an administrator may change templates")
    return who


async def _template_view(book: TemplateBook, workspace: str, kind: str) -> dict[str, Any]:
    parts, own = await book.get(workspace, kind)
    return {"kind": kind, "description": KINDS[kind], "custom": own, **asdict(parts)}


async def list_templates(request: web.Request) -> web.Response:
    who, book = caller(request), request.app[API].templates
    return web.json_response([await _template_view(book, who.workspace, k) for k in KINDS])


async def get_template(request: web.Request) -> web.Response:
    who, book = caller(request), request.app[API].templates
    return web.json_response(await _template_view(book, who.workspace, _kind(request)))


async def put_template(request: web.Request) -> web.Response:
    who, kind, book = _admin(request), _kind(request), request.app[API].templates
    body = _parse(TemplateBody, await _json(request))
    current, _ = await book.get(who.workspace, kind)
    parts = Templates(
        subject=current.subject if body.subject is None else body.subject,
        text=current.text if body.text is None else body.text,
        html=current.html if body.html is None else body.html,
    )
    try:
        await book.save(who.workspace, kind, parts, by=who.user_uid)
    except TemplateProblem as exc:
        raise ApiError(400, f"invalid template: {exc}") from exc
    return web.json_response(await _template_view(book, who.workspace, kind))


async def delete_template(request: web.Request) -> web.Response:
    who, kind = _admin(request), _kind(request)
    await request.app[API].templates.reset(who.workspace, kind)
    return web.Response(status=204)


# -- deliveries -------------------------------------------------------------------


async def list_deliveries(request: web.Request) -> web.Response:
    who, q = caller(request), _query(DeliveriesQuery, request)
    parts = visible_to(who.workspace, None if who.is_admin else who.user_uid)
    for value, field in (
        (q.status, "status"),
        (q.case, "app_uid"),
        (q.kind, "kind"),
        (q.usr_uid, "usr_uid"),
    ):
        if value:
            parts.append(Eq(field, value))
    total, rows = await request.app[API].deliveries.page(And(*parts), start=q.start, limit=q.limit)
    return web.json_response(
        {"total": total, "start": q.start, "limit": q.limit, "data": [public(r) for r in rows]}
    )


async def get_delivery(request: web.Request) -> web.Response:
    who = caller(request)
    doc = await request.app[API].deliveries.get(request.match_info["delivery_id"])
    mine = doc is not None and doc["workspace"] == who.workspace
    if not mine or (not who.is_admin and doc["usr_uid"] != who.user_uid):  # type: ignore[index]
        raise ApiError(404, "no such delivery")
    return web.json_response(public(doc))  # type: ignore[arg-type]


# -- helpers ------------------------------------------------------------------------


async def _json(request: web.Request) -> Any:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the body must be JSON: {exc}") from exc


def _query(model: type[M], request: web.Request) -> M:
    """The query string (first value of each name, blanks left out) checked by ``model``."""
    params = request.query
    return _parse(model, {name: params[name] for name in params if params[name] != ""})


def _parse(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise ApiError(400, problems) from exc
