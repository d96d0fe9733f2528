"""Kibana's case and comment objects, built from the Casemesh case and its files."""

from __future__ import annotations

import base64
import json

from services.documents.facts import CaseFacts
from services.documents.files import extension
from services.documents.records import ACTIVE

STATUS = {"DRAFT": "open", "TO_DO": "in-progress", "PAUSED": "in-progress"}


def version_token(*parts: int) -> str:
    return base64.b64encode(json.dumps(list(parts), separators=(",", ":")).encode()).decode()


def _user(uid: str, facts: CaseFacts) -> dict | None:
    if not uid:
        return None
    person = facts.people.get(uid, {})
    name = f"{person.get('usr_firstname', '')} {person.get('usr_lastname', '')}".strip()
    return {
        "email": person.get("usr_email") or None,
        "full_name": name or None,
        "username": person.get("usr_username", ""),
        "profile_uid": uid,
    }


def _by(doc: dict) -> dict:
    by = doc["created_by"]
    name = f"{by.get('first_name', '')} {by.get('last_name', '')}".strip()
    return {
        "email": by.get("email") or None,
        "full_name": name or None,
        "username": by.get("username", ""),
        "profile_uid": by["usr_uid"],
    }


def comment_object(doc: dict) -> dict:
    f = doc["files"]["file"]
    stem = f["filename"].rsplit(".", 1)[0] if extension(f["filename"]) else f["filename"]
    return {
        "id": doc["app_doc_uid"],
        "type": "externalReference",
        "owner": "cases",
        "externalReferenceId": doc["app_doc_uid"],
        "externalReferenceStorage": {"type": "savedObject", "soType": "file"},
        "externalReferenceAttachmentTypeId": ".files",
        "externalReferenceMetadata": {
            "files": [
                {
                    "name": stem,
                    "extension": extension(f["filename"]),
                    "mimeType": f["content_type"],
                    "created": doc["created_at"],
                }
            ]
        },
        "version": version_token(doc.get("app_doc_index", 1), 1),
        "created_at": doc["created_at"],
        "created_by": _by(doc),
        "pushed_at": None,
        "pushed_by": None,
        "updated_at": None,
        "updated_by": None,
    }


def case_object(facts: CaseFacts, info: dict, files: list[dict]) -> dict:
    comments = [comment_object(d) for d in files if d["status"] == ACTIVE]
    status = STATUS.get(facts.app_status, "closed")
    created = info.get("app_create_date") or ""
    updated = max([info.get("app_update_date") or created, *(c["created_at"] for c in comments)])
    initiator = info.get("app_init_usr_uid", "")
    assignees = sorted(
        {d["usr_uid"] for d in facts.delegations if d.get("status") == "OPEN" and d.get("usr_uid")}
    )
    return {
        "id": facts.app_uid,
        "version": version_token(len(files) + 1, 1),
        "title": facts.app_title,
        "description": info.get("pro_name", ""),
        "tags": [],
        "status": status,
        "severity": "low",
        "owner": "cases",
        "assignees": [{"uid": uid} for uid in assignees],
        "category": None,
        "customFields": [],
        "settings": {"syncAlerts": False},
        "connector": {"id": "none", "name": "none", "type": ".none", "fields": None},
        "duration": None,
        "closed_at": info.get("app_update_date") if status == "closed" else None,
        "closed_by": None,
        "created_at": created,
        "created_by": _user(initiator, facts),
        "updated_at": updated or None,
        "updated_by": comments[-1]["created_by"] if comments else None,
        "external_service": None,
        "totalComment": len(comments),
        "totalAlerts": 0,
        "comments": comments,
    }
