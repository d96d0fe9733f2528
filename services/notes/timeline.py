"""A case's timeline: every entry of every dialect plus workflow transitions, in time order.

    GET /casemesh/v1/timeline/{app_uid}?kind=note,log&author={usr_uid}&dir=asc&page=1&per_page=50

Answer ``{"entries": [...], "meta": {"total", "page", "per_page", "pages"}}``;
each entry has ``id, kind, at, author, author_name, text`` and what its kind
adds. Reading needs to see the case; updates show only to members of their
access group (and administrators).
"""

from __future__ import annotations

from aiohttp import web

from casemesh.identity import caller
from casemesh.store.filters import And, Eq, Filter, In, Not, Or, Sort
from casemesh.web.errors import ApiError
from services.notes import clock, rights
from services.notes.entries import COMMENT, LOG, NOTE, TRANSITION, UPDATE
from services.notes.keys import CASES, ENTRIES

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


def _kinds(raw: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in raw.split(",") if k.strip()) or KINDS
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ApiError(400, f"unknown kind {sorted(unknown)[0]!r}; use {', '.join(KINDS)}")
    return kinds


async def timeline(request: web.Request) -> web.Response:
    who = caller(request)
    params = request.query
    kinds = _kinds(params.get("kind", ""))
    direction = params.get("dir", "asc").lower()
    if direction not in ("asc", "desc"):
        raise ApiError(400, "dir must be asc or desc")
    page = _int(params, "page", 1, 1_000_000)
    per_page = _int(params, "per_page", 50, MAX_PER_PAGE)
    facts = await request.app[CASES].by_uid(request.match_info["app_uid"])
    if facts is None or not rights.can_view_case(who, facts):
        raise ApiError(404, "no such case")
    parts: list[Filter] = [
        Eq("workspace", facts.workspace),
        Eq("app_uid", facts.app_uid),
        In("kind", kinds),
    ]
    if params.get("author"):
        parts.append(Eq("author", params["author"]))
    if not who.is_admin:
        parts.append(Or(Not(Eq("kind", UPDATE)), In("access_group", tuple(who.groups))))
    where = And(*parts)
    entries = request.app[ENTRIES]
    docs = await entries.find(
        where,
        sort=[Sort("at", direction == "desc")],
        skip=(page - 1) * per_page,
        limit=per_page,
    )
    total = await entries.count(where)
    meta = {"total": total, "page": page, "per_page": per_page, "pages": -(-total // per_page)}
    return web.json_response({"entries": [entry_view(d) for d in docs], "meta": meta})


def _int(params, name: str, default: int, high: int) -> int:
    raw = params.get(name, "").strip()
    value = int(raw) if raw.isdigit() and len(raw) < 10 else (default if not raw else 0)
    if not 1 <= value <= high:
        raise ApiError(400, f"{name} must be between 1 and {high}")
    return value
