"""Trackops list parameters -> typed filters (timestamps in UTC, bounds inclusive).

``from``/``to`` are aliases of ``activity_from``/``activity_to``. A bound
given as a bare date covers that whole day (``*_to=2021-06-03`` includes
the 3rd). Paging: ``page`` (from 1) and ``per_page`` (25, at most 100).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from casemesh.store.filters import Eq, Filter, Range
from services.notes import clock
from services.notes.trackops_body import Invalid, parse_bool

INTEGER_FILTERS = {
    "id": "number",
    "case": "app_number",
    "subject": "subject_id",
    "thread": "thread_id",
}
# access_group and created_by are integers resolved through the directory registry.
TIME_FILTERS = {
    "activity": "activity_at",
    "created": "at",
    "updated": "updated_at",
    "validated": "validated_at",
}
MAX_PER_PAGE = 100


def _bound(name: str, raw: str, upper: bool) -> str:
    try:
        moment = clock.read_timestamp(raw)
    except ValueError:
        raise Invalid(
            {name: ["must be a timestamp (YYYY-MM-DD or YYYY-MM-DD HH:MM:SS, UTC)"]}
        ) from None
    if upper and len(raw.strip()) == 10:
        return clock.stamp(moment + timedelta(days=1))  # the whole day, then exclusive
    return clock.stamp(moment)


def integer(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 15:
        raise Invalid({name: ["must be a positive integer"]})
    return int(raw)


def filters(params: Mapping[str, str]) -> list[Filter]:
    parts: list[Filter] = []
    for name, stored in INTEGER_FILTERS.items():
        value = integer(params, name)
        if value is not None:
            parts.append(Eq(stored, value))
    if params.get("is_valid", "").strip():
        flag = parse_bool(params["is_valid"])
        if flag is None:
            raise Invalid({"is_valid": ["must be true or false"]})
        parts.append(Eq("is_validated", flag))
    for prefix, stored in TIME_FILTERS.items():
        low = params.get(f"{prefix}_from", "") or (
            params.get("from", "") if prefix == "activity" else ""
        )
        high = params.get(f"{prefix}_to", "") or (
            params.get("to", "") if prefix == "activity" else ""
        )
        if low.strip() or high.strip():
            gte = _bound(f"{prefix}_from", low, False) if low.strip() else None
            if high.strip():
                exclusive = len(high.strip()) == 10
                bound = _bound(f"{prefix}_to", high, True)
                parts.append(
                    Range(stored, gte=gte, **({"lt": bound} if exclusive else {"lte": bound}))
                )
            else:
                parts.append(Range(stored, gte=gte))
    return parts


def paging(params: Mapping[str, str]) -> tuple[int, int]:
    page = integer(params, "page") or 1
    per_page = integer(params, "per_page") or 25
    if per_page > MAX_PER_PAGE:
        raise Invalid({"per_page": [f"must be at most {MAX_PER_PAGE}"]})
    return page, per_page
