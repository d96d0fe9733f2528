"""The notes service's public contract: every route it serves through the gateway.

ProcessMaker case notes, TheHive task logs, Trackops case updates and the
Casemesh timeline. Each operation points at the pydantic model its handler
validates with (``pm_query``, ``pm_notes``, ``log_bodies``,
``trackops_body``, ``trackops_query``, ``timeline``) and at the models
describing its answers (``responses``). Served as an OpenAPI fragment at
``GET /openapi.json``; the gateway merges it with the other services'.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from casemesh.web.openapi import (
    FORM,
    JSON,
    MULTIPART,
    CasemeshError,
    Operation,
    ProcessMakerError,
    Response,
    TheHiveError,
)
from services.notes import responses
from services.notes.log_bodies import LogCreate, LogSearch, LogSearchParams, LogUpdate
from services.notes.pm_notes import NoteBody
from services.notes.pm_query import NotesQuery
from services.notes.timeline import TimelineQuery
from services.notes.trackops_body import MAX_ID, UpdateChangeBody, UpdateCreateBody
from services.notes.trackops_query import UpdatesQuery

NAME = "notes"
FIELDS = (JSON, FORM, MULTIPART)  # what casemesh.web.forms.read_fields reads
WORKSPACE = {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,64}$", "examples": ["workflow"]}
BODY_ERRORS = (400, 403, 404, 413, 415)
DONE = Response(description="done; no body")
TOTAL = {"X-Total": "how many logs match, over every page"}
NUMBER = {"type": "integer", "minimum": 0, "maximum": MAX_ID}
# TheHive's multipart form: the log as JSON in ``_json``, the file in ``attachment``.
LOG_MULTIPART = {
    "type": "object",
    "properties": {
        "_json": {
            "type": "string",
            "description": "The log's attributes, as JSON.",
            "contentMediaType": JSON,
            "contentSchema": {"$ref": f"#/components/schemas/{NAME}.LogCreate"},
        },
        "attachment": {
            "type": "string",
            "format": "binary",
            "description": "A file to attach (stored by the documents service).",
        },
    },
    "required": ["_json"],
}


def _list(model: Any) -> TypeAdapter:
    return TypeAdapter(list[model])


def _case_notes() -> list[Operation]:
    tag = ("ProcessMaker: case notes",)
    base = "/api/1.0/{workspace}/cases/{app_uid}"
    common: dict[str, Any] = {
        "tags": tag,
        "error": ProcessMakerError,
        "path_params": {"workspace": WORKSPACE},
    }
    return [
        Operation("GET", base + "/notes", "A case's notes", query=NotesQuery,
                  responses={200: _list(responses.CaseNote)}, errors=(400,), **common),
        Operation("GET", base + "/notes/paged", "A case's notes, one page with its filters",
                  query=NotesQuery, responses={200: responses.NotesPage}, errors=(400,),
                  **common),
        Operation("POST", base + "/note", "Add a note to a case (and e-mail it if asked)",
                  body=NoteBody, body_media=FIELDS, responses={200: DONE},
                  errors=(400, 413, 415), **common),
    ]  # fmt: skip


def _task_logs() -> list[Operation]:
    common: dict[str, Any] = {"tags": ("TheHive: task logs",), "error": TheHiveError}
    task, log = "/api/case/task/{task_id}", "/api/case/task/log/{log_id}"
    found = Response(_list(responses.TaskLog), headers=TOTAL)
    search: dict[str, Any] = {
        "query": LogSearchParams,
        "body": LogSearch,
        "body_media": (JSON,),
        "body_required": False,
        "responses": {200: found},
    }
    return [
        Operation("GET", task + "/log", "A task's logs", query=LogSearchParams,
                  responses={200: found}, errors=(400, 403, 404), **common),
        Operation("POST", task + "/log/_search", "Search a task's logs",
                  errors=(400, 403, 404, 413, 415), **search, **common),
        Operation("POST", "/api/case/task/log/_search", "Search every log the caller may see",
                  errors=(400, 413, 415), **search, **common),
        Operation("POST", task + "/log", "Add a log to a task, with a file if sent as multipart",
                  body=LogCreate, body_media=(JSON, FORM), body_schemas={MULTIPART: LOG_MULTIPART},
                  responses={201: responses.TaskLog}, errors=BODY_ERRORS, **common),
        Operation("GET", log, "A log", responses={200: responses.TaskLog}, errors=(403, 404),
                  **common),
        Operation("PATCH", log, "Change a log (its author, a supervisor or an administrator)",
                  body=LogUpdate, body_media=(JSON, FORM), responses={200: responses.TaskLog},
                  errors=(*BODY_ERRORS, 409), **common),
        Operation("DELETE", log, "Mark a log Deleted", responses={200: DONE},
                  errors=(403, 404, 409), **common),
    ]  # fmt: skip


def _case_updates() -> list[Operation]:
    common: dict[str, Any] = {"tags": ("Trackops: case updates",), "error": CasemeshError}
    base, one = "/api/v1/case/updates", "/api/v1/case/updates/{number}"
    invalid = {422: Response(responses.UpdateInvalid, "a field is not valid")}
    number = {"number": NUMBER}
    return [
        Operation("GET", base, "Case updates the caller may see, newest first",
                  query=UpdatesQuery, responses={200: responses.UpdatesPage, **invalid},
                  errors=(), **common),
        Operation("POST", base, "Post a case update", body=UpdateCreateBody, body_media=FIELDS,
                  responses={201: responses.OneUpdate, **invalid},
                  errors=(400, 403, 413, 415), **common),
        Operation("GET", base + "/access-groups", "The access groups the caller may post to",
                  responses={200: responses.AccessGroups}, errors=(), **common),
        Operation("GET", one, "A case update", responses={200: responses.OneUpdate},
                  errors=(404,), path_params=number, **common),
        Operation("PUT", one, "Change a case update (its author or an administrator)",
                  body=UpdateChangeBody, body_media=FIELDS,
                  responses={200: responses.OneUpdate, **invalid},
                  errors=(*BODY_ERRORS, 409), path_params=number, **common),
    ]  # fmt: skip


def _timeline() -> list[Operation]:
    return [
        Operation(
            "GET",
            "/casemesh/v1/timeline/{app_uid}",
            "A case's timeline: notes, updates, logs and workflow transitions in time order",
            ("Casemesh: timeline",),
            query=TimelineQuery,
            responses={200: responses.Timeline},
            error=CasemeshError,
            errors=(400, 404),
        )
    ]


def operations() -> list[Operation]:
    """Every public route of the notes service, as the gateway serves it."""
    return [*_case_notes(), *_task_logs(), *_case_updates(), *_timeline()]
