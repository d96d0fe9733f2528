"""Trackops list parameters: the ``UpdatesQuery`` model, turned into typed filters.

Timestamps are UTC and bounds inclusive. ``from``/``to`` are aliases of
``activity_from``/``activity_to``. A bound given as a bare date covers that
whole day (``*_to=2021-06-03`` includes the 3rd). Paging: ``page`` (from 1)
and ``per_page`` (25, at most 100). A blank parameter reads as absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from casemesh.store.filters import Eq, Filter, Range
from casemesh.web.query_fields import blank_means_absent, query_int
from services.notes import clock
from services.notes.fields import non_blank, query_values
from services.notes.trackops_body import WHEN_PATTERN, Invalid, parse_bool

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
MAX_NUMBER = 10**15 - 1
Number = query_int(ge=0, le=MAX_NUMBER)
Page = query_int(ge=1, le=MAX_NUMBER)
PerPage = query_int(ge=1, le=MAX_PER_PAGE)
TimeBound = Field(None, pattern=WHEN_PATTERN, description="YYYY-MM-DD[ HH:MM:SS], UTC.")


class UpdatesQuery(BaseModel):
    """The query of ``GET /api/v1/case/updates``."""

    model_config = ConfigDict(extra="ignore", json_schema_extra=blank_means_absent)

    id: Number | None = Field(None, description="An update's id.")
    case: Number | None = Field(None, description="A case's number.")
    subject: Number | None = None
    thread: Number | None = None
    access_group: Number | None = Field(None, description="An access group's id.")
    created_by: Number | None = Field(None, description="Its author's id.")
    is_valid: Literal["true", "false", "yes", "no", "on", "off", "1", "0"] | None = None
    activity_from: str | None = TimeBound
    activity_to: str | None = TimeBound
    from_: str | None = Field(None, alias="from", pattern=WHEN_PATTERN)
    to: str | None = Field(None, pattern=WHEN_PATTERN)
    created_from: str | None = TimeBound
    created_to: str | None = TimeBound
    updated_from: str | None = TimeBound
    updated_to: str | None = TimeBound
    validated_from: str | None = TimeBound
    validated_to: str | None = TimeBound
    page: Page = 1
    per_page: PerPage = 25

    def bounds(self, prefix: str) -> tuple[str | None, str | None]:
        low = getattr(self, f"{prefix}_from")
        high = getattr(self, f"{prefix}_to")
        if prefix == "activity":
            low, high = low or self.from_, high or self.to
        return low, high

    def filters(self) -> list[Filter]:
        parts: list[Filter] = []
        for name, stored in INTEGER_FILTERS.items():
            value = getattr(self, name)
            if value is not None:
                parts.append(Eq(stored, value))
        if self.is_valid is not None:
            parts.append(Eq("is_validated", parse_bool(self.is_valid)))
        for prefix, stored in TIME_FILTERS.items():
            low, high = self.bounds(prefix)
            if not (low or high):
                continue
            gte = _bound(f"{prefix}_from", low, False) if low else None
            if high:
                bound = _bound(f"{prefix}_to", high, True)
                upper = {"lt": bound} if len(high) == 10 else {"lte": bound}
                parts.append(Range(stored, gte=gte, **upper))
            else:
                parts.append(Range(stored, gte=gte))
        return parts


def _bound(name: str, raw: str, upper: bool) -> str:
    try:
        moment = clock.read_timestamp(raw)
    except ValueError:
        raise Invalid(
            {name: ["must be a timestamp (YYYY-MM-DD or YYYY-MM-DD HH:MM:SS, UTC)"]}
        ) from None
    if upper and len(raw) == 10:
        if moment.date() == date.max:
            return "9999-12-32"  # after every stored time of that day
        return clock.stamp(moment + timedelta(days=1))  # the whole day, then exclusive
    return clock.stamp(moment)


def parse_query(params: Mapping[str, str]) -> UpdatesQuery:
    """The model from the query string, or a 422 naming each bad parameter."""
    try:
        return UpdatesQuery.model_validate(non_blank(query_values(params)))
    except ValidationError as exc:
        errors: dict[str, list[str]] = {}
        for err in exc.errors():
            name = str(err["loc"][0]) if err.get("loc") else "query"
            errors.setdefault(name[:80], []).append(_message(name, err))
        raise Invalid(errors) from None


def _message(name: str, err: dict) -> str:
    if name.endswith(("_from", "_to")) or name in ("from", "to"):
        return "must be a timestamp (YYYY-MM-DD or YYYY-MM-DD HH:MM:SS, UTC)"
    if name == "is_valid":
        return "must be true or false"
    if name == "per_page" and err.get("type") == "less_than_equal":
        return f"must be at most {MAX_PER_PAGE}"
    return "must be a positive integer"
