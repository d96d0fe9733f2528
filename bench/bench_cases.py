"""``cases``: process instances per second, driven to completion through the gateway.

A three-task sequential process (Request -> Review -> Approval -> END, every
task assigned to the administrator) is created with
``POST /api/1.0/workflow/processes``; then ``--cases`` cases are each driven
through the ProcessMaker API, ``--concurrency`` of them in flight:

    POST /api/1.0/workflow/cases                      (case at task 1)
    PUT  /api/1.0/workflow/cases/{app_uid}/route-case  x3 (task 2, task 3, COMPLETED)

with a Bearer token from ``POST /workflow/oauth2/token``. A case counts once
its last routing answered 200; the rounds' wall time gives instances per
second, and every call's latency its p50/p99. After each API round the
harness waits until the cases service's outbox is empty (its events are on
RabbitMQ) and then until no service has events queued (notes and
notifications have taken them), and reports those times too: instances per
second counting them is what the platform sustains, not only what the API
accepts in a burst. A sample of the cases is finally read back
(``GET /cases/{app_uid}``) to check that they are COMPLETED.

In the same run, the raw component: the same documents written straight
through the kernel's ``SqliteStore`` in a file of its own, with the same
transactions per case (start: case + delegation 1; each routing: the case
updated, the routed delegation closed, the next one inserted), the same
concurrency, and no HTTP, engine, events or outbox. The ratio API / raw says
how much of the storage floor the platform keeps.

The platform runs as five processes (SQLite, RabbitMQ, folder, .eml) on the
same machine as the load generator; the report gives each one's CPU (during
the rounds, and per case over the whole cycle) and peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench import format_table
from bench.load import percentile
from bench.platform import Platform, add_platform_arguments, launched_platform, sign_in
from bench.rss import current_rss_kib, mib, peak_rss_kib
from casemesh.store.sqlite import SqliteStore
from services.cases.definitions.model import ProcessDefinition
from services.cases.engine import routing

DESCRIPTION = "3-task sequential cases driven to completion via the API, vs raw SqliteStore writes"

WORKSPACE = "workflow"
ADMIN_UID = "00000000000000000000000000000001"
BENCH_PROCESS = "b0000000000000000000000000000000"
CALLS = ("POST /cases", "PUT route-case 1", "PUT route-case 2", "PUT route-case 3")
OPEN, CLOSED = "OPEN", "CLOSED"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


# -- the process ---------------------------------------------------------------


def task_uid(pro_uid: str, n: int) -> str:
    return f"{pro_uid[:-1]}{n}"


def three_task_process(
    pro_uid: str,
    title: str,
    users: list[str],
    *,
    task_titles: tuple[str, str, str] = ("Request", "Review", "Approval"),
    supervisors: tuple[str, ...] = (),
    category: dict | None = None,
) -> dict:
    """A sequential process of three tasks (a definition in the documented JSON format)."""
    tasks = []
    for n, task_title in enumerate(task_titles, start=1):
        target = task_uid(pro_uid, n + 1) if n < len(task_titles) else "END"
        tasks.append(
            {
                "uid": task_uid(pro_uid, n),
                "title": task_title,
                "users": list(users),
                "routes": {"type": "SEQUENTIAL", "to": [{"task": target}]},
            }
        )
    definition: dict[str, Any] = {
        "uid": pro_uid,
        "title": title,
        "description": f"{title}: three tasks in sequence (benchmark)",
        "start_tasks": [task_uid(pro_uid, 1)],
        "tasks": tasks,
        "supervisors": list(supervisors),
    }
    if category:
        definition["category"] = category
    return definition


# -- the documents a case's life writes (the shapes of services/cases/cases/workflow.py) ----

# Case fields copied onto each delegation row (services/cases/cases/snapshot.py).
SHARED_FIELDS = (
    "workspace",
    "app_uid",
    "app_number",
    "app_title",
    "app_status",
    "pro_uid",
    "pro_title",
    "cat_uid",
    "created_at",
    "updated_at",
    "finished_at",
    "last_index",
    "init_usr_uid",
)
CURRENT_FIELDS = (
    "id",
    "del_index",
    "thread",
    "tas_uid",
    "tas_title",
    "status",
    "usr_uid",
    "previous_usr_uid",
    "delegate_date",
    "init_date",
    "due_date",
    "finish_date",
)


def stamp(seconds: float) -> str:
    return time.strftime(DATE_FORMAT, time.gmtime(seconds))


class Shapes:
    """The routing states of one three-task process, from the real (pure) engine."""

    def __init__(self, definition: dict) -> None:
        self.definition = definition
        self.model = ProcessDefinition.model_validate(definition)
        self.tasks = [(t["uid"], t["title"]) for t in definition["tasks"]]
        state = routing.start(self.model, self.tasks[0][0])
        # after[k]: the state after k routings (0 = just started; 3 = completed).
        self.after = [state.to_dict()]
        self.cancelled = [routing.cancel(state).state.to_dict()]
        for index in range(1, len(self.tasks) + 1):
            state = routing.route(self.model, state, index, {}).state
            self.after.append(state.to_dict())
            self.cancelled.append(routing.cancel(state).state.to_dict())
        self.category = definition.get("category") or {}


@dataclass
class Write:
    """One transaction of a case's life: inserts and (collection, id, changes) updates."""

    inserts: list[tuple[str, dict]] = field(default_factory=list)
    updates: list[tuple[str, str, dict]] = field(default_factory=list)


@dataclass
class CaseLife:
    """A case and its delegations as services/cases writes them, step by step.

    ``start`` is POST /cases, ``route`` PUT route-case (sequential process,
    the routed user hands over to ``next_user``), ``pause``, ``cancel`` and
    ``delete`` the actions of services/cases/cases/actions.py. Each returns
    the transaction's writes; ``case`` and ``rows`` hold the documents as
    stored after it.
    """

    shapes: Shapes
    # Where uids and pins come from: seeded for bulk loading, else random.
    rng: random.Random | None = None
    case: dict = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)
    routed: int = 0

    def _uid(self) -> str:
        if self.rng is None:
            return uuid.uuid4().hex
        return f"{self.rng.getrandbits(128):032x}"

    def _shared(self) -> dict:
        return {name: self.case.get(name) for name in SHARED_FIELDS}

    def _row(self, index: int, user: str, previous: str, when: str) -> dict:
        tas_uid, tas_title = self.shapes.tasks[index - 1]
        return {
            "id": self._uid(),
            "workspace": self.case["workspace"],
            "app_uid": self.case["app_uid"],
            "del_index": index,
            "thread": 1,
            "tas_uid": tas_uid,
            "tas_title": tas_title,
            "status": OPEN,
            "usr_uid": user,
            "previous_usr_uid": previous,
            "pool": [],
            "delegate_date": when,
            "init_date": when,
            "due_date": None,
            "finish_date": None,
        }

    def start(
        self,
        *,
        workspace: str,
        number: int,
        title: str,
        user: str,
        when: str,
        variables: dict,
        draft: bool = False,
    ) -> Write:
        app_uid = self._uid()
        definition = self.shapes.definition
        self.case = {
            "id": app_uid,
            "workspace": workspace,
            "app_uid": app_uid,
            "app_number": number,
            "app_title": title,
            "app_status": "DRAFT" if draft else "TO_DO",
            "pro_uid": definition["uid"],
            "pro_title": definition["title"],
            "cat_uid": self.shapes.category.get("uid", ""),
            "init_usr_uid": user,
            "created_at": when,
            "updated_at": when,
            "finished_at": None,
            "last_index": 1,
            "variables": variables,
            "routing": self.shapes.after[0],
            "participants": [user],
            "delegation_ids": {},
            "pause": None,
            "pin": f"{self.rng.getrandbits(16) if self.rng else int.from_bytes(os.urandom(2)):04X}",
        }
        row = self._row(1, user, "", when)
        self.case["delegation_ids"]["1"] = row["id"]
        self.case["current"] = {k: row.get(k) for k in CURRENT_FIELDS}
        self.rows = [{**row, **self._shared()}]
        return Write(inserts=[("cases", dict(self.case)), ("delegations", dict(self.rows[0]))])

    def route(self, next_user: str, when: str) -> Write:
        """Route the open delegation to the next task (or to the end)."""
        row = self.rows[-1]
        before = dict(row)
        self.routed += 1
        done = self.routed == len(self.shapes.tasks)
        case = self.case
        case["routing"] = self.shapes.after[self.routed]
        case["updated_at"] = when
        created = None
        if not done:
            created = self._row(self.routed + 1, next_user, row["usr_uid"], when)
            case["delegation_ids"][str(created["del_index"])] = created["id"]
            case["last_index"] = created["del_index"]
            case["participants"] = list(dict.fromkeys([*case["participants"], next_user]))
        case["app_status"] = "COMPLETED" if done else "TO_DO"
        if done:
            case["finished_at"] = when
        # The real command takes `current` from the rows as read, before closing them.
        case["current"] = {k: (created or before).get(k) for k in CURRENT_FIELDS}
        shared = self._shared()
        closing = {**shared, "status": CLOSED, "finish_date": when}
        self.rows[-1] = {**row, **closing}
        write = Write(updates=[("cases", case["id"], _changes(case))])
        write.updates.append(("delegations", row["id"], closing))
        if created is not None:
            created = {**created, **shared}
            self.rows.append(created)
            write.inserts.append(("delegations", dict(created)))
        return write

    def pause(self, by: str, when: str, until: str | None) -> Write:
        case = self.case
        case["updated_at"] = when
        case["pause"] = {"previous_status": case["app_status"], "by": by, "until": until}
        case["app_status"] = "PAUSED"
        return self._refresh_open()

    def cancel(self, when: str, status: str = "CANCELLED") -> Write:
        """Cancel (or, for ``status`` DELETED, delete): every open delegation closed."""
        case = self.case
        case["updated_at"] = when
        case["finished_at"] = when
        case["routing"] = self.shapes.cancelled[self.routed]
        case["current"] = {**case["current"], "status": CLOSED}
        case["app_status"] = status
        return self._refresh_open(status=CLOSED, finish_date=when)

    def _refresh_open(self, **changes: Any) -> Write:
        write = Write(updates=[("cases", self.case["id"], _changes(self.case))])
        shared = self._shared()
        for i, row in enumerate(self.rows):
            if row["status"] == OPEN:
                update = {**shared, **changes}
                self.rows[i] = {**row, **update}
                write.updates.append(("delegations", row["id"], update))
        return write


def _changes(case: dict) -> dict:
    return {k: v for k, v in case.items() if k not in ("id", "_version")}


# -- the benchmark ---------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cases", type=int, default=2000, help="cases per side and round (default 2000)"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds; API and raw alternate first (default 3)"
    )
    parser.add_argument("--concurrency", type=int, default=32, help="cases in flight (default 32)")
    parser.add_argument(
        "--warmup", type=int, default=200, help="uncounted cases per side first (default 200)"
    )
    parser.add_argument(
        "--check", type=int, default=50, help="cases read back at the end to check (default 50)"
    )
    add_platform_arguments(parser)


def run(args: argparse.Namespace) -> dict:
    return asyncio.run(_run(args))


@dataclass
class Side:
    """One side's measured runs: wall time, completed cases, per-call latencies."""

    name: str
    elapsed_s: float = 0.0
    completed: int = 0
    failed: int = 0
    first_error: str = ""
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    round_rates: list[float] = field(default_factory=list)
    # API side: events not yet published when a round's last case completed,
    # and how long the outbox relay then took to publish them.
    backlogs: list[int | None] = field(default_factory=list)
    drains_s: list[float | None] = field(default_factory=list)
    # ... and until the consuming services' queues were empty too.
    consumed_s: list[float | None] = field(default_factory=list)
    cpu_s: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    cycle_cpu_s: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    @property
    def rate(self) -> float:
        return self.completed / self.elapsed_s if self.elapsed_s else 0.0

    def rate_with_events(self, waits: list[float | None] | None = None) -> float | None:
        """Cases per second counting the time until their events left the outbox, too."""
        waits = self.drains_s if waits is None else waits
        if not waits or any(d is None for d in waits):
            return None
        return round(self.completed / (self.elapsed_s + sum(waits)), 1)  # type: ignore[arg-type]

    def summary(self) -> dict:
        calls = {}
        for name, values in self.latencies_ms.items():
            ordered = sorted(values)
            calls[name] = {
                "count": len(ordered),
                "p50_ms": _r(percentile(ordered, 50)),
                "p99_ms": _r(percentile(ordered, 99)),
                "max_ms": _r(ordered[-1] if ordered else None),
            }
        return {
            "side": self.name,
            "completed": self.completed,
            "failed": self.failed,
            "first_error": self.first_error,
            "elapsed_s": round(self.elapsed_s, 3),
            "instances_per_s": round(self.rate, 1),
            "round_instances_per_s": [round(r, 1) for r in self.round_rates],
            "outbox_backlog_at_round_end": self.backlogs,
            "outbox_drain_s": [None if d is None else round(d, 1) for d in self.drains_s],
            "instances_per_s_with_events": self.rate_with_events(),
            "consumed_s": [None if d is None else round(d, 1) for d in self.consumed_s],
            "instances_per_s_with_events_consumed": self.rate_with_events(self.consumed_s),
            "calls": calls,
            "cpu_ms_per_case_whole_cycle": {
                name: round(seconds * 1000 / self.completed, 2) if self.completed else None
                for name, seconds in self.cycle_cpu_s.items()
            },
            "cpu_percent": {
                name: round(seconds / self.elapsed_s * 100, 1) if self.elapsed_s else None
                for name, seconds in self.cpu_s.items()
            },
        }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _tickets(count: int) -> Iterator[int]:
    yield from range(count)


async def _closed_loop(count: int, concurrency: int, one_case) -> tuple[float, int]:
    """Run ``one_case(n)`` for n < count with ``concurrency`` in flight; (seconds, failures)."""
    tickets = _tickets(count)
    failures = 0

    async def worker() -> None:
        nonlocal failures
        for n in tickets:
            if not await one_case(n):
                failures += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, failures


class ApiDriver:
    """Cases driven through the gateway with one keep-alive connection per worker."""

    def __init__(self, session: aiohttp.ClientSession, gateway: str, token: str) -> None:
        self.session = session
        self.base = f"{gateway}/api/1.0/{WORKSPACE}"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.app_uids: list[str] = []

    async def call(self, side: Side | None, label: str, method: str, path: str, body: dict):
        started = time.perf_counter_ns()
        async with self.session.request(
            method, self.base + path, json=body, headers=self.headers
        ) as response:
            payload = await response.read()
            status = response.status
        elapsed = (time.perf_counter_ns() - started) / 1e6
        if status != 200:
            raise RuntimeError(f"{method} {path}: HTTP {status} {payload[:300]!r}")
        if side is not None:
            side.latencies_ms[label].append(elapsed)
        return payload

    async def one_case(self, side: Side | None, n: int) -> bool:
        try:
            body = {
                "pro_uid": BENCH_PROCESS,
                "tas_uid": task_uid(BENCH_PROCESS, 1),
                "variables": [{"amount": str(100 + n % 5000), "customer": f"customer {n % 97}"}],
            }
            created = json.loads(await self.call(side, CALLS[0], "POST", "/cases", body))
            app_uid = created["app_uid"]
            for step in (1, 2, 3):
                await self.call(side, CALLS[step], "PUT", f"/cases/{app_uid}/route-case", {})
        except (RuntimeError, aiohttp.ClientError, TimeoutError, KeyError, ValueError) as exc:
            if side is not None:
                side.first_error = side.first_error or f"{type(exc).__name__}: {exc}"
            return False
        self.app_uids.append(app_uid)
        if side is not None:
            side.completed += 1
        return True


class RawDriver:
    """The same documents, written by the same transactions, straight into a SqliteStore."""

    def __init__(self, store: SqliteStore, shapes: Shapes) -> None:
        self.store = store
        self.shapes = shapes

    async def _commit(self, side: Side | None, label: str, write: Write, versions: dict) -> None:
        started = time.perf_counter_ns()
        async with self.store.transaction() as tx:
            for collection, doc in write.inserts:
                saved = await tx.insert(collection, doc)
                versions[doc["id"]] = saved["_version"]
            for collection, doc_id, changes in write.updates:
                expected = versions.get(doc_id) if collection == "cases" else None
                saved = await tx.update(collection, doc_id, changes, expected_version=expected)
                versions[doc_id] = saved["_version"]
        if side is not None:
            side.latencies_ms[label].append((time.perf_counter_ns() - started) / 1e6)

    async def one_case(self, side: Side | None, n: int) -> bool:
        life = CaseLife(self.shapes)
        versions: dict[str, int] = {}
        now = stamp(time.time())
        started = time.perf_counter_ns()
        async with self.store.transaction() as tx:
            number = await tx.next_value("app_number", WORKSPACE)
            write = life.start(
                workspace=WORKSPACE,
                number=number,
                title=f"#{number}",
                user=ADMIN_UID,
                when=now,
                variables={"amount": str(100 + n % 5000), "customer": f"customer {n % 97}"},
            )
            for collection, doc in write.inserts:
                versions[doc["id"]] = (await tx.insert(collection, doc))["_version"]
        if side is not None:
            side.latencies_ms["start tx"].append((time.perf_counter_ns() - started) / 1e6)
        for step in (1, 2, 3):
            await self._commit(side, f"route tx {step}", life.route(ADMIN_UID, now), versions)
        if side is not None:
            side.completed += 1
        return True


async def _api_round(
    driver: ApiDriver,
    side: Side | None,
    count: int,
    args: argparse.Namespace,
    platform: Platform,
) -> None:
    """Drive ``count`` cases; then wait until their events are published and consumed."""
    processes, data_dir = platform.processes, platform.data_dir
    before = {p.name: p.cpu_seconds() for p in processes}
    client_before = time.process_time()
    elapsed, failed = await _closed_loop(
        count, args.concurrency, lambda n: driver.one_case(side, n)
    )
    client_used = time.process_time() - client_before
    after_round = {p.name: p.cpu_seconds() for p in processes}
    backlog = _outbox_backlog(data_dir)
    drain = await _drained(data_dir)
    consumed = await _consumed(platform)
    if side is None:
        return
    for process in processes:  # the whole cycle: the round, the publishing, the consuming
        start, end = before[process.name], process.cpu_seconds()
        if start is not None and end is not None:
            side.cycle_cpu_s[process.name] += end - start
    side.elapsed_s += elapsed
    side.failed += failed
    side.round_rates.append((count - failed) / elapsed)
    side.backlogs.append(backlog)
    side.drains_s.append(drain)
    side.consumed_s.append(None if drain is None or consumed is None else drain + consumed)
    side.cpu_s["harness"] += client_used
    for process in processes:
        start, end = before[process.name], after_round[process.name]
        if start is not None and end is not None:
            side.cpu_s[process.name] += end - start


async def _consumed(platform: Platform, limit: float = 600) -> float | None:
    """Seconds until no service has events waiting in its queue (None: unknown, not in time)."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        queued = await platform.queued_events()
        if queued is None:
            return None
        if not any(queued.values()):
            return time.monotonic() - started
        await asyncio.sleep(0.2)
    return None


async def _drained(data_dir: Path | None, limit: float = 600) -> float | None:
    """Seconds until the cases service's outbox is empty (None: unknown, or not in time)."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        backlog = _outbox_backlog(data_dir)
        if backlog is None:
            return None
        if backlog == 0:
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    return None


async def _raw_round(driver: RawDriver, side: Side | None, count: int, concurrency: int) -> None:
    client_before = time.process_time()
    elapsed, failed = await _closed_loop(count, concurrency, lambda n: driver.one_case(side, n))
    if side is None:
        return
    side.elapsed_s += elapsed
    side.failed += failed
    side.round_rates.append((count - failed) / elapsed)
    side.cpu_s["harness (store + its thread)"] += time.process_time() - client_before


def _outbox_backlog(data_dir: Path | None) -> int | None:
    """Events the cases service has not published yet (read-only look at its database)."""
    if data_dir is None:
        return None
    path = data_dir / "db" / "cases.sqlite3"
    import sqlite3

    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM _outbox").fetchone()[0])
    except sqlite3.Error:
        return None


async def _create_process(session: aiohttp.ClientSession, gateway: str, token: str) -> None:
    definition = three_task_process(BENCH_PROCESS, "Benchmark: three tasks", [ADMIN_UID])
    url = f"{gateway}/api/1.0/{WORKSPACE}/processes"
    headers = {"Authorization": f"Bearer {token}"}
    async with session.post(url, json=definition, headers=headers) as response:
        text = await response.text()
        if response.status == 409:  # a platform given with --gateway that already has it
            return
        if response.status != 201:
            raise RuntimeError(f"POST {url}: HTTP {response.status} {text[:500]}")


async def _check(driver: ApiDriver, sample: int) -> dict:
    rng = random.Random(7)
    picked = rng.sample(driver.app_uids, min(sample, len(driver.app_uids)))
    statuses: dict[str, int] = defaultdict(int)
    for app_uid in picked:
        info = json.loads(await driver.call(None, "", "GET", f"/cases/{app_uid}", {}))
        tasks = len(info["current_task"])
        statuses[f"{info['app_status']} ({tasks} open tasks)"] += 1
    return dict(statuses)


async def _run(args: argparse.Namespace) -> dict:
    raw_dir = Path(tempfile.mkdtemp(prefix="casemesh-bench-raw-"))
    api = Side("API (gateway -> cases)")
    raw = Side("raw SqliteStore")
    memory: list[dict] = []
    shapes = Shapes(three_task_process(BENCH_PROCESS, "Benchmark: three tasks", [ADMIN_UID]))
    store = SqliteStore(raw_dir / "raw.sqlite3")
    try:
        from services.cases.cases.indexes import INDEXES

        for collection, indexes in INDEXES.items():
            await store.ensure_indexes(collection, indexes)
        raw_driver = RawDriver(store, shapes)
        async with launched_platform(args) as platform:
            if not platform.admin_password:
                raise SystemExit("--gateway needs --admin-password")
            connector = aiohttp.TCPConnector(limit=args.concurrency + 4)
            timeout = aiohttp.ClientTimeout(total=60)
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
                token = await sign_in(
                    session, platform.gateway_url, "admin", platform.admin_password
                )
                await _create_process(session, platform.gateway_url, token)
                driver = ApiDriver(session, platform.gateway_url, token)
                print(f"warm-up: {args.warmup} cases per side", flush=True)
                await _api_round(driver, None, args.warmup, args, platform)
                await _raw_round(raw_driver, None, args.warmup, args.concurrency)
                driver.app_uids.clear()
                for round_ in range(args.rounds):
                    order = ["api", "raw"] if round_ % 2 == 0 else ["raw", "api"]
                    for which in order:
                        print(f"round {round_ + 1}/{args.rounds}: {which}", flush=True)
                        if which == "api":
                            await _api_round(driver, api, args.cases, args, platform)
                            print(
                                f"  {api.round_rates[-1]:.1f} cases/s; {api.backlogs[-1]} events "
                                f"still in the outbox, all published after {api.drains_s[-1]} s "
                                f"and consumed after {api.consumed_s[-1]} s",
                                flush=True,
                            )
                        else:
                            await _raw_round(raw_driver, raw, args.cases, args.concurrency)
                            print(f"  {raw.round_rates[-1]:.1f} cases/s", flush=True)
                checked = await _check(driver, args.check)
            for process in platform.processes:
                memory.append(
                    {
                        "process": process.name,
                        "pid": process.pid,
                        "peak_rss_kib": process.peak_rss_kib(),
                        "rss_kib": current_rss_kib(process.pid),
                    }
                )
    finally:
        await store.close()
        shutil.rmtree(raw_dir, ignore_errors=True)
    memory.append(
        {
            "process": "harness (load generator + raw store)",
            "pid": os.getpid(),
            "peak_rss_kib": peak_rss_kib(os.getpid()),
            "rss_kib": current_rss_kib(os.getpid()),
        }
    )
    report = {
        "settings": {
            "cases": args.cases,
            "rounds": args.rounds,
            "concurrency": args.concurrency,
            "warmup": args.warmup,
            "launched": not args.gateway,
            "log_level": None if args.gateway else args.log_level,
        },
        "api": api.summary(),
        "raw": raw.summary(),
        "api_vs_raw": round(api.rate / raw.rate, 3) if raw.rate else None,
        "checked_cases": checked,
        "memory": memory,
    }
    _print(report)
    return report


def _print(report: dict) -> None:
    s = report["settings"]
    print()
    print(
        f"three-task sequential cases: {s['cases']} per side in each of {s['rounds']} rounds "
        f"(pooled), {s['concurrency']} in flight, warm-up {s['warmup']}"
    )
    print(
        f"(load generator, raw store and platform share this machine's {os.cpu_count()} cores; "
        "CPU % is of one core over the side's measured runs)"
    )
    print()
    rows = []
    for side in (report["api"], report["raw"]):
        cpu = ", ".join(f"{k} {v:.0f}" for k, v in side["cpu_percent"].items() if v is not None)
        rates = side["round_instances_per_s"]
        rows.append(
            [
                side["side"],
                side["completed"],
                side["failed"],
                f"{side['instances_per_s']:.1f}",
                f"{min(rates):.1f}..{max(rates):.1f}" if rates else "-",
                cpu,
            ]
        )
    print(
        format_table(
            ["side", "completed", "failed", "instances/s", "rounds min..max", "CPU %"], rows
        )
    )
    print(f"API / raw: {report['api_vs_raw']}")
    for side in (report["api"], report["raw"]):
        if side["failed"]:
            print(f"{side['side']}: {side['failed']} failed, first: {side['first_error']}")
    print()
    rows = []
    for side in (report["api"], report["raw"]):
        for name, call in side["calls"].items():
            rows.append(
                [
                    f"{side['side']}: {name}",
                    call["count"],
                    call["p50_ms"],
                    call["p99_ms"],
                    call["max_ms"],
                ]
            )
    print(format_table(["call", "count", "p50 ms", "p99 ms", "max ms"], rows))
    print()
    api = report["api"]
    print(
        "events still in the cases service's outbox when each API round ended: "
        f"{api['outbox_backlog_at_round_end']}, all published after {api['outbox_drain_s']} s, "
        f"consumed by notes and notifications after {api['consumed_s']} s"
    )
    print(
        f"instances/s counting the publishing too: {api['instances_per_s_with_events']}; "
        f"counting the consuming too: {api['instances_per_s_with_events_consumed']}"
    )
    per_case = api["cpu_ms_per_case_whole_cycle"]
    print(
        "CPU ms per case over rounds + publishing + consuming: "
        + ", ".join(f"{k} {v}" for k, v in per_case.items())
        + f" (total {sum(v for v in per_case.values() if v):.1f})"
    )
    print(f"cases read back: {report['checked_cases']}")
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
