"""Kibana case files: attach a file to a case, read the case and its comments.

``caseId`` is the Casemesh ``app_uid``. Every write needs ``kbn-xsrf``; a
file is at most 100 MiB (and the workspace limit) and a case holds at most
100 files. Each file becomes a comment of type ``externalReference`` with
``metadata.files[{name, extension, mimeType, created}]``.
"""

from __future__ import annotations

from aiohttp import web

from casemesh.identity import Identity, caller
from casemesh.web.errors import ApiError
from casemesh.web.keys import RUNTIME, SETTINGS
from services.documents import announce, rights, uploads
from services.documents.blobs import Stored
from services.documents.facts import CaseFacts
from services.documents.files import extension, sanitize_filename
from services.documents.keys import CASES, DOCUMENTS
from services.documents.kibana_views import case_object, comment_object
from services.documents.records import ACTIVE, author, new_uid, now_text
from services.documents.request_models import KibanaFile, parse

MAX_FILE = 100 * 1024 * 1024
MAX_FILES = 100
PREFIXES = ("", "/s/{space}")


async def _case(request: web.Request, who: Identity) -> CaseFacts:
    case_id = request.match_info["case_id"]
    facts = await request.app[CASES].facts(case_id)
    if facts is None or not rights.can_view_case(who, facts):
        raise ApiError(404, f"Saved object [cases/{case_id}] not found")
    return facts


async def _answer(request: web.Request, facts: CaseFacts) -> web.Response:
    files = await request.app[DOCUMENTS].all_of_case(facts.app_uid, "CASE_FILE")
    info = await request.app[CASES].public(request, facts.workspace, f"/cases/{facts.app_uid}")
    return web.json_response(case_object(facts, info or {}, files))


async def get_case(request: web.Request) -> web.Response:
    who = caller(request)
    return await _answer(request, await _case(request, who))


async def get_comments(request: web.Request) -> web.Response:
    who = caller(request)
    facts = await _case(request, who)
    files = await request.app[DOCUMENTS].all_of_case(facts.app_uid, "CASE_FILE")
    comments = [comment_object(d) for d in files if d["status"] == ACTIVE]
    return web.json_response(
        {"page": 1, "per_page": 20, "total": len(comments), "comments": comments}
    )


async def post_file(request: web.Request) -> web.Response:
    if "kbn-xsrf" not in request.headers:
        raise ApiError(400, "Request must contain a kbn-xsrf header.")
    who = caller(request)
    facts = await _case(request, who)
    if not rights.can_attach(who, facts):
        raise ApiError(403, f"Unauthorized to attach files to case {facts.app_uid}")
    documents = request.app[DOCUMENTS]
    existing = await documents.all_of_case(facts.app_uid, "CASE_FILE")
    if len([d for d in existing if d["status"] == ACTIVE]) >= MAX_FILES:
        raise ApiError(400, f"Case has reached the maximum allowed number ({MAX_FILES}) of files.")
    limit = min(MAX_FILE, uploads.upload_limit(request.app[SETTINGS], who.workspace))
    stored: Stored | None = None
    name, given = "", ""
    reader = await uploads.open_multipart(request)
    try:
        async with uploads.translating(request, lambda _: _too_large(limit)):
            async for part in uploads.parts(reader):
                if part.name == "file" and part.filename is not None and stored is None:
                    name = sanitize_filename(part.filename)
                    stored = await documents.blobs.ingest(
                        who.workspace, uploads.chunks(part), limit=limit, name=name
                    )
                elif part.name == "filename":
                    text = {"filename": (await uploads.text(part)).strip()}
                    given = sanitize_filename(parse(KibanaFile, text, _problem).filename, "")
                else:
                    while await part.read_chunk(uploads.READ_CHUNK):
                        pass
        if stored is None:
            raise ApiError(400, "[request body.file]: expected value of type [object]")
        saved_name = f"{given}.{extension(name)}" if given and extension(name) else given or name
        await documents.add(
            _record(who, facts),
            {"file": (stored, saved_name)},
            events=announce.stored(request.app[RUNTIME], facts),
        )
        stored = None
    except BaseException:
        if stored is not None:
            await documents.blobs.discard_key(stored.key)
        raise
    return await _answer(request, facts)


def _problem(where: str, err: dict) -> str:
    return f"[request body.{where}]: {err.get('msg', 'invalid')}"


def _too_large(limit: int) -> str:
    return f"Payload content length greater than maximum allowed: {limit}"


def _record(who: Identity, facts: CaseFacts) -> dict:
    uid = new_uid()
    return {
        "id": f"{uid}.1",
        "app_doc_uid": uid,
        "version": 1,
        "workspace": facts.workspace,
        "app_uid": facts.app_uid,
        "app_number": facts.app_number,
        "kind": "CASE_FILE",
        "doc_uid": "",
        "status": ACTIVE,
        "created_at": now_text(),
        "created_by": author(who),
    }


def add_routes(app: web.Application) -> None:
    for prefix in PREFIXES:
        base = f"{prefix}/api/cases/{{case_id}}"
        app.router.add_get(base, get_case)
        app.router.add_get(f"{base}/comments", get_comments)
        app.router.add_post(f"{base}/files", post_file)
