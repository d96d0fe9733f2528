"""Seeding for ``case-search``: a million cases in the cases service's own SQLite file.

Before any process starts, through the kernel's ``SqliteStore``: the
workspace, its administrator and ``--users`` users (``viewer`` among them,
an operator without PM_ALLCASES) by the cases service's own directory code;
eight three-task sequential processes by its definitions code (``viewer``
supervises the first); then the cases with their delegations in the shapes
``services/cases/cases/workflow.py`` writes (``bench.bench_cases.CaseLife``),
built by ``--workers`` processes; then the ``app_number`` counter and the
service's indexes. Also the shape check: a case driven through the API
against a seeded one.

``--seed-cache PATH`` keeps the seeded file at PATH (with ``PATH.json``:
the settings it was seeded with, the users, the passwords) and later runs
with the same ``--cases``/``--users`` copy it instead of seeding again;
the service's indexes are then brought up to date on the copy (a new index
is built there, and timed, as the service's start-up would build it).
``--seed-only`` on a cache that fits builds them in the cache itself: run
it once after changing the indexes, so that measured runs build nothing.
Code whose indexes differ (e.g. before and after a change) wants a cache
of its own: a side index whose definition changed is rebuilt.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.bench_cases import ADMIN_UID, CaseLife, Shapes, stamp, task_uid, three_task_process
from casemesh.store.sqlite import SqliteStore

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
    them. The store's writer leaves checkpoints to a thread that holds only
    its own process's write lock, which another worker's commits would race
    (measured: a 514 MiB WAL for 60,000 cases, growing with the count). So
    each worker copies the WAL into the file itself, still holding ``turn``,
    and the WAL starts over: it stays under one batch (about 100 MiB).
    """
    shapes = [Shapes(d) for d in seeded_processes(users, viewer)]

    async def seed() -> None:
        store = SqliteStore(path)
        wal = sqlite3.connect(path, isolation_level=None)
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
                    wal.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            wal.close()
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
    admin_password: str = ""
    copied_from: str = ""

    def about(self) -> dict:
        """What ``--seed-cache`` keeps beside the file (everything but its path)."""
        return {
            "cases": self.cases,
            "users": self.users,
            "viewer_password": self.viewer_password,
            "admin_password": self.admin_password,
            "seconds": self.seconds,
            "rows": self.rows,
            "file_mib": self.file_mib,
        }


def _cache_about(cache: Path) -> Path:
    return cache.with_name(cache.name + ".json")


def _wanted(args: argparse.Namespace) -> dict:
    return {"cases": args.cases, "users": args.users, "seed": SEED}


def cached_seed(args: argparse.Namespace) -> dict | None:
    """What ``--seed-cache`` holds for these settings (None: nothing usable)."""
    cache: Path | None = getattr(args, "seed_cache", None)
    if cache is None or not cache.exists() or not _cache_about(cache).exists():
        return None
    known = json.loads(_cache_about(cache).read_text())
    return known["seeded"] if known.get("wanted") == _wanted(args) else None


def _copy_db(source: Path, target: Path) -> None:
    """The SQLite file and its WAL, if one was left (a closed store leaves none)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")


async def _update_indexes(path: Path) -> float:
    """Build the cases service's indexes the file lacks (what start-up would do); seconds."""
    from services.cases.cases.indexes import INDEXES as CASE_INDEXES

    started = time.perf_counter()
    store = SqliteStore(path)
    try:
        for collection, wanted in CASE_INDEXES.items():
            await store.ensure_indexes(collection, wanted)
    finally:
        await store.close()
    return time.perf_counter() - started


async def seed_or_copy(data_dir: Path, env: dict[str, str], args: argparse.Namespace) -> Seeded:
    """Seed the cases service's file in ``data_dir``, or copy it from ``--seed-cache``."""
    path = data_dir / "db" / "cases.sqlite3"
    cache: Path | None = getattr(args, "seed_cache", None)
    known = cached_seed(args)
    if cache is not None and known is not None:
        started = time.perf_counter()
        _copy_db(cache, path)
        copy_s = time.perf_counter() - started
        seconds = {**known["seconds"], "copy": copy_s, "new indexes": await _update_indexes(path)}
        return Seeded(
            path,
            known["cases"],
            known["users"],
            known["viewer_password"],
            seconds,
            known["rows"],
            known["file_mib"],
            known["admin_password"],
            copied_from=str(cache),
        )
    seeded = await seed_platform(data_dir, env, args)
    seeded.admin_password = env["CASEMESH_ADMIN_PASSWORD"]
    if cache is not None:
        _copy_db(path, cache)
        about = {"wanted": _wanted(args), "seeded": seeded.about()}
        _cache_about(cache).write_text(json.dumps(about, indent=1))
    return seeded


async def seed_cache_only(args: argparse.Namespace) -> dict:
    """``--seed-only``: fill ``--seed-cache`` and start nothing.

    A cache that already fits gets the indexes the cases service declares
    now, in place (so that the measured runs copy a file that needs none).
    """
    known = cached_seed(args)
    if known is not None:
        upgrade = await _update_indexes(args.seed_cache)
        seconds = {**known["seconds"], "new indexes (in the cache)": upgrade}
        return {"seed_cache": str(args.seed_cache), "already": True, **known, "seconds": seconds}
    data_dir = Path(tempfile.mkdtemp(prefix="casemesh-seed-"))
    try:
        env = {
            "CASEMESH_ADMIN_PASSWORD": os.urandom(18).hex(),
            "CASEMESH_INTERNAL_SECRET": os.urandom(32).hex(),
        }
        seeded = await seed_or_copy(data_dir, env, args)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return {"seed_cache": str(args.seed_cache), "already": False, **seeded.about()}


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
