"""TheHive attachments: the notes service stores task-log files here; clients download them.

``POST /internal/v1/attachments`` (internal secret + the caller's signed
identity): the body is the file itself, streamed; query ``app_uid``
(required), ``task`` (the delegation id, optional), ``name``. Answers 201
with TheHive's attachment object ``{name, hashes: [sha256, sha1, md5], size,
contentType, id}``, ``id`` being the sha256. ``GET /api/datastore/{id}?name=``
downloads it; ``GET /api/datastorezip/{id}?name=`` sends it in a zip
encrypted (WinZip AES-256) with the password ``malware``.
"""

from __future__ import annotations

import re

from aiohttp import web

from casemesh.identity import caller
from casemesh.internal import require_internal
from casemesh.web.errors import ApiError
from casemesh.web.keys import RUNTIME, SETTINGS
from services.documents import announce, rights, uploads
from services.documents.downloads import content_disposition, send_file
from services.documents.files import sanitize_filename
from services.documents.keys import CASES, DOCUMENTS
from services.documents.records import ACTIVE, author, new_uid, now_text
from services.documents.request_models import DatastoreQuery, query
from services.documents.zipstream import encrypted_zip

SHA256 = re.compile(r"^[0-9a-f]{64}$")


def attachment_object(doc: dict) -> dict:
    f = doc["files"]["file"]
    return {
        "name": f["filename"],
        "hashes": [f["sha256"], f["sha1"], f["md5"]],
        "size": f["size"],
        "contentType": f["content_type"],
        "id": f["sha256"],
    }


async def store_attachment(request: web.Request) -> web.Response:
    require_internal(request)
    who = caller(request)
    app_uid = request.query.get("app_uid", "")
    facts = await request.app[CASES].facts(app_uid) if app_uid else None
    if facts is None or facts.workspace != who.workspace:
        raise ApiError(404, f"no case {app_uid}")
    if not rights.can_attach(who, facts):
        raise ApiError(403, "you may not attach files to this case")
    task = request.query.get("task", "")
    delegation = next((d for d in facts.delegations if d.get("delegation_id") == task), {})
    name = sanitize_filename(request.query.get("name"), "attachment")
    documents = request.app[DOCUMENTS]
    limit = uploads.upload_limit(request.app[SETTINGS], who.workspace)
    async with uploads.translating(request):
        stored = await documents.blobs.ingest(
            who.workspace, request.content.iter_chunked(uploads.READ_CHUNK), limit=limit, name=name
        )
    uid = new_uid()
    record = {
        "id": f"{uid}.1",
        "app_doc_uid": uid,
        "version": 1,
        "workspace": facts.workspace,
        "app_uid": facts.app_uid,
        "app_number": facts.app_number,
        "kind": "ATTACHMENT",
        "doc_uid": "",
        "tas_uid": delegation.get("tas_uid", ""),
        "delegation_id": task,
        "del_index": delegation.get("del_index", 0),
        "status": ACTIVE,
        "created_at": now_text(),
        "created_by": author(who),
    }
    saved = await documents.add(
        record,
        {"file": (stored, name)},
        events=announce.stored(request.app[RUNTIME], facts),
        new_index=False,
    )
    return web.json_response(attachment_object(saved), status=201)


async def _readable(request: web.Request) -> dict:
    who = caller(request)
    sha256 = request.match_info["id"].lower()
    if not SHA256.match(sha256):
        raise ApiError(404, f"Attachment {request.match_info['id'][:80]} not found")
    found = await request.app[DOCUMENTS].by_hash(who.workspace, "ATTACHMENT", sha256)
    for doc in found:
        facts = await request.app[CASES].facts(doc["app_uid"])
        if facts is not None and rights.can_view_case(who, facts):
            return doc
    raise ApiError(404, f"Attachment {sha256} not found")


def _download_name(request: web.Request, f: dict) -> str:
    given = query(DatastoreQuery, request.query, lambda where, _: f"{where} must be text").name
    return sanitize_filename(given or f["filename"])


async def datastore(request: web.Request) -> web.StreamResponse:
    doc = await _readable(request)
    f = doc["files"]["file"]
    name = _download_name(request, f)
    return await send_file(request, request.app[RUNTIME].objects, f, filename=name)


async def datastore_zip(request: web.Request) -> web.StreamResponse:
    doc = await _readable(request)
    f = doc["files"]["file"]
    name = _download_name(request, f)
    objects = request.app[RUNTIME].objects
    response = web.StreamResponse(
        headers={
            "Content-Disposition": content_disposition(f"{name}.zip"),
            "X-Content-Type-Options": "nosniff",
        }
    )
    response.content_type = "application/zip"
    stream = encrypted_zip(name, objects.get(f["key"]), b"malware")
    try:
        first = await anext(stream, b"")
    except Exception:
        raise ApiError(503, "the object store is unavailable") from None
    await response.prepare(request)
    await response.write(first)
    async for chunk in stream:
        await response.write(chunk)
    await response.write_eof()
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_post("/internal/v1/attachments", store_attachment)
    app.router.add_get("/api/datastore/{id}", datastore)
    app.router.add_get("/api/datastorezip/{id}", datastore_zip)
