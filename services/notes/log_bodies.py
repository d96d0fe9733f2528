"""Request bodies of TheHive's log routes: JSON fields, multipart ``_json`` + ``attachment``.

Attribute rules as TheHive's: keys starting with ``_`` and unknown keys are
refused (``AttributeCheckingError``); ``message`` is required on create;
``startDate`` is epoch milliseconds; ``status`` is ``Ok`` or ``Deleted``.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any
from urllib.parse import unquote

from aiohttp import BodyPartReader, web

from casemesh.web.errors import ApiError
from casemesh.web.forms import MULTIPART, body_kind, check_shape, read_fields
from services.notes.attachments import ATTACHMENTS, AttachmentRefused

CREATE_FIELDS = frozenset({"message", "startDate"})
UPDATE_FIELDS = frozenset({"message", "startDate", "status"})
STORED = {"message": "text", "startDate": "start_ms", "status": "status"}
MAX_MESSAGE = 100_000
MAX_JSON_PART = 1024 * 1024


class AttributeCheckingError(Exception):
    """A body attribute TheHive would refuse."""


class TheHiveError(Exception):
    """An error answered as ``{"type": kind, "message": message}``."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


def json_param(raw: str, name: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(400, f"{name} is not valid JSON") from None


async def json_object(request: web.Request, *, max_depth: int = 16) -> dict:
    fields = await read_fields(request, max_depth=max_depth)
    if not isinstance(fields, dict):
        raise ApiError(400, "the body must be a JSON object")
    return fields


async def search_body(request: web.Request) -> dict:
    # Deeper than the query compiler allows, so a deep query gets its SearchError.
    return await json_object(request, max_depth=64) if request.can_read_body else {}


def _check(fields: dict, allowed: frozenset[str]) -> dict:
    for key in fields:
        if key.startswith("_"):
            raise AttributeCheckingError(
                f"attribute {key[:50]!r} is not allowed: it starts with '_'"
            )
        if key not in allowed:
            raise AttributeCheckingError(f"unknown attribute {key[:50]!r} for case_task_log")
    out: dict[str, Any] = {}
    if "message" in fields:
        message = fields["message"]
        if not isinstance(message, str) or not message.strip() or len(message) > MAX_MESSAGE:
            raise AttributeCheckingError("message must be a non-empty text")
        out["message"] = message
    if "startDate" in fields:
        start = fields["startDate"]
        if isinstance(start, str) and start.isdigit():
            start = int(start)
        if not isinstance(start, int) or isinstance(start, bool) or start < 0:
            raise AttributeCheckingError("startDate must be a date in epoch milliseconds")
        out["startDate"] = start
    if "status" in fields:
        if fields["status"] not in ("Ok", "Deleted"):
            raise AttributeCheckingError("status must be Ok or Deleted")
        out["status"] = fields["status"]
    return out


def create_fields(fields: dict) -> dict:
    checked = _check(fields, CREATE_FIELDS)
    if "message" not in checked:
        raise AttributeCheckingError("message is required")
    return checked


def update_fields(fields: dict) -> dict:
    checked = _check(fields, UPDATE_FIELDS)
    if not checked:
        raise AttributeCheckingError("nothing to update")
    return checked


async def create_body(request: web.Request, app_uid: str) -> tuple[dict, dict | None]:
    """The log's fields, and TheHive's attachment object if a file was sent (and stored)."""
    if body_kind(request) != MULTIPART:
        return create_fields(await json_object(request)), None
    reader = await request.multipart()
    fields: dict | None = None
    attachment: dict | None = None
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise ApiError(400, "nested multipart bodies are not supported")
        if part.name == "_json":
            raw = await part.read(decode=True)
            if len(raw) > MAX_JSON_PART:
                raise ApiError(413, "the _json part is too large")
            fields = json_param(raw.decode("utf-8", "replace"), "_json")
            if not isinstance(fields, dict):
                raise ApiError(400, "_json must be a JSON object")
            check_shape(fields)
        elif part.name == "attachment":
            # Some clients percent-encode the filename (aiohttp does): decode, then
            # strip directory parts as TheHive does.
            raw_name = unquote(part.filename or "").replace("\\", "/")
            name = posixpath.basename(raw_name) or "attachment"
            attachment = await store_attachment(request, part, name, app_uid)
        else:
            await part.release()
    if fields is None:
        raise ApiError(400, "a multipart log needs a _json part")
    return create_fields(fields), attachment


async def store_attachment(
    request: web.Request, part: BodyPartReader, name: str, app_uid: str
) -> dict:
    """Stream the file to the documents service; TheHive's attachment object back."""
    try:
        return await request.app[ATTACHMENTS].upload(
            request, part, name=name, app_uid=app_uid, task_id=request.match_info["task_id"]
        )
    except AttachmentRefused as refused:
        raise TheHiveError(refused.status, refused.kind, refused.message) from None
