"""List filters of ProcessMaker's case lists: parsing, the sort allow-list, page objects.

Two sources feed the lists: open delegations (To do, Draft, Unassigned,
Paused — one row per task waiting for someone) and cases with their current
task (Participated, Advanced search — one row per case). Both carry the same
case fields, so a sort name maps to a field of each through one table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date

from casemesh.store.filters import And, Contains, Eq, Filter, Not, Or, Range, Sort
from casemesh.web.errors import ApiError
from services.cases.cases import records

DEFAULT_LIMIT = 25
MAX_LIMIT = 10_000
DEFAULT_SORT = "APP_CACHE_VIEW.APP_NUMBER"

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
ADVANCED_STATUSES = ("TO_DO", "DRAFT", "PAUSED", "CANCELLED", "COMPLETED", "UNASSIGNED")
_UID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class ListQuery:
    start: int = 1
    limit: int = DEFAULT_LIMIT
    sort_name: str = DEFAULT_SORT
    descending: bool = True
    cat_uid: str = ""
    pro_uid: str = ""
    search: str = ""
    # Advanced search only.
    app_status: str = ""
    usr_uid: str = ""
    date_from: str = ""
    date_to: str = ""

    @property
    def skip(self) -> int:
        return max(self.start - 1, 0)  # start 0 and 1 both mean the first case

    def sort(self, source: int) -> list[Sort]:
        """Sort keys for ``source`` 0 (delegation rows) or 1 (case documents)."""
        key = self.sort_name.upper().removeprefix("APP_CACHE_VIEW.")
        field = SORT_FIELDS[key][source]
        return [Sort(field, self.descending), Sort("app_number", self.descending)]

    def page(self, total: int, data: list[dict], *, advanced: bool = False) -> dict:
        """The seed's page object around ``data``."""
        page = {
            "total": total,
            "start": max(self.start, 1),
            "limit": self.limit,
            "sort": self.sort_name.lower(),
            "dir": "desc" if self.descending else "asc",
            "cat_uid": self.cat_uid,
            "pro_uid": self.pro_uid,
            "search": self.search,
        }
        if advanced:
            page |= {
                "app_status": self.app_status,
                "usr_uid": self.usr_uid,
                "date_from": self.date_from,
                "date_to": self.date_to,
            }
        page["data"] = data
        return page


def _int(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name, "")
    if raw == "":
        return default
    if not re.fullmatch(r"\d{1,9}", raw):
        raise ApiError(400, f"Invalid value for ${name}: '{raw}'. It must be a whole number")
    value = int(raw)
    if value < low or value > high:
        raise ApiError(400, f"Invalid value for ${name}: '{raw}'. It must be {low}..{high}")
    return value


def _uid(params: dict[str, str], name: str) -> str:
    raw = params.get(name, "")
    if raw and not _UID.match(raw):
        raise ApiError(400, f"Invalid value for ${name}: '{raw}'")
    return raw


def _date(params: dict[str, str], name: str) -> str:
    raw = params.get(name, "")
    if not raw:
        return ""
    try:
        date.fromisoformat(raw)
    except ValueError:
        raise ApiError(400, f"Invalid value for ${name}: '{raw}'. Use YYYY-MM-DD") from None
    return raw


def parse_query(params: dict[str, str], *, advanced: bool = False) -> ListQuery:
    sort_name = params.get("sort", "") or DEFAULT_SORT
    if sort_name.upper().removeprefix("APP_CACHE_VIEW.") not in SORT_FIELDS:
        allowed = ", ".join(f"APP_CACHE_VIEW.{name}" for name in SORT_FIELDS)
        raise ApiError(400, f"Invalid value for $sort: '{sort_name}'. Allowed: {allowed}")
    direction = (params.get("dir", "") or "DESC").upper()
    if direction not in ("ASC", "DESC"):
        raise ApiError(400, f"Invalid value for $dir: '{params['dir']}'. Use ASC or DESC")
    search = params.get("search", "")
    if len(search) > 200:
        raise ApiError(400, "Invalid value for $search: at most 200 characters")
    query = ListQuery(
        start=_int(params, "start", 1, 0, 100_000_000),
        limit=_int(params, "limit", DEFAULT_LIMIT, 0, MAX_LIMIT),
        sort_name=sort_name,
        descending=direction == "DESC",
        cat_uid=_uid(params, "cat_uid"),
        pro_uid=_uid(params, "pro_uid"),
        search=search,
    )
    if not advanced:
        return query
    status = params.get("app_status", "").upper()
    if status and status not in ADVANCED_STATUSES:
        raise ApiError(400, f"Invalid value for $app_status: '{params['app_status']}'")
    return replace(
        query,
        app_status=status,
        usr_uid=_uid(params, "usr_uid"),
        date_from=_date(params, "date_from"),
        date_to=_date(params, "date_to"),
    )


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
