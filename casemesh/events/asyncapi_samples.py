"""Example envelopes for the event catalogue, built from each event model's JSON schema.

Deterministic (the catalogue kept in the repository must not drift) and valid:
every example passes its model's validation (tests/unit/test_asyncapi.py).
"""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel

EXAMPLE_TIME = "2025-03-14T09:26:53.589793Z"
WORKSPACE = "workflow"

# The service that publishes each type (longest matching prefix wins).
SOURCES = {
    "case": "cases",
    "note": "notes",
    "update": "notes",
    "log": "notes",
    "document": "documents",
    "system.ping": "cases",
    "system.pong": "notes",
}
_TEXT = "The supplier confirmed delivery for Friday."
_STRINGS = {
    "username": "alice",
    "name": "Alice Martin",
    "email": "alice@example.com",
    "app_title": "#42 Purchase request",
    "app_status": "TO_DO",
    "pro_title": "Purchase request",
    "tas_title": "Approve the request",
    "how": "assigned",
    "kind": "INPUT",
    "status": "Ok",
    "title": "Delivery date confirmed",
    "text": _TEXT,
    "preview": _TEXT,
    "filename": "quote.pdf",
    "content_type": "application/pdf",
    "message": "hello",
    "service": "notes",
    "changed": "title",
    "removed": "discount",
    "formats": "pdf",
}
_TIMES = frozenset({"due_date", "unpause_at", "validated_at"})
_INTEGERS = {
    "app_number": 42,
    "del_index": 2,
    "size": 48213,
    "update_id": 7,
    "access_group_id": 3,
    "thread_id": 7,
    "version": 1,
    "app_doc_index": 1,
}
_HASH_LENGTHS = {"sha256": 64, "sha1": 40, "md5": 32}
# Fields holding the same id as another field.
_SAME_ID = {"task_id": "delegation_id", "access_group": "grp_uid"}


def uid(seed: str) -> str:
    """A stable 32-hex id, like ProcessMaker's uids."""
    return hashlib.sha256(seed.encode()).hexdigest()[:32]


def _string(schema: dict[str, Any], name: str) -> str:
    if schema.get("format") == "date-time" or name in _TIMES:
        return EXAMPLE_TIME
    if name in _HASH_LENGTHS:
        return hashlib.sha256(_TEXT.encode()).hexdigest()[: _HASH_LENGTHS[name]]
    if name in _STRINGS:
        return _STRINGS[name]
    if name.endswith(("_uid", "_id")) or name in _SAME_ID:
        return uid(_SAME_ID.get(name, name))
    return f"example {name}"


def sample(schema: dict[str, Any], defs: dict[str, Any], name: str = "") -> Any:
    """A value that fits ``schema``; ``name`` (the field's) picks a realistic one."""
    if "$ref" in schema:
        return sample(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, name)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "anyOf" in schema:
        options = [option for option in schema["anyOf"] if option.get("type") != "null"]
        return sample(options[0], defs, name) if options else None
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        return {key: sample(value, defs, key) for key, value in properties.items()}
    if kind == "array":
        return [sample(schema.get("items", {}), defs, name)]
    if kind == "integer":
        return _INTEGERS.get(name, 1)
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return False
    if kind == "string":
        return _string(schema, name)
    return None


def source_of(event_type: str) -> str:
    words = event_type.split(".")
    for n in range(len(words), 0, -1):
        found = SOURCES.get(".".join(words[:n]))
        if found:
            return found
    return "cases"


def example_envelope(event_type: str, version: int, model: type[BaseModel]) -> dict[str, Any]:
    """One event of ``event_type`` v``version`` as it travels (the envelope's JSON)."""
    schema = model.model_json_schema(mode="serialization")
    data = sample(schema, schema.get("$defs", {}), "data")
    return {
        "id": uid(f"event:{event_type}:{version}"),
        "type": event_type,
        "version": version,
        "time": EXAMPLE_TIME,
        "source": source_of(event_type),
        "workspace": WORKSPACE,
        "subject": data.get("app_uid") or data.get("ping_id", ""),
        "correlation_id": uid(f"request:{event_type}"),
        "data": data,
    }
