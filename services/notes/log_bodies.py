"""Request bodies of TheHive's log routes: JSON fields, multipart ``_json`` + ``attachment``.

Attribute rules as TheHive's, as pydantic models (``LogCreate``,
``LogUpdate``, ``LogSearch``): keys starting with ``_`` and unknown keys are
refused (``AttributeCheckingError``); ``message`` is required on create;
``startDate`` is epoch milliseconds; ``status`` is ``Ok`` or ``Deleted``.
"""

from __future__ import annotations

import json
import posixpath
from typing import Annotated, Any, Literal
from urllib.parse import unquote

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    ValidationInfo,
)

from casemesh.web.errors import ApiError
from casemesh.web.forms import FORM, MULTIPART, body_kind, check_shape, read_fields
from services.notes.attachments import ATTACHMENTS, AttachmentRefused
from services.notes.fields import problems, query_values
from services.notes.thehive_query import SearchError

STORED = {"message": "text", "startDate": "start_ms", "status": "status"}
MAX_MESSAGE = 100_000
MAX_JSON_PART = 1024 * 1024
RANGE_PATTERN = r"^(all|[0-9]{1,9}-[0-9]{1,9})$"


class AttributeCheckingError(Exception):
    """A body attribute TheHive would refuse."""


class TheHiveError(Exception):
    """An error answered as ``{"type": kind, "message": message}``."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


def _epoch_ms(value: Any, info: ValidationInfo) -> Any:
    """Form fields are text: there, digits read as the number they spell."""
    form = bool(info.context and info.context.get("form"))
    if form and isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return value


Message = Annotated[
    str, Field(min_length=1, max_length=MAX_MESSAGE, pattern=r"\S", description="The log text.")
]
EpochMillis = Annotated[
    int, Strict(), Field(ge=0, description="Epoch milliseconds."), BeforeValidator(_epoch_ms)
]


class LogCreate(BaseModel):
    """A new task log (TheHive's attribute rules: nothing else, no ``_`` keys)."""

    model_config = ConfigDict(extra="forbid")

    message: Message
    startDate: EpochMillis | None = None


class LogUpdate(BaseModel):
    """Changes to a task log: at least one attribute."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    message: Message | None = None
    startDate: EpochMillis | None = None
    status: Literal["Ok", "Deleted"] | None = None


class LogSearch(BaseModel):
    """A log search: a query (TheHive's query language), a range and a sort.

    Each may instead come as a query parameter (see ``LogSearchParams``); the
    body's wins. The query itself is compiled by ``thehive_query``.
    """

    model_config = ConfigDict(extra="ignore")

    query: dict[str, Any] | None = Field(None, description="A TheHive query object.")
    range: str | None = Field(None, pattern=RANGE_PATTERN, description='"all" or "from-to".')
    sort: list[str] | str | None = Field(None, description='Fields as "+field" or "-field".')


class LogSearchParams(BaseModel):
    """The search as query parameters (``sort`` may repeat)."""

    model_config = ConfigDict(extra="ignore")

    query: str | None = Field(None, description="A TheHive query object, as JSON.")
    range: str | None = Field(None, pattern=RANGE_PATTERN, description='"all" or "from-to".')
    sort: str | None = Field(None, description='A field as "+field" or "-field".')


def search_terms(request: web.Request, body: dict) -> LogSearch:
    """The body's search terms, completed by the query parameters'."""
    params = request.query
    try:
        given = LogSearch.model_validate(body)
        LogSearchParams.model_validate(query_values(params))
    except ValidationError as exc:
        where, message, _ = problems(exc)[0]
        raise SearchError(f"{where}: {message}") from None
    query = given.query
    if query is None and params.get("query"):
        try:
            query = json.loads(params["query"])
        except ValueError:
            raise SearchError("query is not valid JSON") from None
        if not isinstance(query, dict):
            raise SearchError("a query must be an object")
    return LogSearch(
        query=query,
        range=given.range if given.range is not None else params.get("range"),
        sort=given.sort if given.sort is not None else params.getall("sort", None),
    )


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
    """The search body as sent (``{}`` when there is none); see ``search_terms``."""
    # Deeper than the query compiler allows, so a deep query gets its SearchError.
    return await json_object(request, max_depth=64) if request.can_read_body else {}


def _checked(model: type[LogCreate] | type[LogUpdate], fields: dict, form: bool) -> dict:
    for key in fields:
        if key.startswith("_"):
            raise AttributeCheckingError(
                f"attribute {key[:50]!r} is not allowed: it starts with '_'"
            )
    try:
        parsed = model.model_validate(fields, context={"form": form})
    except ValidationError as exc:
        where, message, _ = problems(exc)[0]
        if message == "Extra inputs are not permitted":
            raise AttributeCheckingError(
                f"unknown attribute {where[:50]!r} for case_task_log"
            ) from None
        raise AttributeCheckingError(f"{where}: {message}") from None
    return parsed.model_dump(exclude_none=True)


def create_fields(fields: dict, *, form: bool = False) -> dict:
    return _checked(LogCreate, fields, form)


def update_fields(fields: dict, *, form: bool = False) -> dict:
    checked = _checked(LogUpdate, fields, form)
    if not checked:
        raise AttributeCheckingError("nothing to update")
    return checked


async def create_body(request: web.Request, app_uid: str) -> tuple[dict, dict | None]:
    """The log's fields, and TheHive's attachment object if a file was sent (and stored)."""
    kind = body_kind(request)
    if kind != MULTIPART:
        return create_fields(await json_object(request), form=kind == FORM), None
    fields: dict | None = None
    attachment: dict | None = None
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise ApiError(400, "nested multipart bodies are not supported")
            if part.name == "_json" and fields is None:
                fields = create_fields(await _json_part(part))
            elif part.name == "attachment" and part.filename is not None and attachment is None:
                # Some clients percent-encode the filename (aiohttp does): decode, then
                # strip directory parts as TheHive does.
                raw_name = unquote(part.filename).replace("\\", "/")
                name = posixpath.basename(raw_name) or "attachment"
                attachment = await store_attachment(request, part, name, app_uid)
            else:
                await part.release()
    except (ValueError, AssertionError, HttpProcessingError) as exc:
        raise ApiError(400, f"the multipart body is malformed: {exc}") from None
    if fields is None:
        raise ApiError(400, "a multipart log needs a _json part")
    return fields, attachment


async def _json_part(part: BodyPartReader) -> dict:
    raw = bytearray()
    while chunk := await part.read_chunk(64 * 1024):
        raw += chunk
        if len(raw) > MAX_JSON_PART:
            raise ApiError(413, "the _json part is too large")
    text = bytes(part.decode(bytes(raw))).decode("utf-8", "replace")
    fields = json_param(text, "_json")
    if not isinstance(fields, dict):
        raise ApiError(400, "_json must be a JSON object")
    check_shape(fields)
    return fields


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
