"""ProcessMaker case-note list parameters, parsed and turned into typed filters.

``start`` is an offset (0 = the first note), ``limit`` 25 by default,
``sort`` one of the allow-listed ``APP_NOTES`` fields, ``dir`` asc/desc
(default desc), ``usr_uid``, ``date_from`` (inclusive) and ``date_to``
(exclusive) as ``YYYY-MM-DD``, ``search`` a case-insensitive substring of
the note's content.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from casemesh.store.filters import And, Contains, Eq, Filter, Range, Sort
from casemesh.web.errors import ApiError
from services.notes.entries import NOTE

SORT_FIELDS = {"APP_NOTES.NOTE_DATE": "at", "APP_NOTES.USR_UID": "author"}
DEFAULT_SORT = "APP_NOTES.NOTE_DATE"
DEFAULT_LIMIT = 25
MAX_LIMIT = 10_000
MAX_SEARCH = 500
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class NotesQuery:
    start: int = 0
    limit: int = DEFAULT_LIMIT
    sort: str = DEFAULT_SORT
    dir: str = "DESC"
    usr_uid: str = ""
    date_from: str = ""
    date_to: str = ""
    search: str = ""

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
            "date_to": self.date_to,
            "date_from": self.date_from,
            "search": self.search,
            "data": data,
        }


def _bad(name: str, value: str) -> ApiError:
    return ApiError(400, f"Invalid value for ${name}: '{value}'")


def _int(params: Mapping[str, str], name: str, default: int, high: int) -> int:
    raw = params.get(name, "").strip()
    if raw == "":
        return default
    if not raw.isdigit() or int(raw) > high:
        raise _bad(name, raw)
    return int(raw)


def _date(params: Mapping[str, str], name: str) -> str:
    raw = params.get(name, "").strip()
    if raw and not _DATE.match(raw):
        raise _bad(name, raw)
    return raw


def parse_notes_query(params: Mapping[str, str]) -> NotesQuery:
    sort = params.get("sort", "").strip() or DEFAULT_SORT
    if sort not in SORT_FIELDS:
        raise _bad("sort", sort)
    direction = params.get("dir", "").strip().upper() or "DESC"
    if direction not in ("ASC", "DESC"):
        raise _bad("dir", direction)
    search = params.get("search", "")
    if len(search) > MAX_SEARCH:
        raise ApiError(400, f"Invalid value for $search: at most {MAX_SEARCH} characters")
    return NotesQuery(
        start=_int(params, "start", 0, 100_000_000),
        limit=_int(params, "limit", DEFAULT_LIMIT, MAX_LIMIT),
        sort=sort,
        dir=direction,
        usr_uid=params.get("usr_uid", "").strip(),
        date_from=_date(params, "date_from"),
        date_to=_date(params, "date_to"),
        search=search,
    )
