"""A case's timeline: every entry of every dialect plus workflow transitions, in time order.

    GET /casemesh/v1/timeline/{app_uid}?kind=note,log&author={usr_uid}&dir=asc&page=1&per_page=50

(the query is ``TimelineQuery``).

Answer ``{"entries": [...], "meta": {"total", "page", "per_page", "pages"}}``;
each entry has ``id, kind, at, author, author_name, text`` and what its kind
adds. Reading needs to see the case; updates show only to members of their
access group (and administrators).
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from casemesh.identity import caller
from casemesh.store.filters import And, Eq, Filter, In, Not, Or, Sort
from casemesh.web.errors import ApiError
from casemesh.web.query_fields import blank_means_absent, query_int
from services.notes import clock, rights
from services.notes.entries import COMMENT, LOG, NOTE, TRANSITION, UPDATE
from services.notes.fields import (
    non_blank,
    problems,
    query_values,
)
from services.notes.keys import ENTRIES, FACTS

KINDS = (NOTE, UPDATE, LOG, COMMENT, TRANSITION)
MAX_PER_PAGE = 200
EXTRA = ("task_id", "task_title", "status", "title", "number", "event_type", "attachment")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/casemesh/v1/timeline/{app_uid}", timeline)


def entry_view(doc: dict) -> dict:
    out = {
        "id": doc["id"],
        "kind": doc["kind"],
        "at": clock.parse(doc["at"]).isoformat().replace("+00:00", "Z"),
        "author": doc.get("author", ""),
        "author_name": doc.get("author_name", ""),
        "text": doc.get("text", ""),
    }
    out.update({k: doc[k] for k in EXTRA if doc.get(k) not in (None, "")})
    return out


_KIND = "(note|update|log|comment|transition)"
Page = query_int(ge=1, le=1_000_000)
PerPage = query_int(ge=1, le=MAX_PER_PAGE)


class TimelineQuery(BaseModel):
    """The query of ``GET /casemesh/v1/timeline/{app_uid}`` (a blank parameter is absent)."""

    model_config = ConfigDict(extra="ignore", json_schema_extra=blank_means_absent)

    kind: str = Field(
        ",".join(KINDS),
        pattern=f"^{_KIND}(,{_KIND})*$",
        description="Comma-separated kinds of entry to show (all by default).",
    )
    author: str | None = Field(None, description="Only the entries of this user (usr_uid).")
    dir: Literal["asc", "desc", "ASC", "DESC"] = "asc"
    page: Page = 1
    per_page: PerPage = 50

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.kind.split(",")))

    @property
    def descending(self) -> bool:
        return self.dir.lower() == "desc"


def parse_query(params) -> TimelineQuery:
    try:
        return TimelineQuery.model_validate(non_blank(query_values(params)))
    except ValidationError as exc:
        where, message, _ = problems(exc)[0]
        raise ApiError(400, f"{where}: {message}") from None


async def timeline(request: web.Request) -> web.Response:
    who = caller(request)
    query = parse_query(request.query)
    page, per_page = query.page, query.per_page
    facts = await request.app[FACTS].read(
        request.match_info["app_uid"], lambda f: rights.can_view_case(who, f)
    )
    if facts is None or not rights.can_view_case(who, facts):
        raise ApiError(404, "no such case")
    parts: list[Filter] = [
        Eq("workspace", facts.workspace),
        Eq("app_uid", facts.app_uid),
        In("kind", query.kinds),
    ]
    if query.author:
        parts.append(Eq("author", query.author))
    if not who.is_admin:
        parts.append(Or(Not(Eq("kind", UPDATE)), In("access_group", tuple(who.groups))))
    where = And(*parts)
    entries = request.app[ENTRIES]
    docs = await entries.find(
        where,
        sort=[Sort("at", query.descending)],
        skip=(page - 1) * per_page,
        limit=per_page,
    )
    total = await entries.count(where)
    meta = {"total": total, "page": page, "per_page": per_page, "pages": -(-total // per_page)}
    return web.json_response({"entries": [entry_view(d) for d in docs], "meta": meta})
