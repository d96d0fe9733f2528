"""What the notes service answers, as pydantic models: the contract its serialisers keep.

The serialisers (``pm_notes.note_view``, ``thehive_logs.log_view``,
``trackops._view``, ``timeline.entry_view``) build plain dicts; these models
describe them field by field for the OpenAPI document, and the contract
tests validate real answers against them. ``extra="forbid"``: a field a
serialiser adds without declaring it here breaks those tests. A field a
serialiser leaves out when it has nothing to say is optional and never null.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema


def _no_default(schema: dict) -> None:
    schema.pop("default", None)


def absent(**kw: Any) -> Any:
    """A field the serialiser leaves out when it has nothing to say: optional, never null."""
    return Field(None, json_schema_extra=_no_default, **kw)


PM_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$"
ISO_UTC = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$"


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- ProcessMaker case notes ---------------------------------------------------------


class CaseNote(_Answer):
    """A case note as ProcessMaker lists it."""

    app_uid: str
    usr_uid: str
    note_date: str = Field(pattern=PM_DATE, description="YYYY-MM-DD HH:MM:SS (UTC)")
    note_content: str


class NotesPage(_Answer):
    """``…/notes/paged``: the filters applied and one page of notes."""

    total: int
    start: int
    limit: int
    sort: Literal["APP_NOTES.NOTE_DATE", "APP_NOTES.USR_UID"]
    dir: Literal["ASC", "DESC"]
    usr_uid: str
    date_to: str
    date_from: str
    search: str
    data: list[CaseNote]


# -- TheHive task logs ----------------------------------------------------------------


class Attachment(_Answer):
    """TheHive's attachment object; ``id`` is the sha256 (download at /api/datastore/{id})."""

    name: str
    hashes: list[str] = Field(description="sha256, sha1, md5")
    size: int
    contentType: str
    id: str


class TaskLog(_Answer):
    """A ``case_task_log``."""

    type_: Literal["case_task_log"] = Field(alias="_type")
    id_: str = Field(alias="_id")
    id: str
    parent: str = Field(alias="_parent", description="The task's id (a delegation id).")
    version: int = Field(alias="_version")
    message: str
    startDate: int
    createdAt: int
    createdBy: str
    user: str
    status: Literal["Ok", "Deleted"]
    updatedAt: int | SkipJsonSchema[None] = absent()
    updatedBy: str | SkipJsonSchema[None] = absent()
    attachment: Attachment | SkipJsonSchema[None] = absent()


# -- Trackops case updates ------------------------------------------------------------


class UpdateDetailView(_Answer):
    start_at: str
    notes: str


class CaseUpdate(_Answer):
    """A Trackops case update; times are ISO 8601 in UTC."""

    id: int
    casefile_id: int
    subject_id: int | None
    event_id: int | None
    access_group_id: int | None
    title: str
    body: str
    activity_at: str | None = Field(pattern=ISO_UTC)
    is_allday: bool
    behalf_of_id: int | None
    is_validated: bool | None
    validated_at: str | None = Field(pattern=ISO_UTC)
    validated_by_id: int | None
    thread_id: int
    update_details: list[UpdateDetailView]
    created_by_id: int | None
    created_at: str = Field(pattern=ISO_UTC)
    updated_at: str | None = Field(pattern=ISO_UTC)


class OneUpdate(_Answer):
    update: CaseUpdate


class PageMeta(_Answer):
    total: int
    page: int
    per_page: int
    pages: int


class UpdatesPage(_Answer):
    updates: list[CaseUpdate]
    meta: PageMeta


class AccessGroup(_Answer):
    id: int = Field(description="The number Trackops clients use for the group.")
    grp_uid: str


class AccessGroups(_Answer):
    access_groups: list[AccessGroup]


class UpdateInvalid(_Answer):
    """A 422: each field that was wrong and why."""

    status: Literal[422]
    error: str
    message: str
    errors: dict[str, list[str]]


# -- the timeline ---------------------------------------------------------------------


class TimelineEntry(_Answer):
    """One entry: a note, update, log, comment or workflow transition."""

    id: str
    kind: Literal["note", "update", "log", "comment", "transition"]
    at: str = Field(pattern=ISO_UTC)
    author: str
    author_name: str
    text: str
    task_id: str | SkipJsonSchema[None] = absent()
    task_title: str | SkipJsonSchema[None] = absent()
    status: str | SkipJsonSchema[None] = absent()
    title: str | SkipJsonSchema[None] = absent()
    number: int | SkipJsonSchema[None] = absent()
    event_type: str | SkipJsonSchema[None] = absent()
    attachment: Attachment | SkipJsonSchema[None] = absent()


class Timeline(_Answer):
    entries: list[TimelineEntry]
    meta: PageMeta
