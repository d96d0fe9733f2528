"""ProcessMaker case notes: list, page and create (seed 003).

    GET  /api/1.0/{workspace}/cases/{app_uid}/notes        array of notes
    GET  /api/1.0/{workspace}/cases/{app_uid}/notes/paged  the seed's page object
    POST /api/1.0/{workspace}/cases/{app_uid}/note         200, no body

The body of a new note is ``NoteBody`` (JSON, form or multipart fields).

Errors are ProcessMaker's ``{"error": {"code": 400, "message": "Bad Request: …"}}``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from casemesh.events.notes import NoteCreated, preview
from casemesh.identity import Identity, caller
from casemesh.web.errors import ApiError
from casemesh.web.forms import read_fields
from casemesh.web.keys import RUNTIME
from services.notes import clock, rights
from services.notes.casefacts import CaseFacts
from services.notes.entries import NOTE
from services.notes.fields import problems
from services.notes.keys import CASES, ENTRIES, FACTS
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


async def _case(
    request: web.Request, who: Identity, reading: Callable[[CaseFacts], bool] | None = None
) -> CaseFacts:
    """The case's facts; for a read (``reading`` decides it) they may come from the cache."""
    app_uid = request.match_info["app_uid"]
    if request.match_info["workspace"] != who.workspace:
        raise ApiError(401, "Unauthorized")
    if reading is None:
        facts = await request.app[CASES].by_uid(app_uid)
    else:
        facts = await request.app[FACTS].read(app_uid, reading)
    if facts is None or facts.workspace != who.workspace:
        raise ApiError(400, f"The application with $app_uid: '{app_uid}' does not exist.")
    return facts


async def _readable(request: web.Request) -> tuple[Identity, CaseFacts, NotesQuery]:
    who = caller(request)
    query = parse_notes_query(request.query)
    facts = await _case(request, who, lambda f: rights.can_read_notes(who, f))
    if not rights.can_read_notes(who, facts):
        raise ApiError(400, NO_PERMISSION)
    return who, facts, query


async def _page(
    request: web.Request, facts: CaseFacts, query: NotesQuery, *, counted: bool = True
) -> tuple[int, list]:
    """The total (if ``counted``) and the page of notes."""
    entries = request.app[ENTRIES]
    where = query.where(facts.workspace, facts.app_uid)
    docs = await entries.find(where, sort=query.order(), skip=query.start, limit=query.limit)
    if not counted:
        total = len(docs)
    elif len(docs) < query.limit and (docs or query.start == 0):
        total = query.start + len(docs)  # the last page: what precedes it and what is on it
    else:
        total = await entries.count(where)
    return total, [note_view(d) for d in docs]


async def list_notes(request: web.Request) -> web.Response:
    _who, facts, query = await _readable(request)
    _total, data = await _page(request, facts, query, counted=False)
    return web.json_response(data)


async def paged_notes(request: web.Request) -> web.Response:
    _who, facts, query = await _readable(request)
    total, data = await _page(request, facts, query)
    return web.json_response(query.page(total, data))


class NoteBody(BaseModel):
    """A new case note: its text and whether to e-mail the case's participants."""

    model_config = ConfigDict(extra="ignore")

    note_content: str = Field(
        min_length=1, max_length=MAX_NOTE, pattern=r"\S", description="The note (plain text)."
    )
    send_mail: Literal[0, 1, "0", "1", ""] | StrictBool = Field(
        0, description="1 to e-mail the note to the case's participants."
    )

    @property
    def mail(self) -> bool:
        return self.send_mail in (1, "1", True)


def _content(fields: dict) -> NoteBody:
    try:
        return NoteBody.model_validate(fields)
    except ValidationError as exc:
        where, message, _value = problems(exc)[0]
        raise ApiError(400, f"Invalid value for ${where.split('.')[0]}: {message}") from None


async def create_note(request: web.Request) -> web.Response:
    who = caller(request)
    fields = await read_fields(request)
    assert isinstance(fields, dict)
    body = _content(fields)
    text, send_mail = body.note_content, body.mail
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
