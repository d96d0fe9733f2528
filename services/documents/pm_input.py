"""ProcessMaker input documents: list, read, upload (with versions), delete, download.

An upload to a definition with versioning becomes a new version of the
case's latest document of that definition (or of ``app_doc_uid`` when the
client names one); without versioning every upload is its own document.
``app_doc_index`` counts every file of the case, versions included. Delete
only marks the document DELETED. Rights: see ``rights``.
"""

from __future__ import annotations

from aiohttp import BodyPartReader, web

from casemesh.identity import caller
from casemesh.web.errors import ApiError
from casemesh.web.forms import MULTIPART, body_kind, read_fields
from casemesh.web.keys import RUNTIME, SETTINGS
from services.documents import announce, rights, uploads
from services.documents.blobs import Stored
from services.documents.files import sanitize_filename
from services.documents.keys import DOCUMENTS
from services.documents.pm_views import case_facts, input_object
from services.documents.records import ACTIVE, author, new_uid, now_text
from services.documents.request_models import InputUpload, VersionQuery, parse, query

BASE = "/api/1.0/{workspace}/cases/{app_uid}"
FIELDS = ("inp_doc_uid", "tas_uid", "app_doc_comment", "app_doc_uid")


def _missing(app_doc_uid: str) -> ApiError:
    return ApiError(400, f"This input document with app_doc_uid: {app_doc_uid} does not exist!")


async def _document(request: web.Request, app_uid: str, version: int | None = None) -> dict:
    uid = request.match_info["app_doc_uid"]
    doc = await request.app[DOCUMENTS].version(uid, version)
    if (
        doc is None
        or doc["app_uid"] != app_uid
        or doc["kind"] != "INPUT"
        or doc["status"] != ACTIVE
    ):
        raise _missing(uid)
    return doc


async def _readable(request: web.Request):
    who = caller(request)
    facts = await case_facts(request, who)
    if not rights.can_view(who, facts, rights.INPUT):
        raise ApiError(403, "You do not have permission to see the input documents of this case")
    return who, facts


async def list_documents(request: web.Request) -> web.Response:
    who = caller(request)
    facts = await case_facts(request, who)
    if not rights.can_view(who, facts, rights.INPUT):
        return web.json_response([])
    docs = await request.app[DOCUMENTS].latest(facts.app_uid, "INPUT")
    return web.json_response([input_object(request, d) for d in docs if d["status"] == ACTIVE])


async def get_document(request: web.Request) -> web.Response:
    _, facts = await _readable(request)
    return web.json_response(input_object(request, await _document(request, facts.app_uid)))


async def list_versions(request: web.Request) -> web.Response:
    _, facts = await _readable(request)
    doc = await _document(request, facts.app_uid)
    versions = await request.app[DOCUMENTS].versions(doc["app_doc_uid"])
    return web.json_response([input_object(request, v) for v in versions if v["status"] == ACTIVE])


def _version(request: web.Request) -> int | None:
    return query(
        VersionQuery, request.query, lambda where, _: f"{where} must be a version number"
    ).v


async def download(request: web.Request) -> web.StreamResponse:
    from services.documents.downloads import send_file

    _, facts = await _readable(request)
    doc = await _document(request, facts.app_uid, _version(request))
    return await send_file(request, request.app[RUNTIME].objects, doc["files"]["file"])


async def upload(request: web.Request) -> web.Response:
    who = caller(request)
    facts = await case_facts(request, who)
    if not rights.can_upload(who, facts, rights.INPUT):
        raise ApiError(403, "You must be assigned to this case or supervise it to upload")
    settings = request.app[SETTINGS]
    blobs = request.app[DOCUMENTS].blobs
    limit = uploads.upload_limit(settings, who.workspace)
    fields: dict[str, str] = {}
    stored: Stored | None = None
    filename = ""
    if body_kind(request) != MULTIPART:
        # Fields without a file (PHP's http_build_query mangles the path): the seed's 400s.
        raw = await read_fields(request)
        fields = {k: str(v) for k, v in raw.items() if k in FIELDS} if isinstance(raw, dict) else {}
        await _save(request, who, facts, fields, None, "", limit)
    reader = await uploads.open_multipart(request)
    try:
        async with uploads.translating(request):
            async for part in uploads.parts(reader):
                if part.name == "form" and part.filename is not None:
                    if stored is not None:
                        raise ApiError(400, "send one file per upload")
                    filename = sanitize_filename(part.filename)
                    stored = await blobs.ingest(
                        who.workspace,
                        uploads.chunks(part),
                        limit=_limit(facts, fields.get("inp_doc_uid"), limit),
                        name=filename,
                    )
                elif part.name in FIELDS:
                    fields[part.name] = (await uploads.text(part)).strip()
                else:
                    await _skip(part)
        saved = await _save(request, who, facts, fields, stored, filename, limit)
    except BaseException:
        if stored is not None:
            await blobs.discard_key(stored.key)
        raise
    return web.json_response(input_object(request, saved))


async def _skip(part: BodyPartReader) -> None:
    while await part.read_chunk(uploads.READ_CHUNK):
        pass


def _limit(facts, inp_doc_uid: str | None, limit: int) -> int:
    definition = facts.input_document(inp_doc_uid) if inp_doc_uid else None
    cap = definition.get("max_file_size") if definition else None
    return min(limit, cap) if cap else limit


async def _save(request, who, facts, given, stored, filename, limit) -> dict:
    fields = parse(InputUpload, given, _field_problem).model_dump()
    if stored is None:
        raise ApiError(400, "This filename does not exist!")
    definition = facts.input_document(fields["inp_doc_uid"])
    if definition is None:
        raise ApiError(
            400, f"The input document with inp_doc_uid: {fields['inp_doc_uid']} does not exist!"
        )
    if stored.size > _limit(facts, definition["uid"], limit):
        raise ApiError(413, f"Uploaded file ({filename}) is too big.")
    delegation = _delegation(who, facts, fields["tas_uid"])
    documents = request.app[DOCUMENTS]
    previous = await _previous(request, facts, definition, fields["app_doc_uid"])
    record = {
        "id": "",
        "app_doc_uid": previous["app_doc_uid"] if previous else new_uid(),
        "version": previous["version"] + 1 if previous else 1,
        "workspace": facts.workspace,
        "app_uid": facts.app_uid,
        "app_number": facts.app_number,
        "kind": "INPUT",
        "doc_uid": definition["uid"],
        "tas_uid": fields["tas_uid"],
        "del_index": delegation.get("del_index", 0),
        "delegation_id": delegation.get("delegation_id", ""),
        "status": ACTIVE,
        "comment": fields["app_doc_comment"][:5000],
        "created_at": now_text(),
        "created_by": author(who),
    }
    record["id"] = f"{record['app_doc_uid']}.{record['version']}"
    return await documents.add(
        record,
        {"file": (stored, filename)},
        events=announce.stored(request.app[RUNTIME], facts),
        supersedes=previous,
    )


def _field_problem(where: str, err: dict) -> str:
    if err.get("type") in ("missing", "string_too_short"):
        return f"`{where}` is required but missing"
    return f"`{where}` is not valid: {err.get('msg', '')}"


def _delegation(who, facts, tas_uid: str) -> dict:
    rows = [d for d in facts.delegations if d.get("tas_uid") == tas_uid]
    if not rows:
        raise ApiError(400, f"The task with tas_uid: {tas_uid} is not a task of this case")
    mine = [d for d in rows if d.get("usr_uid") == who.user_uid and d.get("status") == "OPEN"]
    privileged = who.is_admin or who.user_uid in facts.supervisors
    if not mine and not privileged:
        raise ApiError(403, "You are not assigned to this task of the case")
    return (mine or rows)[-1]


async def _previous(request, facts, definition: dict, app_doc_uid: str) -> dict | None:
    documents = request.app[DOCUMENTS]
    if app_doc_uid:
        doc = await documents.version(app_doc_uid)
        if doc is None or doc["app_uid"] != facts.app_uid or doc["doc_uid"] != definition["uid"]:
            raise _missing(app_doc_uid)
        if not definition.get("versioning", True):
            raise ApiError(400, "versioning is not enabled for this input document")
        return doc
    if not definition.get("versioning", True):
        return None
    latest = [
        d
        for d in await documents.latest(facts.app_uid, "INPUT")
        if d["doc_uid"] == definition["uid"] and d["status"] == ACTIVE
    ]
    return latest[-1] if latest else None


async def delete(request: web.Request) -> web.Response:
    who = caller(request)
    facts = await case_facts(request, who)
    doc = await _document(request, facts.app_uid)
    if not rights.can_delete(who, facts, rights.INPUT):
        raise ApiError(403, "You do not have permission to delete this input document")
    await request.app[DOCUMENTS].mark_deleted(
        doc["app_doc_uid"], announce.deleted(request.app[RUNTIME], facts, author(who))
    )
    return web.Response(status=200)


def add_routes(app: web.Application) -> None:
    one = f"{BASE}/input-document/{{app_doc_uid}}"
    app.router.add_get(f"{BASE}/input-documents", list_documents)
    app.router.add_post(f"{BASE}/input-document", upload)
    app.router.add_get(one, get_document)
    app.router.add_get(f"{one}/versions", list_versions)
    app.router.add_get(f"{one}/file", download)
    app.router.add_delete(one, delete)
    app.router.add_delete(f"{BASE}/{{del_index:\\d+}}/input-document/{{app_doc_uid}}", delete)
