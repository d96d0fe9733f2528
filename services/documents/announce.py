"""Document events, built from a stored record and the case's facts."""

from __future__ import annotations

from pydantic import BaseModel

from casemesh.events import Envelope
from casemesh.events.cases import Person
from casemesh.events.documents import (
    DocumentDeleted,
    DocumentUploaded,
    DocumentVersionAdded,
    FileRef,
    OutputGenerated,
)
from casemesh.runtime import Runtime
from services.documents.facts import CaseFacts


def _person(by: dict) -> Person:
    name = f"{by.get('first_name', '')} {by.get('last_name', '')}".strip()
    return Person(
        usr_uid=by["usr_uid"],
        username=by.get("username", ""),
        name=name or by.get("username", ""),
        email=by.get("email", ""),
    )


def _fields(doc: dict, facts: CaseFacts, by: dict | None = None) -> dict:
    return {
        "app_doc_uid": doc["app_doc_uid"],
        "app_uid": doc["app_uid"],
        "app_number": facts.app_number,
        "app_title": facts.app_title,
        "kind": doc["kind"],
        "doc_uid": doc.get("doc_uid", ""),
        "version": doc["version"],
        "app_doc_index": doc.get("app_doc_index", 0),
        "tas_uid": doc.get("tas_uid", ""),
        "delegation_id": doc.get("delegation_id", ""),
        "by": _person(by or doc["created_by"]),
        "files": [
            FileRef(
                **{k: f[k] for k in ("filename", "size", "content_type", "sha256", "sha1", "md5")}
            )
            for f in doc.get("files", {}).values()
        ],
    }


def _wrap(runtime: Runtime, data: BaseModel, doc: dict) -> list[Envelope]:
    return [runtime.event(data, workspace=doc["workspace"], subject=doc["app_uid"])]


def stored(runtime: Runtime, facts: CaseFacts):
    """Events for a new document or a new version of one."""

    def build(doc: dict) -> list[Envelope]:
        model = DocumentUploaded if doc["version"] == 1 else DocumentVersionAdded
        return _wrap(runtime, model(**_fields(doc, facts)), doc)

    return build


def generated(runtime: Runtime, facts: CaseFacts):
    def build(doc: dict) -> list[Envelope]:
        formats = sorted(doc.get("files", {}))
        return _wrap(runtime, OutputGenerated(**_fields(doc, facts), formats=formats), doc)

    return build


def deleted(runtime: Runtime, facts: CaseFacts, by: dict):
    def build(doc: dict) -> list[Envelope]:
        return _wrap(runtime, DocumentDeleted(**_fields(doc, facts, by)), doc)

    return build
