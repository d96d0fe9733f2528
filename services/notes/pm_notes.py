"""ProcessMaker case notes: list, page and create (seed 003).

    GET  /api/1.0/{workspace}/cases/{app_uid}/notes        array of notes
    GET  /api/1.0/{workspace}/cases/{app_uid}/notes/paged  the seed's page object
    POST /api/1.0/{workspace}/cases/{app_uid}/note         200, no body

Errors are ProcessMaker's ``{"error": {"code": 400, "message": "Bad Request: …"}}``.
"""

from __future__ import annotations

import uuid

from aiohttp import web

from casemesh.events.notes import NoteCreated, preview
from casemesh.identity import Identity, caller
from casemesh.web.errors import ApiError
from casemesh.web.forms import read_fields
from casemesh.web.keys import RUNTIME
from services.notes import clock, rights
from services.notes.casefacts import CaseFacts
from services.notes.entries import NOTE
from services.notes.keys import CASES, ENTRIES
from services.notes.pm_query import NotesQuery, parse_notes_query

BASE = "/api/1.0/{workspace}/cases/{app_uid}"
NO_PERMISSION = "You do not have permission to access the cases notes"
MAX_NOTE = 500


def add_routes(app: web.Application) -> None:
    app.router.add_get(f"{BASE}/notes", list_notes)
    app.router.add_get(f"{BASE}/notes/paged", paged_notes)
    app.router.add_post(f"{BASE}/note", create_note)


def note_view(doc: dict) -> dict:
    return {
        "app_uid": doc["app_uid"],
        "usr_uid": doc["author"],
        "note_date": clock.pm_date(doc["at"]),
        "note_content": doc["text"],
    }


async def _case(request: web.Request, who: Identity) -> CaseFacts:
    app_uid = request.match_info["app_uid"]
    if request.match_info["workspace"] != who.workspace:
        raise ApiError(401, "Unauthorized")
    facts = await request.app[CASES].by_uid(app_uid)
    if facts is None or facts.workspace != who.workspace:
        raise ApiError(400, f"The application with $app_uid: '{app_uid}' does not exist.")
    return facts


async def _readable(request: web.Request) -> tuple[Identity, CaseFacts, NotesQuery]:
    who = caller(request)
    query = parse_notes_query(request.query)
    facts = await _case(request, who)
    if not rights.can_read_notes(who, facts):
        raise ApiError(400, NO_PERMISSION)
    return who, facts, query


async def _page(request: web.Request, facts: CaseFacts, query: NotesQuery) -> tuple[int, list]:
    entries = request.app[ENTRIES]
    where = query.where(facts.workspace, facts.app_uid)
    docs = await entries.find(where, sort=query.order(), skip=query.start, limit=query.limit)
    return await entries.count(where), [note_view(d) for d in docs]


async def list_notes(request: web.Request) -> web.Response:
    _who, facts, query = await _readable(request)
    _total, data = await _page(request, facts, query)
    return web.json_response(data)


async def paged_notes(request: web.Request) -> web.Response:
    _who, facts, query = await _readable(request)
    total, data = await _page(request, facts, query)
    return web.json_response(query.page(total, data))


def _content(fields: dict) -> tuple[str, bool]:
    text = fields.get("note_content")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "Invalid value for $note_content: the note must not be empty")
    if len(text) > MAX_NOTE:
        raise ApiError(400, f"Invalid value for $note_content: at most {MAX_NOTE} characters")
    raw = fields.get("send_mail", 0)
    if raw in (0, 1, "0", "1", "", True, False):
        return text, raw in (1, "1", True)
    raise ApiError(400, "Invalid value for $send_mail: use 0 or 1")


async def create_note(request: web.Request) -> web.Response:
    who = caller(request)
    fields = await read_fields(request)
    assert isinstance(fields, dict)
    text, send_mail = _content(fields)
    facts = await _case(request, who)
    if not rights.can_create_note(who, facts):
        raise ApiError(400, NO_PERMISSION)
    moment = clock.now()
    doc = {
        "id": uuid.uuid4().hex,
        "kind": NOTE,
        "workspace": facts.workspace,
        "app_uid": facts.app_uid,
        "app_number": facts.app_number,
        "author": who.user_uid,
        "author_name": who.username,
        "at": clock.stamp(moment),
        "at_ms": clock.millis(moment),
        "text": text,
        "send_mail": send_mail,
    }
    event = request.app[RUNTIME].event(
        NoteCreated(
            entry_id=doc["id"],
            app_uid=facts.app_uid,
            app_number=facts.app_number,
            app_title=facts.app_title,
            author=_author(who, facts),
            preview=preview(text),
            text=text,
            send_mail=send_mail,
            participants=facts.participant_people(),
        ),
        workspace=facts.workspace,
        subject=facts.app_uid,
    )
    await request.app[ENTRIES].add(doc, event)
    return web.Response(status=200)


def _author(who: Identity, facts: CaseFacts):
    author = facts.person(who.user_uid)
    return author.model_copy(
        update={
            "username": author.username or who.username,
            "name": author.name or who.full_name,
            "email": author.email or who.email,
        }
    )
