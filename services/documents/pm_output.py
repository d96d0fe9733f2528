"""ProcessMaker output documents: generate from the definition's template, list, read, delete.

Regenerating adds a version (and a new ``app_doc_index``) when the
definition has versioning, and otherwise replaces the files of the same
version and index, releasing the old blobs. Rights: as input documents, on
OUTPUT_DOCUMENTS (see ``rights``); a caller without rights gets an empty list.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from casemesh.identity import caller
from casemesh.web.errors import ApiError
from casemesh.web.forms import read_fields
from casemesh.web.keys import RUNTIME
from services.documents import announce, rights
from services.documents.blobs import Stored, StoreDown
from services.documents.downloads import send_file
from services.documents.files import sanitize_filename
from services.documents.keys import CASES, DOCUMENTS
from services.documents.pm_views import case_facts, output_object
from services.documents.records import ACTIVE, author, new_uid, now_text
from services.documents.render import generate, render_filename
from services.documents.request_models import OutputFileQuery, OutputGenerate, parse, query

BASE = "/api/1.0/{workspace}/cases/{app_uid}"
FORMATS = {"PDF": ["pdf"], "DOC": ["doc"], "BOTH": ["pdf", "doc"]}
EXTENSIONS = {"pdf": "pdf", "doc": "docx"}


def _missing(uid: str) -> ApiError:
    return ApiError(400, f"This output document with app_doc_uid: {uid} does not exist!")


async def _document(request: web.Request, app_uid: str, version: int | None = None) -> dict:
    uid = request.match_info["app_doc_uid"]
    doc = await request.app[DOCUMENTS].version(uid, version)
    if doc is None or doc["app_uid"] != app_uid or doc["kind"] != "OUTPUT":
        raise _missing(uid)
    if doc["status"] != ACTIVE:
        raise _missing(uid)
    return doc


async def _readable(request: web.Request):
    who = caller(request)
    facts = await case_facts(request, who)
    if not rights.can_view(who, facts, rights.OUTPUT):
        raise ApiError(403, "You do not have permission to see the output documents of this case")
    return who, facts


async def list_documents(request: web.Request) -> web.Response:
    who = caller(request)
    facts = await case_facts(request, who)
    if not rights.can_view(who, facts, rights.OUTPUT):
        return web.json_response([])
    docs = await request.app[DOCUMENTS].latest(facts.app_uid, "OUTPUT")
    return web.json_response([output_object(request, d) for d in docs if d["status"] == ACTIVE])


async def get_document(request: web.Request) -> web.Response:
    _, facts = await _readable(request)
    return web.json_response(output_object(request, await _document(request, facts.app_uid)))


async def download(request: web.Request) -> web.StreamResponse:
    _, facts = await _readable(request)
    wanted = query(OutputFileQuery, request.query, _query_problem)
    doc = await _document(request, facts.app_uid, wanted.v)
    ext = wanted.ext or ("pdf" if "pdf" in doc["files"] else "doc")
    if ext not in doc["files"]:
        raise ApiError(400, f"this output document has no {ext} file")
    return await send_file(request, request.app[RUNTIME].objects, doc["files"][ext])


def _query_problem(where: str, err: dict) -> str:
    if where == "v":
        return "v must be a version number"
    return "ext must be pdf or doc"


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def generate_document(request: web.Request) -> web.Response:
    who = caller(request)
    facts = await case_facts(request, who)
    fields = await read_fields(request)
    out_doc_uid = parse(OutputGenerate, fields, _body_problem).out_doc_uid
    definition = facts.output_document(out_doc_uid)
    if definition is None:
        raise ApiError(400, f"The output document with out_doc_uid: {out_doc_uid} does not exist!")
    if not rights.can_upload(who, facts, rights.OUTPUT):
        raise ApiError(403, "You must be assigned to this case or supervise it to generate")
    variables = (
        await request.app[CASES].public(
            request, facts.workspace, f"/cases/{facts.app_uid}/variables"
        )
        or {}
    )
    formats = FORMATS[definition.get("generate", "PDF")]
    made = await asyncio.to_thread(
        generate, definition["template"], variables, definition["title"], formats
    )
    stem = sanitize_filename(render_filename(definition.get("filename", "document"), variables))
    documents = request.app[DOCUMENTS]
    stored: dict[str, tuple[Stored, str]] = {}
    try:
        for ext, data in made.items():
            name = f"{stem}.{EXTENSIONS[ext]}"
            upload = await documents.blobs.ingest(
                facts.workspace, _one(data), limit=len(data), name=name
            )
            stored[ext] = (upload, name)
    except StoreDown:
        for upload, _ in stored.values():
            await documents.blobs.discard_key(upload.key)
        raise ApiError(503, "the object store is unavailable; try again later") from None
    saved = await _save(request, who, facts, definition, stored)
    return web.json_response(output_object(request, saved))


def _body_problem(where: str, err: dict) -> str:
    if err.get("type") in ("missing", "string_too_short"):
        return f"`{where}` is required but missing"
    return f"`{where}` is not valid: {err.get('msg', '')}"


async def _save(request, who, facts, definition, stored) -> dict:
    documents = request.app[DOCUMENTS]
    existing = [
        d
        for d in await documents.latest(facts.app_uid, "OUTPUT")
        if d["doc_uid"] == definition["uid"] and d["status"] == ACTIVE
    ]
    previous = existing[-1] if existing else None
    versioning = definition.get("versioning", True)
    open_rows = [d for d in facts.delegations if d.get("status") == "OPEN"]
    task = next((d for d in open_rows if d.get("usr_uid") == who.user_uid), None) or (
        open_rows[-1] if open_rows else {}
    )
    uid = previous["app_doc_uid"] if previous else new_uid()
    version = previous["version"] + (1 if versioning else 0) if previous else 1
    record = {
        "id": f"{uid}.{version}",
        "app_doc_uid": uid,
        "version": version,
        "workspace": facts.workspace,
        "app_uid": facts.app_uid,
        "app_number": facts.app_number,
        "kind": "OUTPUT",
        "doc_uid": definition["uid"],
        "generate": definition.get("generate", "PDF"),
        "tas_uid": task.get("tas_uid", ""),
        "del_index": task.get("del_index", 0),
        "delegation_id": task.get("delegation_id", ""),
        "status": ACTIVE,
        "created_at": now_text(),
        "created_by": author(who),
    }
    replace = previous is not None and not versioning
    if replace:
        record["app_doc_index"] = previous["app_doc_index"]
    return await documents.add(
        record,
        stored,
        events=announce.generated(request.app[RUNTIME], facts),
        new_index=not replace,
        supersedes=previous if previous is not None and versioning else None,
        replaces=previous if replace else None,
    )


async def delete(request: web.Request) -> web.Response:
    who = caller(request)
    facts = await case_facts(request, who)
    doc = await _document(request, facts.app_uid)
    if not rights.can_delete(who, facts, rights.OUTPUT):
        raise ApiError(403, "You do not have permission to delete this output document")
    await request.app[DOCUMENTS].mark_deleted(
        doc["app_doc_uid"], announce.deleted(request.app[RUNTIME], facts, author(who))
    )
    return web.Response(status=200)


def add_routes(app: web.Application) -> None:
    one = f"{BASE}/output-document/{{app_doc_uid}}"
    app.router.add_get(f"{BASE}/output-documents", list_documents)
    app.router.add_post(f"{BASE}/output-document", generate_document)
    app.router.add_post(f"{BASE}/output-document/", generate_document)
    app.router.add_get(one, get_document)
    app.router.add_get(f"{one}/file", download)
    app.router.add_delete(one, delete)
