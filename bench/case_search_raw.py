"""The raw component of ``case-search``: the store's own count and page, straight on sqlite3.

The filter of each query is taken from the real ``queries.list_cases`` with
a recording store; the count and page are planned and run by the store's
``sqlite_plan`` functions, as ``SqliteStore.find_page`` runs them.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench.case_search_seed import WORKSPACE
from bench.load import percentile
from casemesh.store.sqlite import SqliteStore
from casemesh.store.sqlite_plan import count_rows, find_rows, page_rows, read_schema
from casemesh.store.sqlite_query import icontains
from casemesh.store.sqlite_side import fold_or_null


class _Recorder:
    """A stand-in store for ``queries.list_cases``: records the page it asks for."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any, dict]] = []

    async def find_page(self, collection: str, where=None, **options) -> tuple[int, list]:
        self.calls.append(("page", collection, where, options))
        return 0, []


@dataclass
class RawQuery:
    """What the cases service asks the store for one list request: a count and a page."""

    table: str
    where: Any
    options: dict


async def recorded_query(path: Path, scenario: Any, users: dict[str, str]) -> RawQuery:
    """Run the real ``queries.list_cases`` for ``scenario`` against a recording store."""
    from casemesh.identity import ALL_PERMISSIONS, PM_CASES, Identity
    from services.cases.cases import lists, queries
    from services.cases.cases.sources import StoredDefinitions, StoredPeople
    from services.cases.cases.workflow import Workflow

    permissions = ALL_PERMISSIONS if scenario.who == "admin" else (PM_CASES,)
    who = Identity(
        workspace=WORKSPACE,
        user_uid=users[scenario.who],
        username=scenario.who,
        permissions=frozenset(permissions),
    )
    store = SqliteStore(path)
    recorder = _Recorder()
    try:
        flow = Workflow(
            SimpleNamespace(store=recorder), StoredDefinitions(store), StoredPeople(store)
        )
        query = lists.parse_query({"limit": "25", **scenario.params}, advanced=True)
        await queries.list_cases(flow, who, "advanced", query)
    finally:
        await store.close()
    ((_, collection, where, options),) = recorder.calls
    return RawQuery(f"c_{collection}", where, options)


def connect_raw(path: Path) -> sqlite3.Connection:
    """A plain connection with the functions the store's SQL calls."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.create_function("cm_icontains", 2, icontains, deterministic=True)
    conn.create_function("cm_fold", 1, fold_or_null, deterministic=True)
    return conn


def run_raw(
    conn: sqlite3.Connection, query: RawQuery, schema, hint: int | None = None
) -> tuple[int, list, list]:
    """The store's count and page for ``query``, as ``SqliteStore.find_page`` runs them:
    (total, page rows, [(kind, sql, params)] of the statements run). ``hint``: the
    total a recent count found, as the store remembers it (``CountHints``)."""
    sort = query.options.get("sort", ())
    skip, limit = query.options.get("skip", 0), query.options.get("limit", 25)
    both = (
        page_rows(conn, query.table, query.where, schema, sort, skip, limit, hint)
        if limit
        else None
    )
    if both is not None:
        total, page, ran = both
        return total, page, [("count+page", *s) for s in ran]
    total, counted = count_rows(conn, query.table, query.where, schema)
    page, found = find_rows(conn, query.table, query.where, schema, sort, skip, limit, total)
    return total, page, [*(("count", *s) for s in counted), *(("find", *s) for s in found)]


def explain(conn: sqlite3.Connection, sql: str, params: list) -> list[str]:
    return [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]


@dataclass
class Timings:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    elapsed_s: float = 0.0

    def summary(self) -> dict:
        ordered = sorted(self.latencies_ms)
        return {
            "requests": len(ordered) + self.errors,
            "ok": len(ordered),
            "errors": self.errors,
            "first_error": self.first_error,
            "per_s": round(len(ordered) / self.elapsed_s, 1) if self.elapsed_s else None,
            "p50_ms": _r(percentile(ordered, 50)),
            "p99_ms": _r(percentile(ordered, 99)),
            "max_ms": _r(ordered[-1] if ordered else None),
        }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def time_raw(conn: sqlite3.Connection, query: RawQuery, requests: int, seconds: float) -> dict:
    """The count and the page as the store runs them, back to back, sequentially."""
    schema = read_schema(conn, query.table)
    timings = Timings()
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    total, page = None, []
    while len(timings.latencies_ms) < requests and time.perf_counter() < deadline:
        t0 = time.perf_counter_ns()
        # The store plans a page with the total its last count of the filter found.
        total, page, _ = run_raw(conn, query, schema, total)
        timings.latencies_ms.append((time.perf_counter_ns() - t0) / 1e6)
    timings.elapsed_s = time.perf_counter() - started
    summary = timings.summary()
    summary["total"] = total
    summary["app_numbers"] = [json.loads(r[2])["app_number"] for r in page]
    return summary


def raw_statements(conn: sqlite3.Connection, query: RawQuery) -> list[tuple[str, str, list]]:
    """[(kind, sql, params)]: the statements the count ran, then the page's (a repeated
    query's: planned with the total the first run found)."""
    schema = read_schema(conn, query.table)
    total = run_raw(conn, query, schema)[0]
    return run_raw(conn, query, schema, total)[2]
