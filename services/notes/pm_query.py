"""ProcessMaker case-note list parameters: one pydantic model, checked and turned into filters.

``start`` is an offset (0 = the first note), ``limit`` 25 by default,
``sort`` one of the allow-listed ``APP_NOTES`` fields, ``dir`` asc/desc
(default desc), ``usr_uid``, ``date_from`` (inclusive) and ``date_to``
(exclusive) as ``YYYY-MM-DD``, ``search`` a case-insensitive substring of
the note's content. A blank parameter reads as absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from casemesh.store.filters import And, Contains, Eq, Filter, Range, Sort
from casemesh.web.errors import ApiError
from casemesh.web.query_fields import blank_means_absent, query_int
from services.notes.entries import NOTE
from services.notes.fields import (
    DATE_PATTERN,
    non_blank,
    problems,
    query_values,
)

SORT_FIELDS = {"APP_NOTES.NOTE_DATE": "at", "APP_NOTES.USR_UID": "author"}
DEFAULT_SORT = "APP_NOTES.NOTE_DATE"
DEFAULT_LIMIT = 25
MAX_LIMIT = 10_000
MAX_START = 100_000_000
MAX_SEARCH = 500
Start = query_int(ge=0, le=MAX_START)
Limit = query_int(ge=0, le=MAX_LIMIT)


class NotesQuery(BaseModel):
    """The query of ``GET …/cases/{app_uid}/notes`` and ``…/notes/paged``."""

    model_config = ConfigDict(frozen=True, extra="ignore", json_schema_extra=blank_means_absent)

    start: Start = Field(0, description="Offset of the first note.")
    limit: Limit = Field(DEFAULT_LIMIT, description="Notes per page.")
    sort: Literal["APP_NOTES.NOTE_DATE", "APP_NOTES.USR_UID"] = DEFAULT_SORT
    dir: Literal["ASC", "DESC", "asc", "desc"] = Field("DESC", description="Sort direction.")
    usr_uid: str = Field("", description="Only the notes of this author.")
    date_from: str | None = Field(None, pattern=DATE_PATTERN, description="YYYY-MM-DD, inclusive.")
    date_to: str | None = Field(None, pattern=DATE_PATTERN, description="YYYY-MM-DD, exclusive.")
    search: str = Field("", max_length=MAX_SEARCH, description="Text the note contains.")

    @field_validator("dir")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    def where(self, workspace: str, app_uid: str) -> Filter:
        parts: list[Filter] = [Eq("workspace", workspace), Eq("app_uid", app_uid), Eq("kind", NOTE)]
        if self.usr_uid:
            parts.append(Eq("author", self.usr_uid))
        if self.date_from or self.date_to:
            parts.append(Range("at", gte=self.date_from or None, lt=self.date_to or None))
        if self.search:
            parts.append(Contains("text", self.search))
        return And(*parts)

    def order(self) -> list[Sort]:
        descending = self.dir == "DESC"
        return [Sort(SORT_FIELDS[self.sort], descending), Sort("at", descending)]

    def page(self, total: int, data: list[dict]) -> dict:
        """The seed's page object, in the seed's key order."""
        return {
            "total": total,
            "start": self.start,
            "limit": self.limit,
            "sort": self.sort,
            "dir": self.dir,
            "usr_uid": self.usr_uid,
            "date_to": self.date_to or "",
            "date_from": self.date_from or "",
            "search": self.search,
            "data": data,
        }


def parse_notes_query(params: Mapping[str, str]) -> NotesQuery:
    """The model from the query string, or ProcessMaker's ``Invalid value for $name`` 400."""
    try:
        return NotesQuery.model_validate(non_blank(query_values(params)))
    except ValidationError as exc:
        where, message, value = problems(exc)[0]
        shown = str(value)[:100] if isinstance(value, str) else message
        raise ApiError(400, f"Invalid value for ${where}: '{shown}'") from None
