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

And the "raw parts" side (bench/cases_parts.py): the same architecture
built from nothing but its raw components, as four OS processes with none
of the platform's code: a bare aiohttp gateway proxying to a bare aiohttp
"cases" process (one sqlite3 database; the same documents and the same 8
events per case, written with the outbox in one transaction per call, then
published with confirms) and two aio-pika consumers ("notes": all 8 events,
"notifications": 4) storing each event with its de-duplication record. It
is driven by the same load generator through the same four calls and
measured like the API side (rounds, then publishing, then consuming): what
any implementation of this architecture costs at least on this machine.
``--sides`` runs only some of the three (default ``api,raw,parts``); the
order of the sides rotates each round.

The platform runs as five processes (SQLite, RabbitMQ, folder, .eml) on the
same machine as the load generator; the report gives each one's CPU (during
the rounds, and per case over the whole cycle) and peak RSS, and the local
RabbitMQ broker's (``beam.smp``) CPU per case for the API and raw-parts
sides, and the ratios API / raw parts in instances/s and CPU per case.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench import format_table
from bench.cases_parts import launched_parts, stored
from bench.cases_parts_broker import Broker, local_broker
from bench.cases_parts_documents import CaseLife, RoutingStates, Write, stamp
from bench.load import percentile
from bench.platform import Platform, add_platform_arguments, launched_platform, sign_in
from bench.rss import current_rss_kib, mib, peak_rss_kib
from casemesh.store.sqlite import SqliteStore
from services.cases.definitions.model import ProcessDefinition
from services.cases.engine import routing

DESCRIPTION = (
    "3-task sequential cases driven to completion via the API, vs raw SqliteStore writes "
    "and vs the architecture built from raw parts"
)

WORKSPACE = "workflow"
ADMIN_UID = "00000000000000000000000000000001"
BENCH_PROCESS = "b0000000000000000000000000000000"
CALLS = ("POST /cases", "PUT route-case 1", "PUT route-case 2", "PUT route-case 3")
SIDES = ("api", "raw", "parts")


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


# -- the documents a case's life writes: bench/cases_parts_documents.py -----------


class Shapes(RoutingStates):
    """The routing states of one three-task process, from the real (pure) engine."""

    def __init__(self, definition: dict) -> None:
        model = ProcessDefinition.model_validate(definition)
        tasks = [(t["uid"], t["title"]) for t in definition["tasks"]]
        state = routing.start(model, tasks[0][0])
        after = [state.to_dict()]
        cancelled = [routing.cancel(state).state.to_dict()]
        for index in range(1, len(tasks) + 1):
            state = routing.route(model, state, index, {}).state
            after.append(state.to_dict())
            cancelled.append(routing.cancel(state).state.to_dict())
        super().__init__(definition, tasks, after, cancelled, definition.get("category") or {})
        self.model = model


# -- the benchmark ---------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cases", type=int, default=2000, help="cases per side and round (default 2000)"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds; the sides' order rotates (default 3)"
    )
    parser.add_argument(
        "--sides",
        type=_sides,
        default=SIDES,
        metavar="LIST",
        help="comma-separated sides to run, among api (the platform), raw (SqliteStore alone) "
        "and parts (the architecture from raw parts); default all",
    )
    parser.add_argument("--concurrency", type=int, default=32, help="cases in flight (default 32)")
    parser.add_argument(
        "--warmup", type=int, default=200, help="uncounted cases per side first (default 200)"
    )
    parser.add_argument(
        "--check", type=int, default=50, help="cases read back at the end to check (default 50)"
    )
    add_platform_arguments(parser)


def _sides(text: str) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    unknown = [s for s in chosen if s not in SIDES]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"sides are among {', '.join(SIDES)}, not {text!r}")
    return chosen


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

    def cpu_ms_per_case(self) -> float | None:
        """Every measured process's CPU over the whole cycle, per completed case."""
        if not self.completed or not self.cycle_cpu_s:
            return None
        return round(sum(self.cycle_cpu_s.values()) * 1000 / self.completed, 2)

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
            "cpu_ms_per_case_whole_cycle_total": self.cpu_ms_per_case(),
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


async def _platform_round(
    driver: ApiDriver,
    side: Side | None,
    count: int,
    args: argparse.Namespace,
    platform: Platform,
    broker: Broker | None,
) -> None:
    """Drive ``count`` cases; then wait until their events are published and consumed.

    For the platform and for the raw parts alike (same outbox and queue layout).
    """
    data_dir = platform.data_dir
    processes: list[Any] = [*platform.processes, *([broker] if broker else [])]
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
    # The load generator's share: its requests, not its polling of the outbox and queues.
    side.cycle_cpu_s["load generator"] += client_used
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
    used = time.process_time() - client_before
    side.cpu_s["harness (store + its thread)"] += used
    side.cycle_cpu_s["harness (store + its thread)"] += used


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
    sides = {
        "api": Side("API (gateway -> cases)"),
        "raw": Side("raw SqliteStore"),
        "parts": Side("raw parts (aiohttp, sqlite3, aio-pika)"),
    }
    chosen: tuple[str, ...] = args.sides
    memory: list[dict] = []
    checked: dict | None = None
    parts_stored: dict | None = None
    shapes = Shapes(three_task_process(BENCH_PROCESS, "Benchmark: three tasks", [ADMIN_UID]))
    broker = local_broker()
    rounds: dict[str, Any] = {}  # side -> its round(side or None for the warm-up, count)
    async with contextlib.AsyncExitStack() as stack:
        if "raw" in chosen:
            raw_dir = Path(tempfile.mkdtemp(prefix="casemesh-bench-raw-"))
            stack.callback(shutil.rmtree, raw_dir, ignore_errors=True)
            store = SqliteStore(raw_dir / "raw.sqlite3")
            stack.push_async_callback(store.close)
            from services.cases.cases.indexes import INDEXES

            for collection, indexes in INDEXES.items():
                await store.ensure_indexes(collection, indexes)
            raw_driver = RawDriver(store, shapes)
            rounds["raw"] = lambda side, count: _raw_round(
                raw_driver, side, count, args.concurrency
            )
        connector = aiohttp.TCPConnector(limit=args.concurrency + 4)
        timeout = aiohttp.ClientTimeout(total=60)
        session = await stack.enter_async_context(
            aiohttp.ClientSession(connector=connector, timeout=timeout)
        )
        platforms: dict[str, Platform] = {}
        if "api" in chosen:
            platform = platforms["api"] = await stack.enter_async_context(launched_platform(args))
            if not platform.admin_password:
                raise SystemExit("--gateway needs --admin-password")
            token = await sign_in(session, platform.gateway_url, "admin", platform.admin_password)
            await _create_process(session, platform.gateway_url, token)
            driver = ApiDriver(session, platform.gateway_url, token)
            rounds["api"] = lambda side, count: _platform_round(
                driver, side, count, args, platforms["api"], broker
            )
        if "parts" in chosen:
            platforms["parts"] = await stack.enter_async_context(launched_parts(args, shapes))
            parts_driver = ApiDriver(session, platforms["parts"].gateway_url, token="")
            rounds["parts"] = lambda side, count: _platform_round(
                parts_driver, side, count, args, platforms["parts"], broker
            )
        print(f"warm-up: {args.warmup} cases per side", flush=True)
        for which in chosen:
            await rounds[which](None, args.warmup)
        if "api" in chosen:
            driver.app_uids.clear()
        for round_ in range(args.rounds):
            shift = round_ % len(chosen)
            for which in (*chosen[shift:], *chosen[:shift]):
                print(f"round {round_ + 1}/{args.rounds}: {which}", flush=True)
                side = sides[which]
                await rounds[which](side, args.cases)
                if which == "raw":
                    print(f"  {side.round_rates[-1]:.1f} cases/s", flush=True)
                else:
                    print(
                        f"  {side.round_rates[-1]:.1f} cases/s; {side.backlogs[-1]} events "
                        f"still in the outbox, all published after {_s(side.drains_s[-1])} s "
                        f"and consumed after {_s(side.consumed_s[-1])} s",
                        flush=True,
                    )
        if "api" in chosen:
            checked = await _check(driver, args.check)
        if "parts" in chosen:
            data_dir = platforms["parts"].data_dir
            assert data_dir is not None
            parts_stored = stored(data_dir)
        for which, platform in platforms.items():
            prefix = "raw parts: " if which == "parts" else ""
            memory += [
                {
                    "process": prefix + process.name,
                    "pid": process.pid,
                    "peak_rss_kib": process.peak_rss_kib(),
                    "rss_kib": current_rss_kib(process.pid),
                }
                for process in platform.processes
            ]
    memory.append(
        {
            "process": "harness (load generator + raw store)",
            "pid": os.getpid(),
            "peak_rss_kib": peak_rss_kib(os.getpid()),
            "rss_kib": current_rss_kib(os.getpid()),
        }
    )
    summaries = {which: sides[which].summary() if which in chosen else None for which in SIDES}
    report = {
        "settings": {
            "cases": args.cases,
            "rounds": args.rounds,
            "concurrency": args.concurrency,
            "warmup": args.warmup,
            "sides": list(chosen),
            "launched": not args.gateway,
            "log_level": None if args.gateway else args.log_level,
            "broker_pid": broker.pid if broker else None,
        },
        **summaries,
        "api_vs_raw": _ratio(sides["api"].rate, sides["raw"].rate),
        "api_vs_parts": {
            "instances_per_s": _ratio(sides["api"].rate, sides["parts"].rate),
            "instances_per_s_with_events_consumed": _ratio(
                sides["api"].rate_with_events(sides["api"].consumed_s),
                sides["parts"].rate_with_events(sides["parts"].consumed_s),
            ),
            "cpu_ms_per_case": _ratio(
                sides["api"].cpu_ms_per_case(), sides["parts"].cpu_ms_per_case()
            ),
        },
        "checked_cases": checked,
        "parts_stored": parts_stored,
        "memory": memory,
    }
    _print(report)
    return report


def _s(seconds: float | None) -> str:
    return "?" if seconds is None else f"{seconds:.1f}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def _print(report: dict) -> None:
    s = report["settings"]
    sides = [report[which] for which in SIDES if report[which] is not None]
    print()
    print(
        f"three-task sequential cases: {s['cases']} per side in each of {s['rounds']} rounds "
        f"(pooled), {s['concurrency']} in flight, warm-up {s['warmup']}"
    )
    print(
        f"(load generator, raw store, platform, raw parts and broker share this machine's "
        f"{os.cpu_count()} cores; CPU % is of one core over the side's measured runs)"
    )
    print()
    rows = []
    for side in sides:
        cpu = ", ".join(f"{k} {v:.0f}" for k, v in side["cpu_percent"].items() if v is not None)
        rates = side["round_instances_per_s"]
        rows.append(
            [
                side["side"],
                side["completed"],
                side["failed"],
                f"{side['instances_per_s']:.1f}",
                f"{min(rates):.1f}..{max(rates):.1f}" if rates else "-",
                side["instances_per_s_with_events_consumed"],
                side["cpu_ms_per_case_whole_cycle_total"],
                cpu,
            ]
        )
    headers = ["side", "completed", "failed", "instances/s", "rounds min..max"]
    headers += ["/s with consumption", "CPU ms/case", "CPU %"]
    print(format_table(headers, rows))
    print(
        f"API / raw store: {report['api_vs_raw']}; API / raw parts: "
        + ", ".join(f"{k} {v}" for k, v in report["api_vs_parts"].items())
    )
    for side in sides:
        if side["failed"]:
            print(f"{side['side']}: {side['failed']} failed, first: {side['first_error']}")
    print()
    rows = []
    for side in sides:
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
    for which in ("api", "parts"):
        side = report[which]
        if side is None:
            continue
        print()
        print(
            f"{side['side']}: events still in the outbox when each round ended: "
            f"{side['outbox_backlog_at_round_end']}, all published after "
            f"{side['outbox_drain_s']} s, consumed by notes and notifications after "
            f"{side['consumed_s']} s"
        )
        print(
            f"  instances/s counting the publishing too: {side['instances_per_s_with_events']}; "
            f"counting the consuming too: {side['instances_per_s_with_events_consumed']}"
        )
        per_case = side["cpu_ms_per_case_whole_cycle"]
        print(
            "  CPU ms per case over rounds + publishing + consuming: "
            + ", ".join(f"{k} {v}" for k, v in per_case.items())
            + f" (total {side['cpu_ms_per_case_whole_cycle_total']})"
        )
    if report["checked_cases"] is not None:
        print(f"API cases read back: {report['checked_cases']}")
    if report["parts_stored"] is not None:
        print(f"raw parts hold (warm-up included): {report['parts_stored']}")
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
