"""Trackops case updates (seed 001).

    GET  /api/v1/case/updates                 {"updates": [...], "meta": {...}}
    GET  /api/v1/case/updates/access-groups   {"access_groups": [{"id", "grp_uid"}]}
    GET  /api/v1/case/updates/{id}            {"update": {...}}
    POST /api/v1/case/updates                 201 {"update": {...}}
    PUT  /api/v1/case/updates/{id}            200 {"update": {...}}

Bodies nest the fields under ``update``. An update is visible to members of
its access group and to administrators. A reply names its thread with
``thread_id`` (the id of any update of that thread, on the same case);
otherwise an update starts its own thread. Errors are Casemesh's
``{"status", "error", "message"}``; validation errors are 422 with
``errors: {field: [messages]}``. See docs/notes.md.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from aiohttp import web

from casemesh.events.cases import Person
from casemesh.events.notes import UpdateChanged, UpdateCreated, UpdateValidated, preview
from casemesh.identity import PM_CASES, Identity, caller
from casemesh.store.filters import And, Eq, Filter, In, Sort
from casemesh.web.errors import ApiError
from casemesh.web.forms import read_fields
from casemesh.web.keys import RUNTIME
from services.notes import clock, directory_ids, trackops_query
from services.notes.directory_ids import GROUP, USER
from services.notes.entries import UPDATE
from services.notes.keys import CASES, ENTRIES
from services.notes.trackops_body import Invalid, read_body

BASE = "/api/v1/case/updates"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def validation(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except Invalid as exc:
            return exc.response()

    return handle


def add_routes(app: web.Application) -> None:
    app.router.add_get(BASE, validation(list_updates))
    app.router.add_post(BASE, validation(create_update))
    app.router.add_get(f"{BASE}/access-groups", access_groups)
    app.router.add_get(BASE + r"/{number:\d{1,15}}", get_update)
    app.router.add_put(BASE + r"/{number:\d{1,15}}", validation(put_update))


async def _known(request: web.Request, who: Identity) -> dict[str, int]:
    """Register the caller and their groups; return their groups' numbers."""
    store = request.app[ENTRIES].store
    await directory_ids.register(store, who.workspace, USER, [who.user_uid])
    return await directory_ids.register(store, who.workspace, GROUP, list(who.groups))


def _visible(who: Identity) -> Filter:
    base = And(Eq("kind", UPDATE), Eq("workspace", who.workspace))
    return base if who.is_admin else And(base, In("access_group", tuple(who.groups)))


async def _view(request: web.Request, who: Identity, docs: list[dict]) -> list[dict]:
    store = request.app[ENTRIES].store
    groups = await directory_ids.numbers_of(
        store, who.workspace, GROUP, {d["access_group"] for d in docs}
    )
    users = await directory_ids.numbers_of(
        store,
        who.workspace,
        USER,
        {u for d in docs for u in (d["author"], d.get("behalf_of"), d.get("validated_by")) if u},
    )
    return [
        {
            "id": d["number"],
            "casefile_id": d["app_number"],
            "subject_id": d.get("subject_id"),
            "event_id": d.get("event_id"),
            "access_group_id": groups.get(d["access_group"]),
            "title": d["title"],
            "body": d["text"],
            "activity_at": clock.iso_utc(d.get("activity_at")),
            "is_allday": d.get("is_allday", False),
            "behalf_of_id": users.get(d.get("behalf_of")),
            "is_validated": d.get("is_validated"),
            "validated_at": clock.iso_utc(d.get("validated_at")),
            "validated_by_id": users.get(d.get("validated_by")),
            "thread_id": d["thread_id"],
            "update_details": d.get("update_details", []),
            "created_by_id": users.get(d["author"]),
            "created_at": clock.iso_utc(d["at"]),
            "updated_at": clock.iso_utc(d.get("updated_at")),
        }
        for d in docs
    ]


async def access_groups(request: web.Request) -> web.Response:
    who = caller(request)
    mine = await _known(request, who)
    if who.is_admin:
        mine = await directory_ids.all_of(request.app[ENTRIES].store, who.workspace, GROUP)
    rows = [{"id": n, "grp_uid": uid} for uid, n in sorted(mine.items(), key=lambda x: x[1])]
    return web.json_response({"access_groups": rows})


async def list_updates(request: web.Request) -> web.Response:
    who = caller(request)
    await _known(request, who)
    query = trackops_query.parse_query(request.query)
    parts = [_visible(who), *query.filters()]
    store = request.app[ENTRIES].store
    for number, kind, stored in (
        (query.access_group, GROUP, "access_group"),
        (query.created_by, USER, "author"),
    ):
        if number is not None:
            uid = await directory_ids.uid_of(store, who.workspace, kind, number)
            parts.append(Eq(stored, uid or "-"))
    page, per_page = query.page, query.per_page
    where = And(*parts)
    entries = request.app[ENTRIES]
    docs = await entries.find(
        where, sort=[Sort("number", True)], skip=(page - 1) * per_page, limit=per_page
    )
    total = await entries.count(where)
    meta = {"total": total, "page": page, "per_page": per_page, "pages": -(-total // per_page)}
    return web.json_response({"updates": await _view(request, who, docs), "meta": meta})


async def _load(request: web.Request, who: Identity) -> dict:
    number = int(request.match_info["number"])
    doc = await request.app[ENTRIES].get(f"update:{number}")
    visible = doc is not None and doc["workspace"] == who.workspace
    if not visible or not (who.is_admin or doc["access_group"] in who.groups):
        raise ApiError(404, f"no case update {number}")
    return doc


async def get_update(request: web.Request) -> web.Response:
    who = caller(request)
    await _known(request, who)
    doc = await _load(request, who)
    return web.json_response({"update": (await _view(request, who, [doc]))[0]})


async def _fields(request: web.Request, *, creating: bool) -> dict:
    return read_body(await read_fields(request), creating=creating)


async def _resolve(request: web.Request, who: Identity, fields: dict, app_uid: str) -> dict:
    """Integers in the body -> stored references, checking each names something real."""
    store = request.app[ENTRIES].store
    out: dict = {}
    if "access_group_id" in fields:
        grp = await directory_ids.uid_of(store, who.workspace, GROUP, fields["access_group_id"])
        if grp is None:
            raise Invalid({"access_group_id": ["is not an access group of this workspace"]})
        if not who.is_admin and grp not in who.groups:
            raise ApiError(403, "you are not a member of that access group")
        out["access_group"] = grp
    if "behalf_of_id" in fields:
        user = await directory_ids.uid_of(store, who.workspace, USER, fields["behalf_of_id"])
        if user is None:
            raise Invalid({"behalf_of_id": ["is not a known user"]})
        out["behalf_of"] = user
    if "thread_id" in fields:
        root = await request.app[ENTRIES].get(f"update:{fields['thread_id']}")
        if root is None or root["workspace"] != who.workspace or root["app_uid"] != app_uid:
            raise Invalid({"thread_id": ["is not an update of this case"]})
        out["thread_id"] = root["thread_id"]
    return out


def _stored(fields: dict, moment_stamp: str, who: Identity) -> dict:
    out: dict = {}
    for name in ("subject_id", "event_id", "is_allday", "title", "update_details"):
        if name in fields:
            out[name] = fields[name]
    if "body" in fields:
        out["text"] = fields["body"]
    if "activity_at" in fields:
        out["activity_at"] = clock.stamp(clock.read_timestamp(fields["activity_at"]))
        out.setdefault("is_allday", len(fields["activity_at"]) == 10)
    if "is_validated" in fields:
        out |= {"is_validated": fields["is_validated"], "validated_at": moment_stamp}
        out["validated_by"] = who.user_uid
    return out


def _event(request, model, doc: dict, who: Identity, groups: dict, **extra):
    author = Person(
        usr_uid=who.user_uid, username=who.username, name=who.full_name, email=who.email
    )
    data = model(
        entry_id=doc["id"],
        update_id=doc["number"],
        app_uid=doc["app_uid"],
        app_number=doc["app_number"],
        author=author,
        preview=preview(doc["text"]),
        access_group=doc["access_group"],
        access_group_id=groups.get(doc["access_group"], 0),
        title=doc["title"],
        thread_id=doc["thread_id"],
        is_validated=doc.get("is_validated"),
        **extra,
    )
    return request.app[RUNTIME].event(data, workspace=doc["workspace"], subject=doc["app_uid"])


async def create_update(request: web.Request) -> web.Response:
    who = caller(request)
    mine = await _known(request, who)
    fields = await _fields(request, creating=True)
    if not who.can(PM_CASES) and not who.is_admin:
        raise ApiError(403, "writing case updates needs PM_CASES")
    facts = await request.app[CASES].by_number(who.workspace, fields["casefile_id"])
    if facts is None:
        raise Invalid({"casefile_id": ["is not a case of this workspace"]})
    if "event_id" in fields and fields["event_id"] not in {
        d["del_index"] for d in facts.delegations
    }:
        raise Invalid({"event_id": ["is not a task (del_index) of this case"]})
    refs = await _resolve(request, who, fields, facts.app_uid)
    moment = clock.now()
    stamp = clock.stamp(moment)
    base = {
        "kind": UPDATE,
        "workspace": who.workspace,
        "app_uid": facts.app_uid,
        "app_number": facts.app_number,
        "author": who.user_uid,
        "author_name": who.username,
        "at": stamp,
        "at_ms": clock.millis(moment),
        "updated_at": stamp,
        "is_allday": False,
        "is_validated": None,
        **_stored(fields, stamp, who),
        **refs,
    }
    groups = {
        **mine,
        **(
            await directory_ids.numbers_of(
                request.app[ENTRIES].store, who.workspace, GROUP, {refs["access_group"]}
            )
        ),
    }

    def build(number: int) -> dict:
        return {"id": f"update:{number}", "number": number, "thread_id": number, **base} | (
            {"thread_id": refs["thread_id"]} if "thread_id" in refs else {}
        )

    recipients = await request.app[CASES].group_members(who.workspace, refs["access_group"])

    def announce(doc: dict):
        events = [
            _event(
                request,
                UpdateCreated,
                doc,
                who,
                groups,
                text=doc["text"],
                recipients=recipients,
            )
        ]
        if "is_validated" in fields:
            events.append(_validated(request, doc, who, groups))
        return events

    saved = await request.app[ENTRIES].add_numbered(build, announce)
    return web.json_response({"update": (await _view(request, who, [saved]))[0]}, status=201)


def _validated(request, doc: dict, who: Identity, groups: dict):
    by = Person(usr_uid=who.user_uid, username=who.username, name=who.full_name, email=who.email)
    return _event(
        request,
        UpdateValidated,
        doc,
        who,
        groups,
        validated_by=by,
        validated_at=doc["validated_at"],
    )


async def put_update(request: web.Request) -> web.Response:
    who = caller(request)
    mine = await _known(request, who)
    doc = await _load(request, who)
    fields = await _fields(request, creating=False)
    if who.user_uid != doc["author"] and not who.is_admin:
        raise ApiError(403, "only the author or an administrator may change a case update")
    if "casefile_id" in fields and fields["casefile_id"] != doc["app_number"]:
        raise Invalid({"casefile_id": ["an update cannot move to another case"]})
    refs = await _resolve(request, who, fields, doc["app_uid"])
    stamp = clock.stamp(clock.now())
    changes = {**_stored(fields, stamp, who), **refs, "updated_at": stamp}
    merged = {**doc, **changes}
    store = request.app[ENTRIES].store
    groups = {
        **mine,
        **(await directory_ids.numbers_of(store, who.workspace, GROUP, {merged["access_group"]})),
    }
    events = [_event(request, UpdateChanged, merged, who, groups, changed=sorted(fields))]
    if "is_validated" in fields:
        events.append(_validated(request, merged, who, groups))
    saved = await request.app[ENTRIES].change(doc, changes, *events)
    return web.json_response({"update": (await _view(request, who, [saved]))[0]})
