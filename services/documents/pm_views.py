"""ProcessMaker's shapes for case documents, and the case look-up its routes share."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from casemesh.identity import Identity
from casemesh.web.errors import ApiError
from casemesh.web.keys import SETTINGS
from services.documents.facts import CaseFacts
from services.documents.keys import CASES


async def case_facts(request: web.Request, who: Identity) -> CaseFacts:
    """The case of the path in the caller's workspace, or ProcessMaker's 400."""
    app_uid = request.match_info["app_uid"]
    facts = await request.app[CASES].facts(app_uid)
    if facts is None or facts.workspace != who.workspace:
        raise ApiError(400, f"The Application row '{app_uid}' doesn't exist!")
    return facts


def pm_date(iso: str) -> str:
    return iso[:19].replace("T", " ")


def pm_user(by: dict) -> str:
    return f"{by.get('last_name', '')}, {by.get('first_name', '')} ({by.get('username', '')})"


def link(request: web.Request, doc: dict, kind: str, ext: str = "") -> str:
    base = request.app[SETTINGS].public_url.rstrip("/")
    path = (
        f"/api/1.0/{quote(doc['workspace'], safe='')}/cases/{doc['app_uid']}/"
        f"{kind}-document/{doc['app_doc_uid']}/file?v={doc['version']}"
    )
    return base + path + (f"&ext={ext}" if ext else "")


def input_object(request: web.Request, doc: dict) -> dict:
    return {
        "app_doc_uid": doc["app_doc_uid"],
        "app_doc_filename": doc["files"]["file"]["filename"],
        "doc_uid": doc["doc_uid"],
        "app_doc_version": str(doc["version"]),
        "app_doc_create_date": pm_date(doc["created_at"]),
        "app_doc_create_user": pm_user(doc["created_by"]),
        "app_doc_type": "INPUT",
        "app_doc_index": doc["app_doc_index"],
        "app_doc_del_index": doc.get("del_index", 0),
        "app_doc_comment": doc.get("comment", ""),
        "app_doc_status": doc["status"],
        "app_doc_link": link(request, doc, "input"),
    }


OUTPUT_TYPES = {"PDF": "OUTPUT PDF", "DOC": "OUTPUT DOC", "BOTH": "OUTPUT BOTH"}


def output_object(request: web.Request, doc: dict) -> dict:
    files = doc["files"]
    main = files.get("pdf") or files.get("doc")
    ext = "pdf" if "pdf" in files else "doc"
    return {
        "app_doc_uid": doc["app_doc_uid"],
        "app_doc_filename": main["filename"] if main else "",
        "doc_uid": doc["doc_uid"],
        "app_doc_version": doc["version"],
        "app_doc_create_date": pm_date(doc["created_at"]),
        "app_doc_create_user": pm_user(doc["created_by"]),
        "app_doc_type": OUTPUT_TYPES[doc["generate"]],
        "app_doc_index": doc["app_doc_index"],
        "app_doc_status": doc["status"],
        "app_doc_link": link(request, doc, "output", ext),
    }
