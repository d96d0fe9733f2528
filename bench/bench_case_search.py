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

The raw component: for each query, the SQL the store runs for it (the
count and the page, taken from the real ``queries.list_cases`` with a
recording store and compiled by ``casemesh/store/sqlite_query.py``), timed
straight on a sqlite3 connection to the same file; and its EXPLAIN QUERY
PLAN.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import re
import sqlite3
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp

from bench import format_table
from bench.bench_cases import ADMIN_UID, CaseLife, Shapes, stamp, task_uid, three_task_process
from bench.load import percentile
from bench.platform import add_platform_arguments, launched_platform, sign_in
from bench.rss import current_rss_kib, mib, peak_rss_kib
from casemesh.store.sqlite import SqliteStore
from casemesh.store.sqlite_counting import count_rows, read_indexes
from casemesh.store.sqlite_query import icontains

DESCRIPTION = "advanced-search/paged?limit=25 over 1M seeded cases (admin, search, sort, non-admin)"

WORKSPACE = "workflow"
BATCH = 1000
SEED = 20261122
# Dates: the three years up to the day of the run.
END_TIME = 1795305600  # 2026-11-21 00:00:00 UTC
SPAN = 3 * 365 * 86400
VIEWER = "viewer"

CUSTOMERS = (
    "Acme Corp",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark Industries",
    "Wayne Enterprises",
    "Wonka",
    "Cyberdyne",
    "Soylent",
    "Tyrell",
    "Vandelay",
    "Oscorp",
    "Aperture",
    "Gringotts",
    "Monarch",
    "Dunder Mifflin",
    "Pied Piper",
    "Massive Dynamic",
    "Virtucon",
    "Nakatomi",
    "Gekko & Co",
    "Sterling Cooper",
    "Prestige Worldwide",
    "Bluth Company",
    "Krusty Krab",
    "Los Pollos",
    "Wernham Hogg",
    "Ollivanders",
    "Duff",
    "Spacely Sprockets",
    "Cogswell Cogs",
    "Rekall",
    "Weyland-Yutani",
    "Abstergo",
    "Black Mesa",
    "Blue Sun",
    "Buy n Large",
    "Zorg",
    "Octan",
    "Mooby's",
    "Big Kahuna",
    "Jupiter Mining",
    "Ajax",
    "Yoyodyne",
    "Omni Consumer",
    "Sirius Cybernetics",
    "InGen",
    "Tessier-Ashpool",
    "Kaneda Motors",
)
SUBJECTS = (
    "laptop replacement",
    "travel to Lyon",
    "office chairs",
    "software licence",
    "contract renewal",
    "damaged delivery",
    "late invoice",
    "onboarding",
    "access to the ERP",
    "printer toner",
    "conference tickets",
    "server upgrade",
    "legal review",
    "refund request",
    "security incident",
    "catering",
    "fleet lease",
    "annual audit",
    "training budget",
    "data export",
    "new supplier",
    "warranty claim",
    "relocation",
    "phone plan",
    "cloud credits",
    "marketing brochure",
    "parking permit",
    "insurance claim",
    "desk move",
    "badge replacement",
    "VPN problem",
    "payroll correction",
    "holiday request",
    "team offsite",
    "consulting hours",
    "translation",
    "equipment loan",
    "password reset",
    "invoice dispute",
    "shipping delay",
)
PROCESSES = (
    ("Purchase request", ("Request", "Manager review", "Payment"), "Purchasing"),
    ("Customer complaint", ("Triage", "Investigation", "Resolution"), "Service"),
    ("Leave request", ("Application", "Team lead approval", "HR registration"), "People"),
    ("Contract review", ("Draft", "Legal review", "Signature"), "Legal"),
    ("IT incident", ("Report", "Diagnosis", "Fix"), "IT"),
    ("Expense claim", ("Submission", "Check", "Reimbursement"), "Finance"),
    ("Supplier onboarding", ("Registration", "Due diligence", "Activation"), "Purchasing"),
    ("Access request", ("Request", "Owner approval", "Provisioning"), "IT"),
)
# (status, weight): how the seeded cases ended up.
STATUS_MIX = (
    ("COMPLETED", 50),
    ("TO_DO", 30),
    ("CANCELLED", 8),
    ("DELETED", 5),
    ("PAUSED", 4),
    ("DRAFT", 3),
)
WARMUP_SECONDS = 5.0
COMMON_SEARCH = "initech"  # one customer of fifty: about 2 % of the titles


def process_uid(index: int) -> str:
    return f"c{index:02d}{'0' * 29}"


def _category_uid(name: str) -> str:
    names = sorted({category for _, _, category in PROCESSES})
    return f"ca{names.index(name):030d}"


def seeded_processes(users: list[str], viewer_uid: str) -> list[dict]:
    definitions = []
    for index, (title, tasks, category) in enumerate(PROCESSES):
        definitions.append(
            three_task_process(
                process_uid(index),
                title,
                users,
                task_titles=tasks,
                supervisors=(viewer_uid,) if index == 0 else (),
                category={"uid": _category_uid(category), "name": category},
            )
        )
    return definitions


# -- building the cases ------------------------------------------------------------------


def _gap(rng: random.Random, moment: float, steps: int) -> float:
    """Seconds to the next step: minutes to days, and never past END_TIME."""
    room = max(END_TIME - moment, 0) / max(steps, 1)
    return rng.uniform(0, min(5 * 86400, room))


def build_case(
    number: int, count: int, rng: random.Random, shapes: list[Shapes], users: list[str]
) -> tuple[dict, list[dict]]:
    """Case ``number`` of ``count``: its document and its delegations, as stored at the end."""
    status = rng.choices([s for s, _ in STATUS_MIX], [w for _, w in STATUS_MIX])[0]
    life = CaseLife(rng.choice(shapes), rng)
    # Numbers follow creation time, as they do when cases are really started.
    moment = END_TIME - SPAN + SPAN * (number - 1) / count + rng.random() * 60
    customer = rng.choice(CUSTOMERS)
    order = rng.randrange(10000, 100000)
    title = f"{customer}: {rng.choice(SUBJECTS)} (order {order})"
    variables = {
        "amount": str(rng.randrange(10, 50000)),
        "customer": customer,
        "order": str(order),
        "priority": rng.choice(("low", "normal", "high")),
    }
    user = rng.choice(users)
    life.start(
        workspace=WORKSPACE,
        number=number,
        title=title,
        user=user,
        when=stamp(moment),
        variables=variables,
        draft=status == "DRAFT",
    )
    if status == "COMPLETED":
        routings = 3
    elif status in ("TO_DO", "PAUSED", "CANCELLED"):
        routings = rng.randrange(3)  # at task 1, 2 or 3
    else:
        routings = 0  # DRAFT and DELETED cases never left their first task
    steps = routings + (status in ("PAUSED", "CANCELLED", "DELETED"))
    for _ in range(routings):
        moment += _gap(rng, moment, steps)
        life.route(rng.choice(users), stamp(moment))
    later = stamp(moment + _gap(rng, moment, steps))
    if status == "PAUSED":
        life.pause(life.rows[-1]["usr_uid"], later, None)
    elif status in ("CANCELLED", "DELETED"):
        life.cancel(later, status)
    return life.case, life.rows


def _seed_range(
    path: str, start: int, stop: int, count: int, users: list[str], viewer: str, turn
) -> None:
    """A worker process: cases start..stop-1 (numbers start+1..stop), in batches.

    The workers build their batches in parallel and take ``turn`` to write
    them, so a transaction only begins once the last commit (and the WAL
    checkpoint that follows it) is over: SQLite can then restart the WAL
    instead of growing it for as long as writers overlap.
    """
    shapes = [Shapes(d) for d in seeded_processes(users, viewer)]

    async def seed() -> None:
        store = SqliteStore(path)
        try:
            for first in range(start, stop, BATCH):
                cases, rows = [], []
                rng = random.Random(SEED * 7919 + first)
                for index in range(first, min(first + BATCH, stop)):
                    case, delegations = build_case(index + 1, count, rng, shapes, users)
                    cases.append(case)
                    rows += delegations
                with turn:
                    async with store.transaction() as tx:
                        await tx.insert_many("cases", cases)
                        await tx.insert_many("delegations", rows)
        finally:
            await store.close()

    asyncio.run(seed())


@dataclass
class Seeded:
    path: Path
    cases: int
    users: dict[str, str]  # username -> usr_uid
    viewer_password: str
    seconds: dict[str, float] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    file_mib: float = 0.0


async def seed_platform(data_dir: Path, env: dict[str, str], args: argparse.Namespace) -> Seeded:
    from casemesh.settings import Settings
    from services.cases.cases.indexes import INDEXES as CASE_INDEXES
    from services.cases.definitions.model import ProcessDefinition
    from services.cases.definitions.service import ProcessDefinitions
    from services.cases.definitions.store import INDEXES as DEFINITION_INDEXES
    from services.cases.directory import repository, token_repository, users
    from services.cases.directory.bootstrap import bootstrap
    from services.cases.directory.context import Directory
    from services.cases.directory.schemas import UserCreate

    path = data_dir / "db" / "cases.sqlite3"
    settings = Settings(
        mode="production",
        data_dir=data_dir,
        admin_password=env["CASEMESH_ADMIN_PASSWORD"],
        internal_secret=env["CASEMESH_INTERNAL_SECRET"],
    )
    viewer_password = os.urandom(12).hex()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    store = SqliteStore(path)
    try:
        for indexes in (repository.INDEXES, token_repository.INDEXES, DEFINITION_INDEXES):
            for collection, wanted in indexes.items():
                await store.ensure_indexes(collection, wanted)
        directory = Directory(store, settings)
        await bootstrap(directory)
        people: dict[str, str] = {"admin": ADMIN_UID}

        async def new_user(n: int) -> None:
            username = VIEWER if n == 0 else f"user{n:03d}"
            body = UserCreate(
                usr_username=username,
                usr_firstname=username.title(),
                usr_lastname="Bench",
                usr_email=f"{username}@example.com",
                usr_new_pass=viewer_password if n == 0 else os.urandom(12).hex(),
                usr_role="PROCESSMAKER_OPERATOR",
            )
            people[username] = (await users.create_user(directory, WORKSPACE, body))["usr_uid"]

        await asyncio.gather(*(new_user(n) for n in range(args.users)))
        pool = sorted(people.values())
        definitions = ProcessDefinitions.over(store)
        for definition in seeded_processes(pool, people[VIEWER]):
            model = ProcessDefinition.model_validate(definition)
            await definitions.create(WORKSPACE, model, user_uid=ADMIN_UID)
        timings["directory and processes"] = time.perf_counter() - started
    finally:
        await store.close()

    started = time.perf_counter()
    workers = max(1, min(args.workers, args.cases // BATCH or 1))
    bounds = [args.cases * i // workers for i in range(workers + 1)]
    bounds = [BATCH * round(b / BATCH) for b in bounds[:-1]] + [args.cases]
    context = multiprocessing.get_context("spawn")
    turn = context.Lock()
    procs = [
        context.Process(
            target=_seed_range,
            args=(str(path), bounds[i], bounds[i + 1], args.cases, pool, people[VIEWER], turn),
        )
        for i in range(workers)
        if bounds[i] < bounds[i + 1]
    ]
    for proc in procs:
        proc.start()
    while any(p.is_alive() for p in procs):
        await asyncio.sleep(0.5)
    if any(p.exitcode != 0 for p in procs):
        raise RuntimeError(f"a seeding worker failed: exit codes {[p.exitcode for p in procs]}")
    timings["cases and delegations"] = time.perf_counter() - started

    store = SqliteStore(path)
    try:
        started = time.perf_counter()
        async with store.transaction() as tx:  # the next case started gets number N + 1
            for _ in range(args.cases):
                await tx.next_value("app_number", WORKSPACE)
        timings["app_number counter"] = time.perf_counter() - started
        started = time.perf_counter()
        for collection, wanted in CASE_INDEXES.items():
            await store.ensure_indexes(collection, wanted)
        timings["indexes"] = time.perf_counter() - started
        rows = {c: await store.count(c) for c in ("cases", "delegations")}
    finally:
        await store.close()
    size = sum(p.stat().st_size for p in path.parent.glob("cases.sqlite3*"))
    return Seeded(path, args.cases, people, viewer_password, timings, rows, size / 2**20)


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


class _Recorder:
    """A stand-in store for ``queries.list_cases``: records the count and find it asks for."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any, dict]] = []

    async def count(self, collection: str, where=None) -> int:
        self.calls.append(("count", collection, where, {}))
        return 0

    async def find(self, collection: str, where=None, **options) -> list:
        self.calls.append(("find", collection, where, options))
        return []


@dataclass
class RawQuery:
    """What the cases service asks the store for one list request: a count and a page."""

    table: str
    count_where: Any
    find_sql: str
    find_params: list


async def recorded_query(path: Path, scenario: Scenario, users: dict[str, str]) -> RawQuery:
    """Run the real ``queries.list_cases`` for ``scenario`` against a recording store."""
    from casemesh.identity import ALL_PERMISSIONS, PM_CASES, Identity
    from casemesh.store.sqlite_query import find_statement
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
    (_, collection, count_where, _), (_, _, find_where, options) = recorder.calls
    find_sql, find_params = find_statement(f"c_{collection}", find_where, **options)
    return RawQuery(f"c_{collection}", count_where, find_sql, find_params)


def connect_raw(path: Path) -> sqlite3.Connection:
    """A plain connection with the functions the store's SQL calls."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.create_function("cm_icontains", 2, icontains, deterministic=True)
    return conn


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
    """The count (as the store counts: ``count_rows``) and the page, back to back, sequentially."""
    indexes = read_indexes(conn, query.table)
    timings = Timings()
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    total, page = None, []
    while len(timings.latencies_ms) < requests and time.perf_counter() < deadline:
        t0 = time.perf_counter_ns()
        total, _ = count_rows(conn, query.table, query.count_where, indexes)
        page = conn.execute(query.find_sql, query.find_params).fetchall()
        timings.latencies_ms.append((time.perf_counter_ns() - t0) / 1e6)
    timings.elapsed_s = time.perf_counter() - started
    summary = timings.summary()
    summary["total"] = total
    summary["app_numbers"] = [json.loads(r[2])["app_number"] for r in page]
    return summary


def raw_statements(conn: sqlite3.Connection, query: RawQuery) -> list[tuple[str, str, list]]:
    """[(kind, sql, params)]: the statements the count ran, then the page's."""
    _, ran = count_rows(conn, query.table, query.count_where, read_indexes(conn, query.table))
    return [
        *(("count", sql, params) for sql, params in ran),
        ("find", query.find_sql, query.find_params),
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


# -- the shape check ---------------------------------------------------------------------


def key_paths(value: Any, prefix: str = "") -> set[str]:
    """Every key path in a JSON value, with the type at its end (list items as [])."""
    if isinstance(value, dict):
        paths = {f"{prefix}{{}}"} if not value else set()
        for key, item in value.items():
            paths |= key_paths(item, f"{prefix}{key}.")
        return paths
    if isinstance(value, list):
        paths = {f"{prefix}[]"}
        for item in value:
            paths |= key_paths(item, f"{prefix}[].")
        return paths
    kind = "null" if value is None else type(value).__name__
    return {f"{prefix.rstrip('.')}:{kind}"}


async def shape_check(session: aiohttp.ClientSession, gateway: str, token: str, path: Path) -> dict:
    """Drive one case of a seeded process to completion; compare its documents with a seed's."""
    base = f"{gateway}/api/1.0/{WORKSPACE}"
    headers = {"Authorization": f"Bearer {token}"}
    pro_uid = process_uid(1)
    body = {
        "pro_uid": pro_uid,
        "tas_uid": task_uid(pro_uid, 1),
        "variables": [{"amount": "100", "customer": "Initech", "order": "1", "priority": "low"}],
    }
    async with session.post(f"{base}/cases", json=body, headers=headers) as response:
        created = await response.json()
        if response.status != 200:
            raise RuntimeError(f"shape check: POST /cases answered {response.status}: {created}")
    app_uid = created["app_uid"]
    for _ in range(3):
        async with session.put(
            f"{base}/cases/{app_uid}/route-case", json={}, headers=headers
        ) as response:
            if response.status != 200:
                raise RuntimeError(f"shape check: route-case answered {response.status}")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        real_case = json.loads(
            conn.execute("SELECT doc FROM c_cases WHERE id = ?", (app_uid,)).fetchone()[0]
        )
        real_rows = [
            json.loads(r[0])
            for r in conn.execute(
                "SELECT doc FROM c_delegations WHERE json_extract(doc, '$.app_uid') = ?", (app_uid,)
            )
        ]
        seeded_row = conn.execute(
            "SELECT doc FROM c_cases WHERE json_extract(doc, '$.workspace') = ? "
            "AND json_extract(doc, '$.app_status') = 'COMPLETED' "
            "AND json_extract(doc, '$.app_number') < 1000 LIMIT 1",
            (WORKSPACE,),
        ).fetchone()
        seeded_case = json.loads(seeded_row[0])
        seeded_rows = [
            json.loads(r[0])
            for r in conn.execute(
                "SELECT doc FROM c_delegations WHERE json_extract(doc, '$.app_uid') = ?",
                (seeded_case["app_uid"],),
            )
        ]
    finally:
        conn.close()

    def rows_paths(rows: list[dict]) -> set[str]:
        return set().union(*(key_paths(r) for r in rows)) if rows else set()

    # The seeded ones are compared with what the API wrote; a null here and a
    # string there (e.g. a due date) is the data, not the shape: compare names only.
    def names(paths: set[str]) -> set[str]:
        return {p.split(":")[0] for p in paths}

    case_real, case_seed = names(key_paths(real_case)), names(key_paths(seeded_case))
    rows_real, rows_seed = names(rows_paths(real_rows)), names(rows_paths(seeded_rows))
    return {
        "api_case": app_uid,
        "seeded_case": seeded_case["app_uid"],
        "case_only_in_api": sorted(case_real - case_seed),
        "case_only_in_seed": sorted(case_seed - case_real),
        "delegation_only_in_api": sorted(rows_real - rows_seed),
        "delegation_only_in_seed": sorted(rows_seed - rows_real),
        # Same names, other JSON types (e.g. null in one, a string in the other): data, not shape.
        "case_type_differences": sorted(key_paths(real_case) ^ key_paths(seeded_case)),
        "delegations": [len(real_rows), len(seeded_rows)],
    }


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
    add_platform_arguments(parser)


def run(args: argparse.Namespace) -> dict:
    if args.gateway:
        raise SystemExit("case-search seeds the cases service's database: it cannot use --gateway")
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
        seeded.append(await seed_platform(data_dir, env, args))
        print(
            f"seeded in {time.perf_counter() - started:.0f}s: "
            + ", ".join(f"{k} {v:.1f}s" for k, v in seeded[0].seconds.items())
            + f"; {seeded[0].rows}, {seeded[0].file_mib:.0f} MiB",
            flush=True,
        )

    report: dict[str, Any] = {}
    rows: list[dict] = []
    async with launched_platform(args, prepare=prepare, ready_timeout=300) as platform:
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
