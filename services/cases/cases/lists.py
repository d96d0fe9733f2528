"""List filters of ProcessMaker's case lists: parsing, the sort allow-list, page objects.

Two sources feed the lists: open delegations (To do, Draft, Unassigned,
Paused — one row per task waiting for someone) and cases with their current
task (Participated, Advanced search — one row per case). Both carry the same
case fields, so a sort name maps to a field of each through one table.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from casemesh.store.filters import And, Contains, Eq, Filter, Not, Or, Range, Sort
from casemesh.web.errors import ApiError
from services.cases.cases import records

DEFAULT_LIMIT = 25
MAX_LIMIT = 10_000
SORT_PREFIX = "APP_CACHE_VIEW."
DEFAULT_SORT = SORT_PREFIX + "APP_NUMBER"

# ProcessMaker sort name -> (field in a delegation row, field in a case document).
SORT_FIELDS: dict[str, tuple[str, str]] = {
    "APP_NUMBER": ("app_number", "app_number"),
    "APP_UPDATE_DATE": ("updated_at", "updated_at"),
    "APP_CREATE_DATE": ("created_at", "created_at"),
    "APP_FINISH_DATE": ("finished_at", "finished_at"),
    "APP_TITLE": ("app_title", "app_title"),
    "APP_STATUS": ("app_status", "app_status"),
    "APP_PRO_TITLE": ("pro_title", "pro_title"),
    "APP_TAS_TITLE": ("tas_title", "current.tas_title"),
    "DEL_INDEX": ("del_index", "current.del_index"),
    "DEL_DELEGATE_DATE": ("delegate_date", "current.delegate_date"),
    "DEL_TASK_DUE_DATE": ("due_date", "current.due_date"),
    "DEL_INIT_DATE": ("init_date", "current.init_date"),
    "USR_UID": ("usr_uid", "current.usr_uid"),
}
AdvancedStatus = Literal["", "TO_DO", "DRAFT", "PAUSED", "CANCELLED", "COMPLETED", "UNASSIGNED"]
ADVANCED_STATUSES = get_args(AdvancedStatus)[1:]
OPTIONAL_UID = r"^([A-Za-z0-9_-]{1,64})?$"
OPTIONAL_DATE = r"^([0-9]{4}-[0-9]{2}-[0-9]{2})?$"


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


class ListQuery(BaseModel):
    """The query of every case list; an empty parameter means its default."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    start: int = Field(1, ge=0, le=100_000_000, description="1-based; 0 also means the first")
    limit: int = Field(DEFAULT_LIMIT, ge=0, le=MAX_LIMIT, description="0: only the total")
    sort: str = Field(
        DEFAULT_SORT,
        max_length=64,
        description="A sort column, case-insensitive, with or without APP_CACHE_VIEW.",
        json_schema_extra={"enum": [SORT_PREFIX + name for name in SORT_FIELDS]},
    )
    dir: Literal["ASC", "DESC"] = Field("DESC", description="case-insensitive")
    cat_uid: str = Field("", pattern=OPTIONAL_UID)
    pro_uid: str = Field("", pattern=OPTIONAL_UID)
    search: str = Field("", max_length=200, description="in the case title or the task title")

    @model_validator(mode="before")
    @classmethod
    def _empty_means_default(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v != ""}
        return data

    _dir = field_validator("dir", mode="before")(_upper)

    @field_validator("sort")
    @classmethod
    def _known_sort(cls, value: str) -> str:
        if value.upper().removeprefix(SORT_PREFIX) not in SORT_FIELDS:
            allowed = ", ".join(SORT_PREFIX + name for name in SORT_FIELDS)
            raise ValueError(f"Allowed: {allowed}")
        return value

    @property
    def sort_name(self) -> str:
        return self.sort

    @property
    def descending(self) -> bool:
        return self.dir == "DESC"

    @property
    def skip(self) -> int:
        return max(self.start - 1, 0)  # start 0 and 1 both mean the first case

    def sort_keys(self, source: int) -> list[Sort]:
        """Sort keys for ``source`` 0 (delegation rows) or 1 (case documents)."""
        key = self.sort.upper().removeprefix(SORT_PREFIX)
        field = SORT_FIELDS[key][source]
        return [Sort(field, self.descending), Sort("app_number", self.descending)]

    def page(self, total: int, data: list[dict]) -> dict:
        """The seed's page object around ``data``."""
        page = {
            "total": total,
            "start": max(self.start, 1),
            "limit": self.limit,
            "sort": self.sort.lower(),
            "dir": "desc" if self.descending else "asc",
            "cat_uid": self.cat_uid,
            "pro_uid": self.pro_uid,
            "search": self.search,
        }
        page |= self._page_extra()
        page["data"] = data
        return page

    def _page_extra(self) -> dict:
        return {}


class AdvancedListQuery(ListQuery):
    """``/cases/advanced-search``: the common filters plus status, user and dates."""

    app_status: AdvancedStatus = Field("", description="case-insensitive")
    usr_uid: str = Field("", pattern=OPTIONAL_UID)
    date_from: str = Field("", pattern=OPTIONAL_DATE, description="YYYY-MM-DD")
    date_to: str = Field("", pattern=OPTIONAL_DATE, description="YYYY-MM-DD")

    _status = field_validator("app_status", mode="before")(_upper)

    @field_validator("date_from", "date_to")
    @classmethod
    def _real_date(cls, value: str) -> str:
        if value:
            date.fromisoformat(value)  # ValueError: not a date of the calendar
        return value

    def _page_extra(self) -> dict:
        return {
            "app_status": self.app_status,
            "usr_uid": self.usr_uid,
            "date_from": self.date_from,
            "date_to": self.date_to,
        }


def parse_query(params: dict[str, str], *, advanced: bool = False) -> ListQuery:
    """Validate a list's query; errors read as ProcessMaker's "Invalid value for $name"."""
    model = AdvancedListQuery if advanced else ListQuery
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first.get("loc", ())) or "query"
        message = first.get("msg", "invalid").removeprefix("Value error, ")
        raise ApiError(
            400, f"Invalid value for ${name}: '{params.get(name, '')}'. {message}"
        ) from None


def common_filter(query: ListQuery, source: int) -> list[Filter]:
    """Filters every list shares: process, category and the text search."""
    task_title = ("tas_title", "current.tas_title")[source]
    parts: list[Filter] = []
    if query.pro_uid:
        parts.append(Eq("pro_uid", query.pro_uid))
    if query.cat_uid:
        parts.append(Eq("cat_uid", query.cat_uid))
    if query.search:
        parts.append(Or(Contains("app_title", query.search), Contains(task_title, query.search)))
    return parts


def advanced_filter(query: ListQuery) -> list[Filter]:
    parts: list[Filter] = []
    if query.app_status:
        parts.append(Eq("app_status", query.app_status))
    else:
        parts.append(Not(Eq("app_status", records.DELETED)))
    if query.usr_uid:
        parts.append(Eq("current.usr_uid", query.usr_uid))
    if query.date_from:
        parts.append(Range("current.delegate_date", gte=f"{query.date_from} 00:00:00"))
    if query.date_to:
        parts.append(Range("current.delegate_date", lte=f"{query.date_to} 23:59:59"))
    return parts


def all_of(parts: list[Filter]) -> Filter:
    return And(*parts)
