"""``case-search``: ``GET /cases/advanced-search/paged?limit=25`` with a million cases.

Seeding (before any process starts, into the cases service's own SQLite
file, through the kernel's ``SqliteStore``):

- the workspace, its administrator and ``--users`` users (one of them,
  ``viewer``, an operator without PM_ALLCASES) by the cases service's own
  directory code (``bootstrap``, ``create_user``);
- eight three-task sequential processes by its definitions code; ``viewer``
  supervises the first;
- ``--cases`` cases with their delegations, in the shapes
  ``services/cases/cases/workflow.py`` and ``actions.py`` write them
  (``bench.bench_cases.CaseLife``, which replays start, routing, pause,
  cancel and delete with the real routing engine): varied titles (customer,
  subject, order number), statuses (about half COMPLETED, a third TO_DO at
  one of the three tasks, the rest CANCELLED, DELETED, PAUSED, DRAFT),
  users, dates over three years. ``--workers`` processes build and insert
  them in parallel (``insert_many``, one transaction per batch); then the
  ``app_number`` counter is moved past them and the service's indexes
  (``services/cases/cases/indexes.py``) are built, as the service's start-up
  would build them.

Then the platform starts on that data, one real case is driven to
completion through the API and its documents compared key by key with a
seeded one (the shape check), and each query is loaded through the gateway
with a Bearer token, ``--concurrency`` requests in flight (default one), for
``--requests`` requests or ``--seconds`` seconds, whichever comes first,
after a warm-up:

- as ``admin`` (PM_ALLCASES): no filter; ``search=`` a customer (about 2 %
  of the cases); ``search=`` an order number (a handful); sorted by
  ``APP_CACHE_VIEW.APP_UPDATE_DATE``;
- as ``viewer`` (participated or supervised cases only): no filter,
  ``search=`` a customer, sorted by update date.

The raw component: for each query, the count and the page the store runs
for it (the filters taken from the real ``queries.list_cases`` with a
recording store, planned and run by the store's own ``sqlite_plan``
functions), timed straight on a sqlite3 connection to the same file; and
the EXPLAIN QUERY PLAN of every statement they ran.

``--seed-cache PATH`` keeps the seeded file (about 6 GB) and copies it in
later runs with the same ``--cases``/``--users`` (seconds instead of
minutes); ``--seed-only`` fills the cache and starts nothing, so that the
seeding and the measurement can run at different times.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sqlite3
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench import format_table
from bench.case_search_raw import (
    Timings,
    connect_raw,
    explain,
    raw_statements,
    recorded_query,
    time_raw,
)
from bench.case_search_seed import (
    VIEWER,
    WORKSPACE,
    Seeded,
    cached_seed,
    seed_cache_only,
    seed_or_copy,
    shape_check,
)
from bench.platform import add_platform_arguments, launched_platform, sign_in
from bench.rss import current_rss_kib, mib, peak_rss_kib

DESCRIPTION = "advanced-search/paged?limit=25 over 1M seeded cases (admin, search, sort, non-admin)"

WARMUP_SECONDS = 5.0
COMMON_SEARCH = "initech"  # one customer of fifty: about 2 % of the titles


# -- the queries -------------------------------------------------------------------------

PATH = "/cases/advanced-search/paged"


@dataclass(frozen=True)
class Scenario:
    label: str
    who: str  # "admin" or VIEWER
    params: dict[str, str]

    @property
    def query(self) -> str:
        return urllib.parse.urlencode({"limit": "25", **self.params})


def scenarios(rare_search: str) -> list[Scenario]:
    update = {"sort": "APP_CACHE_VIEW.APP_UPDATE_DATE"}
    return [
        Scenario("admin, no filter", "admin", {}),
        Scenario(f"admin, search={COMMON_SEARCH}", "admin", {"search": COMMON_SEARCH}),
        Scenario(f"admin, search={rare_search}", "admin", {"search": rare_search}),
        Scenario("admin, sort=APP_UPDATE_DATE", "admin", update),
        Scenario("viewer, no filter", VIEWER, {}),
        Scenario(f"viewer, search={COMMON_SEARCH}", VIEWER, {"search": COMMON_SEARCH}),
        Scenario("viewer, sort=APP_UPDATE_DATE", VIEWER, update),
    ]


async def time_api(
    session: aiohttp.ClientSession,
    url: str,
    token: str,
    *,
    requests: int,
    seconds: float,
    concurrency: int,
    warmup: int,
) -> tuple[dict, dict]:
    headers = {"Authorization": f"Bearer {token}"}
    first: dict = {}

    async def one(timings: Timings | None) -> None:
        t0 = time.perf_counter_ns()
        try:
            async with session.get(url, headers=headers) as response:
                body = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            if timings is not None:
                timings.errors += 1
                timings.first_error = timings.first_error or f"{type(exc).__name__}: {exc}"
            return
        elapsed = (time.perf_counter_ns() - t0) / 1e6
        if status != 200:
            if timings is not None:
                timings.errors += 1
                timings.first_error = timings.first_error or f"HTTP {status}: {body[:200]!r}"
            return
        if not first:
            first.update(json.loads(body))
        if timings is not None:
            timings.latencies_ms.append(elapsed)

    async def loop(timings: Timings | None, count: int, limit_s: float) -> None:
        issued = 0
        deadline = time.perf_counter() + limit_s

        async def worker() -> None:
            nonlocal issued
            while issued < count and time.perf_counter() < deadline:
                issued += 1
                await one(timings)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        if timings is not None:
            timings.elapsed_s = time.perf_counter() - started

    await loop(None, warmup, min(seconds, WARMUP_SECONDS))
    timings = Timings()
    await loop(timings, requests, seconds)
    return timings.summary(), first


# -- the benchmark -----------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cases", type=int, default=1_000_000, help="cases to seed (default 1000000)"
    )
    parser.add_argument(
        "--users", type=int, default=50, help="users to seed, viewer included (default 50)"
    )
    parser.add_argument("--workers", type=int, default=2, help="seeding processes (default 2)")
    parser.add_argument(
        "--requests", type=int, default=300, help="measured requests per query (default 300)"
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=15.0,
        help="at most this long measuring each query through the API (default 15)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="requests in flight (default 1: one user's latency; the cases service runs "
        "these reads one at a time, so more in flight queue behind each other)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=3,
        help=f"uncounted requests per query first, at most {WARMUP_SECONDS:.0f}s (default 3)",
    )
    parser.add_argument(
        "--raw-requests",
        type=int,
        default=50,
        help="times each query's SQL runs straight on SQLite (default 50)",
    )
    parser.add_argument(
        "--raw-seconds",
        type=float,
        default=8.0,
        help="at most this long running each query's SQL straight on SQLite (default 8)",
    )
    parser.add_argument(
        "--seed-cache",
        type=Path,
        metavar="PATH",
        help="keep the seeded file here and copy it in later runs with the same --cases/--users",
    )
    parser.add_argument(
        "--seed-only",
        action="store_true",
        help="with --seed-cache: seed into the cache (unless it already fits) and measure nothing",
    )
    add_platform_arguments(parser)


def run(args: argparse.Namespace) -> dict:
    if args.gateway:
        raise SystemExit("case-search seeds the cases service's database: it cannot use --gateway")
    if args.seed_only:
        if args.seed_cache is None:
            raise SystemExit("--seed-only needs --seed-cache PATH")
        report = asyncio.run(seed_cache_only(args))
        print(f"seed cache {args.seed_cache}: {'already there' if report['already'] else 'seeded'}")
        print(f"seconds: {report['seconds']}; rows: {report['rows']}")
        return {k: v for k, v in report.items() if not k.endswith("password")}
    return asyncio.run(_run(args))


def _rare_search(path: Path, count: int) -> str:
    """The order number in the title of the case in the middle (a handful of titles hold it)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = conn.execute(
            "SELECT json_extract(doc, '$.app_title') FROM c_cases "
            "WHERE json_extract(doc, '$.workspace') = ? AND json_extract(doc, '$.app_number') = ?",
            (WORKSPACE, max(1, count // 2)),
        ).fetchone()
    finally:
        conn.close()
    return row[0].rsplit("order ", 1)[1].rstrip(")")


async def _run(args: argparse.Namespace) -> dict:
    seeded: list[Seeded] = []

    async def prepare(data_dir: Path, env: dict[str, str]) -> None:
        import logging

        logging.getLogger("casemesh").setLevel(logging.ERROR)  # the default-secret warning
        print(f"seeding {args.cases} cases ({args.workers} workers)...", flush=True)
        started = time.perf_counter()
        seeded.append(await seed_or_copy(data_dir, env, args))
        print(
            f"seeded{' (copied)' if seeded[0].copied_from else ''} in "
            f"{time.perf_counter() - started:.0f}s: "
            + ", ".join(f"{k} {v:.1f}s" for k, v in seeded[0].seconds.items())
            + f"; {seeded[0].rows}, {seeded[0].file_mib:.0f} MiB",
            flush=True,
        )

    report: dict[str, Any] = {}
    rows: list[dict] = []
    known = cached_seed(args)
    # A copied file holds the administrator of the run that seeded it.
    service_env = {"cases": {"CASEMESH_ADMIN_PASSWORD": known["admin_password"]}} if known else None
    async with launched_platform(
        args, prepare=prepare, ready_timeout=300, service_env=service_env
    ) as platform:
        seed = seeded[0]
        assert platform.admin_password
        connector = aiohttp.TCPConnector(limit=args.concurrency + 2)
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            tokens = {
                "admin": await sign_in(
                    session, platform.gateway_url, "admin", platform.admin_password
                ),
                VIEWER: await sign_in(session, platform.gateway_url, VIEWER, seed.viewer_password),
            }
            shape = await shape_check(session, platform.gateway_url, tokens["admin"], seed.path)
            print(f"shape check: {shape}", flush=True)
            rare = _rare_search(seed.path, seed.cases)
            raw_conn = connect_raw(seed.path)
            try:
                for scenario in scenarios(rare):
                    query = await recorded_query(seed.path, scenario, seed.users)
                    sqls = raw_statements(raw_conn, query)
                    plans = [
                        {"kind": kind, "sql": sql, "plan": explain(raw_conn, sql, params)}
                        for kind, sql, params in sqls
                    ]
                    print(f"{scenario.label}: raw SQL...", flush=True)
                    raw = time_raw(raw_conn, query, args.raw_requests, args.raw_seconds)
                    url = f"{platform.gateway_url}/api/1.0/{WORKSPACE}{PATH}?{scenario.query}"
                    print(f"{scenario.label}: GET {PATH}?{scenario.query}", flush=True)
                    before = {p.name: p.cpu_seconds() for p in platform.processes}
                    api, first = await time_api(
                        session,
                        url,
                        tokens[scenario.who],
                        requests=args.requests,
                        seconds=args.seconds,
                        concurrency=args.concurrency,
                        warmup=args.warmup,
                    )
                    cpu = {}
                    for process in platform.processes:
                        start, end = before[process.name], process.cpu_seconds()
                        if start is not None and end is not None and end - start > 0.05:
                            cpu[process.name] = round(end - start, 2)
                    same = (
                        first.get("total") == raw["total"]
                        and [int(r["app_number"]) for r in first.get("data", [])]
                        == raw["app_numbers"]
                    )
                    rows.append(
                        {
                            "query": scenario.label,
                            "url": f"{PATH}?{scenario.query}",
                            "who": scenario.who,
                            "total": first.get("total"),
                            "api": api,
                            "raw": {k: v for k, v in raw.items() if k != "app_numbers"},
                            "api_vs_raw_p50": _ratio(api["p50_ms"], raw["p50_ms"]),
                            "same_answer": same,
                            "cpu_s": cpu,
                            "sql": [{"kind": k, "sql": s, "params": p} for k, s, p in sqls],
                            "plans": plans,
                        }
                    )
                    print(
                        f"  total {first.get('total')}: API p50 {api['p50_ms']} p99 "
                        f"{api['p99_ms']} ms ({api['ok']} ok, {api['errors']} errors); raw p50 "
                        f"{raw['p50_ms']} p99 {raw['p99_ms']} ms; same answer: {same}",
                        flush=True,
                    )
            finally:
                raw_conn.close()
        memory = [
            {
                "process": p.name,
                "pid": p.pid,
                "peak_rss_kib": p.peak_rss_kib(),
                "rss_kib": current_rss_kib(p.pid),
            }
            for p in platform.processes
        ]
    memory.append(
        {
            "process": "harness",
            "pid": os.getpid(),
            "peak_rss_kib": peak_rss_kib(os.getpid()),
            "rss_kib": current_rss_kib(os.getpid()),
        }
    )
    report = {
        "settings": {
            "cases": args.cases,
            "users": args.users,
            "workers": args.workers,
            "requests": args.requests,
            "seconds": args.seconds,
            "concurrency": args.concurrency,
            "warmup": args.warmup,
            "raw_requests": args.raw_requests,
            "raw_seconds": args.raw_seconds,
            "log_level": args.log_level,
        },
        "seeding": {
            "copied_from": seed.copied_from or None,
            "seconds": {k: round(v, 1) for k, v in seed.seconds.items()},
            "rows": seed.rows,
            "file_mib": round(seed.file_mib),
        },
        "shape_check": shape,
        "queries": rows,
        "memory": memory,
    }
    _print(report)
    return report


def _short(sql: str) -> str:
    """The SQL with the JSON paths shortened: json_extract(doc, '$.x') -> $x."""
    return re.sub(r"json_extract\(doc, '\$\.([A-Za-z0-9_.]+)'\)", r"$\1", sql)


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 1) if a is not None and b else None


def _print(report: dict) -> None:
    s = report["settings"]
    print()
    print(
        f"GET {PATH}?limit=25 over {s['cases']} seeded cases: up to {s['requests']} requests "
        f"or {s['seconds']:.0f}s per query, {s['concurrency']} in flight, warm-up {s['warmup']}; "
        f"raw = the same count + page SQL on sqlite3, sequential"
    )
    print()
    headers = ["query", "total", "ok", "err", "req/s", "p50 ms", "p99 ms", "max ms"]
    headers += ["raw p50", "raw p99", "API/raw p50", "same", "CPU s"]
    table = []
    for row in report["queries"]:
        api, raw = row["api"], row["raw"]
        cpu = ", ".join(f"{k} {v}" for k, v in row["cpu_s"].items())
        table.append(
            [
                row["query"],
                row["total"],
                api["ok"],
                api["errors"],
                api["per_s"],
                api["p50_ms"],
                api["p99_ms"],
                api["max_ms"],
                raw["p50_ms"],
                raw["p99_ms"],
                row["api_vs_raw_p50"],
                "yes" if row["same_answer"] else "NO",
                cpu,
            ]
        )
    print(format_table(headers, table))
    for row in report["queries"]:
        if row["api"]["errors"]:
            print(f"{row['query']}: first error: {row['api']['first_error']}")
    print()
    print("the store's SQL for each query (count statements, then the page) and its plan")
    for row in report["queries"]:
        print(f"  {row['query']}:")
        for step in row["plans"]:
            print(f"    [{step['kind']}] {_short(step['sql'])}")
            print(f"        plan: {' | '.join(step['plan'])}")
    print()
    shape = report["shape_check"]
    differences = {
        k: v for k, v in shape.items() if k.startswith(("case_only", "delegation_only")) and v
    }
    print(
        f"shape check (a case driven through the API vs a seeded one): {differences or 'same keys'}"
    )
    print()
    print("peak memory of the processes the harness started")
    print(
        format_table(
            ["process", "pid", "peak RSS MiB (VmHWM)", "RSS MiB now"],
            [
                [m["process"], m["pid"], mib(m["peak_rss_kib"]), mib(m["rss_kib"])]
                for m in report["memory"]
            ],
        )
    )
