"""``notes``: case notes created through the gateway, and ``notes/paged?search=`` over 1M entries.

Seeding (before any process starts, into the notes service's own SQLite
file, through the kernel's ``SqliteStore``): ``--entries`` minus what the
run will POST, as ProcessMaker notes in exactly the shape
``services/notes/pm_notes.py`` writes (``id, kind, workspace, app_uid,
app_number, author, author_name, at, at_ms, text, send_mail``), spread
evenly over ``--cases`` minus ``--real-cases`` case uids; then the
service's indexes (``entries.INDEXES`` and the others it declares) are
built, as its start-up would build them. Texts are drawn from a small
vocabulary (one sentence of 6-14 words, plus an order number). With
``--seed-cache PATH`` the seeded file is kept at PATH and copied from there
by later runs with the same ``--entries``/``--cases``/``--real-cases``.

Then, through the gateway, as ``admin`` (Bearer token): a one-task process
that gives ``admin`` the CASES_NOTES permission, ``--real-cases`` real
cases, and

- **create**: ``POST /api/1.0/workflow/cases/{app_uid}/note``
  (``send_mail=0``) until each real case has ``entries / cases`` notes,
  ``--concurrency`` in flight: notes per second and latency. After this
  the store holds exactly ``--entries`` entries over ``--cases`` cases.
- **search**: ``GET …/cases/{app_uid}/notes/paged?search=WORD&limit=25`` on
  the real cases, ``--concurrency`` in flight, ``--requests`` requests per
  query and round: a common word (in about a third of the notes), a rare
  word (about one in a hundred), a word in none, and no search at all. Each
  query runs through the gateway and straight to the notes service (with
  the identity headers the gateway would sign), in ``--rounds`` rounds in
  rotated order, 50 uncounted requests before each run; the CPU time the
  gateway, notes and cases processes spend per request is read from /proc.

In the same run, the raw component: the SQL the store runs for each query
(the count and the page, compiled from ``NotesQuery.where``/``order`` by
``casemesh/store/sqlite_query.py``), timed straight on a sqlite3
connection to the same file, one query after the other; and its query plan.

Everything (the load generator, five processes, RabbitMQ) shares the
machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import shutil
import sqlite3
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from bench import format_table
from bench.bench_notifications import service_urls
from bench.load import percentile
from bench.platform import add_platform_arguments, launched_platform, sign_in
from bench.rss import mib, peak_rss_kib
from casemesh.identity import Identity, identity_headers
from casemesh.internal import INTERNAL_HEADER
from casemesh.store.sqlite import SqliteStore
from casemesh.store.sqlite_query import compile_filter, compile_sort, icontains

DESCRIPTION = "notes/s created via the gateway; notes/paged?search= p99 over 1M entries"

WORKSPACE = "workflow"
ADMIN_UID = "00000000000000000000000000000001"
PROCESS = "a1000000000000000000000000000000"
SEED = 20261122
BATCH = 10_000
WARMUP = 50
START = datetime(2024, 1, 1, tzinfo=UTC)
WORDS = (
    "invoice", "supplier", "delivery", "contract", "approval", "budget", "review", "customer",
    "payment", "order", "request", "signature", "deadline", "meeting", "report", "schedule",
    "update", "question", "answer", "reminder", "follow-up", "document", "receipt", "quote",
    "warranty", "refund", "manager", "team", "legal", "finance", "shipping", "account",
)  # fmt: skip
COMMON = "invoice"  # about a third of the notes contain it
RARE = "escalation"  # about one note in a hundred
ABSENT = "zanzibar"
QUERIES = (("common word", COMMON), ("rare word", RARE), ("absent word", ABSENT), ("no search", ""))
METERED = ("gateway", "notes", "cases")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--entries", type=int, default=1_000_000, help="entries in all (1000000)")
    parser.add_argument("--cases", type=int, default=10_000, help="cases they are spread over")
    parser.add_argument("--real-cases", type=int, default=20, help="cases created via the API")
    parser.add_argument(
        "--requests", type=int, default=1000, help="GETs per query, target and round (1000)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds, order rotated (3)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight (8)")
    parser.add_argument(
        "--seed-cache", type=Path, metavar="PATH", help="keep the seeded file here and reuse it"
    )
    add_platform_arguments(parser)


def note_text(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randrange(6, 15))
    if rng.random() < 0.30:
        words.insert(rng.randrange(len(words) + 1), COMMON)
    if rng.random() < 0.01:
        words.insert(rng.randrange(len(words) + 1), RARE)
    return f"{' '.join(words).capitalize()} (order {rng.randrange(10000, 99999)})."


def note_doc(app_uid: str, app_number: int, rng: random.Random, moment: datetime) -> dict:
    """A note as ``services/notes/pm_notes.create_note`` stores it."""
    return {
        "id": uuid.UUID(int=rng.getrandbits(128)).hex,
        "kind": "note",
        "workspace": WORKSPACE,
        "app_uid": app_uid,
        "app_number": app_number,
        "author": ADMIN_UID,
        "author_name": "admin",
        "at": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "at_ms": int(moment.timestamp() * 1000),
        "text": note_text(rng),
        "send_mail": False,
    }


async def seed(path: Path, args: argparse.Namespace) -> dict:
    from services.notes.directory_ids import INDEXES as ID_INDEXES
    from services.notes.entries import ENTRIES
    from services.notes.entries import INDEXES as ENTRY_INDEXES
    from services.notes.projection import INDEXES as PROJECTION_INDEXES

    per_case = args.entries // args.cases
    fake = args.cases - args.real_cases
    rng = random.Random(SEED)
    timings = {}
    started = time.perf_counter()
    store = SqliteStore(path)
    try:
        docs: list[dict] = []
        count = 0
        for c in range(fake):
            app_uid = uuid.UUID(int=rng.getrandbits(128)).hex
            base = START + timedelta(minutes=c)
            for n in range(per_case):
                docs.append(note_doc(app_uid, 100_000 + c, rng, base + timedelta(hours=n)))
            if len(docs) >= BATCH or c == fake - 1:
                async with store.transaction() as tx:
                    await tx.insert_many(ENTRIES, docs)  # type: ignore[attr-defined]
                count += len(docs)
                docs = []
        timings["insert"] = time.perf_counter() - started
        started = time.perf_counter()
        for indexes in (ENTRY_INDEXES, PROJECTION_INDEXES, ID_INDEXES):
            for collection, wanted in indexes.items():
                await store.ensure_indexes(collection, wanted)
        timings["indexes"] = time.perf_counter() - started
    finally:
        await store.close()
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 2**20
    return {"seeded": count, "seconds": timings, "file_mib": round(size, 1)}


async def seed_or_copy(path: Path, args: argparse.Namespace) -> dict:
    """Seed ``path``, or copy it from ``--seed-cache`` when that holds the same seeding."""
    cache: Path | None = args.seed_cache
    wanted = {"entries": args.entries, "cases": args.cases, "real_cases": args.real_cases}
    about = cache.with_name(cache.name + ".json") if cache else None
    if cache and about and cache.exists() and about.exists():
        known = json.loads(about.read_text())
        if known.get("wanted") == wanted:
            started = time.perf_counter()
            shutil.copyfile(cache, path)
            return {**known["seeded"], "copied_from": str(cache),
                    "copy_s": round(time.perf_counter() - started, 1)}  # fmt: skip
    seeded = await seed(path, args)
    if cache and about:
        cache.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, cache)  # SqliteStore.close checkpointed the WAL into the file
        about.write_text(json.dumps({"wanted": wanted, "seeded": seeded}))
    return seeded


def one_task_process() -> dict:
    task = f"{PROCESS[:-1]}1"
    return {
        "uid": PROCESS,
        "title": "Benchmark: case notes",
        "start_tasks": [task],
        "tasks": [
            {
                "uid": task,
                "title": "Work",
                "users": [ADMIN_UID],
                "routes": {"type": "SEQUENTIAL", "to": [{"task": "END"}]},
            }
        ],
        "permissions": [{"object": "CASES_NOTES", "action": "VIEW", "users": [ADMIN_UID]}],
    }


async def closed_loop(count: int, concurrency: int, one) -> tuple[list[float], int, float]:
    """Run ``one(i)`` ``count`` times, ``concurrency`` at once: latencies, errors, seconds."""
    latencies: list[float] = []
    errors = 0
    queue = list(range(count))

    async def worker() -> None:
        nonlocal errors
        while queue:
            i = queue.pop()
            started = time.perf_counter()
            ok = await one(i)
            if ok:
                latencies.append((time.perf_counter() - started) * 1000)
            else:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return sorted(latencies), errors, time.perf_counter() - started


def raw_query(path: Path, app_uid: str, search: str, runs: int) -> tuple[list[float], str]:
    """The store's count + page SQL for this query, straight on sqlite3: latencies and plan."""
    from services.notes.pm_query import parse_notes_query

    query = parse_notes_query({"search": search} if search else {})
    clause, params = compile_filter(query.where(WORKSPACE, app_uid))
    order = compile_sort(query.order())
    count_sql = f"SELECT count(*) FROM c_entries WHERE {clause}"
    page_sql = f"SELECT id, v, doc FROM c_entries WHERE {clause} ORDER BY {order} LIMIT ? OFFSET ?"
    conn = sqlite3.connect(path)
    conn.create_function("cm_icontains", 2, icontains, deterministic=True)
    try:
        plan = " | ".join(
            row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {page_sql}", [*params, 25, 0])
        )
        latencies = []
        for _ in range(runs):
            started = time.perf_counter()
            conn.execute(count_sql, params).fetchone()
            rows = conn.execute(page_sql, [*params, 25, 0]).fetchall()
            [json.loads(r[2]) for r in rows]
            latencies.append((time.perf_counter() - started) * 1000)
    finally:
        conn.close()
    return sorted(latencies), plan


async def vouched_headers(session, cases_url: str, token: str, secret: str) -> dict[str, str]:
    """The signed identity the gateway would add for ``token``: to call notes directly."""
    question = {"scheme": "bearer", "token": token}
    url = f"{cases_url}/internal/v1/authenticate"
    async with session.post(url, json=question, headers={INTERNAL_HEADER: secret}) as r:
        if r.status != 200:
            raise RuntimeError(f"authenticate failed: HTTP {r.status} {await r.text()}")
        identity = Identity.model_validate_json(await r.read())
    return identity_headers(identity, secret)


async def _run(args: argparse.Namespace) -> dict:
    if args.gateway:
        raise SystemExit("notes: seeds the notes service's database, so it launches the platform")
    per_case = args.entries // args.cases
    seeded: dict = {}

    async def prepare(data_dir: Path, _settings: dict[str, str]) -> None:
        path = data_dir / "db" / "notes.sqlite3"
        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"seeding {per_case * (args.cases - args.real_cases):,} notes ...", flush=True)
        seeded.update(await seed_or_copy(path, args))
        seeded["path"] = path
        print(f"seeded: {seeded}", flush=True)

    report: dict = {}
    secret = secrets.token_hex(32)  # known here too, to call the notes service directly
    with service_urls() as urls:  # the notes service asks the cases service about cases
        env = {**urls, "CASEMESH_INTERNAL_SECRET": secret}
        launch = launched_platform(args, env=env, prepare=prepare, ready_timeout=300)
        async with launch as platform:
            report.update(await _measure(args, platform, seeded, per_case, urls, secret))
    report["seeding"] = {k: v for k, v in seeded.items() if k != "path"}
    _print(report, args)
    return report


async def _measure(args, platform, seeded: dict, per_case: int, urls: dict, secret: str) -> dict:
    report: dict = {}
    path: Path = seeded["path"]
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        token = await sign_in(session, platform.gateway_url, "admin", platform.admin_password)
        headers = {"Authorization": f"Bearer {token}"}
        base = f"{platform.gateway_url}/api/1.0/{WORKSPACE}"
        async with session.post(f"{base}/processes", json=one_task_process(), headers=headers) as r:
            assert r.status == 201, await r.text()
        cases = []
        for _ in range(args.real_cases):
            body = {"pro_uid": PROCESS, "tas_uid": f"{PROCESS[:-1]}1"}
            async with session.post(f"{base}/cases", json=body, headers=headers) as r:
                assert r.status == 200, await r.text()
                cases.append((await r.json())["app_uid"])
        rng = random.Random(SEED + 1)
        texts = [note_text(rng) for _ in range(per_case * len(cases))]

        async def create(i: int) -> bool:
            url = f"{base}/cases/{cases[i % len(cases)]}/note"
            body = {"note_content": texts[i], "send_mail": 0}
            async with session.post(url, json=body, headers=headers) as r:
                await r.read()
                return r.status == 200

        created, errors, seconds = await closed_loop(len(texts), args.concurrency, create)
        if not created:
            raise RuntimeError(f"every note POST failed: see {platform.data_dir}/logs")
        report["create"] = {
            "notes": len(texts),
            "errors": errors,
            "notes_per_s": round(len(texts) / seconds, 1),
            "p50_ms": round(percentile(created, 50), 1),
            "p99_ms": round(percentile(created, 99), 1),
        }
        print(f"create: {report['create']}", flush=True)
        total = sqlite3.connect(path).execute("SELECT count(*) FROM c_entries").fetchone()[0]
        report["entries_in_store"] = total
        targets = {
            "gateway": (base, headers),
            "notes direct": (
                f"{urls['CASEMESH_NOTES_URL']}/api/1.0/{WORKSPACE}",
                await vouched_headers(session, urls["CASEMESH_CASES_URL"], token, secret),
            ),
        }
        processes = {p.name: p for p in platform.processes if p.name in METERED}
        report["search"] = await _searches(args, session, targets, cases, processes)
        for row in report["search"]:
            raw, plan = raw_query(path, cases[0], row["search"], 200)
            row.update(raw_p50_ms=round(percentile(raw, 50), 3), plan=plan)
            row["raw_p99_ms"] = round(percentile(raw, 99), 3)
    report["peak_rss_mib"] = {p.name: mib(peak_rss_kib(p.pid)) for p in platform.processes}
    return report


async def _searches(args, session, targets: dict, cases: list[str], processes: dict) -> list:
    runs: dict[tuple[str, str], dict] = {}
    plan = [(label, search, target) for label, search in QUERIES for target in targets]
    for round_no in range(args.rounds):
        load = os.getloadavg()[0]
        print(f"round {round_no + 1}: load average {load:.2f}", flush=True)
        shift = round_no % len(plan)
        for label, search, target in plan[shift:] + plan[:shift]:
            prefix, auth = targets[target]
            params = {"limit": "25", **({"search": search} if search else {})}
            totals: list[int] = []

            async def get(i: int, params=params, totals=totals, prefix=prefix, auth=auth) -> bool:
                url = f"{prefix}/cases/{cases[i % len(cases)]}/notes/paged"
                async with session.get(url, params=params, headers=auth) as r:
                    body = await r.json()
                    if r.status != 200:
                        return False
                    totals.append(body["total"])
                    return True

            await closed_loop(WARMUP, args.concurrency, get)
            totals.clear()
            cpu = {n: p.cpu_seconds() or 0.0 for n, p in processes.items()}
            got, errors, seconds = await closed_loop(args.requests, args.concurrency, get)
            used = {n: (p.cpu_seconds() or 0.0) - cpu[n] for n, p in processes.items()}
            run = runs.setdefault((label, target), {"got": [], "errors": 0, "seconds": 0.0,
                                                    "p99s": [], "cpu": dict.fromkeys(used, 0.0),
                                                    "totals": [], "loads": []})  # fmt: skip
            run["got"] += got
            run["errors"] += errors
            run["seconds"] += seconds
            run["p99s"].append(percentile(got, 99))
            run["totals"] += totals
            run["loads"].append(round(load, 2))
            for name, value in used.items():
                run["cpu"][name] += value
            print(f"  {label} via {target}: p50 {percentile(got, 50):.1f} ms, "
                  f"p99 {percentile(got, 99):.1f} ms", flush=True)  # fmt: skip
    rows = []
    for (label, target), run in runs.items():
        got = sorted(run["got"])
        search = dict(QUERIES)[label]
        rows.append({
            "query": label, "search": search, "target": target, "requests": len(got),
            "errors": run["errors"], "req_per_s": round(len(got) / run["seconds"], 1),
            "p50_ms": round(percentile(got, 50), 2), "p99_ms": round(percentile(got, 99), 2),
            "round_p99_ms": [round(p, 2) for p in run["p99s"]],
            "cpu_ms_per_request": {n: round(s * 1000 / max(len(got), 1), 2)
                                   for n, s in run["cpu"].items()},
            "mean_total": round(sum(run["totals"]) / max(len(run["totals"]), 1), 1),
            "load_average": run["loads"],
        })  # fmt: skip
    return rows


def _print(report: dict, args: argparse.Namespace) -> None:
    c = report["create"]
    print()
    print(
        format_table(
            ["notes POSTed", "errors", "notes/s", "p50 ms", "p99 ms", "concurrency"],
            [[c["notes"], c["errors"], c["notes_per_s"], c["p50_ms"], c["p99_ms"],
              args.concurrency]],
        )
    )  # fmt: skip
    print()
    headers = ["query", "via", "req/s", "p50 ms", "p99 ms", "rounds p99", "raw p50", "raw p99"]
    headers += [f"CPU ms {n}" for n in METERED] + ["mean total"]
    rows = [
        [r["query"], r["target"], r["req_per_s"], r["p50_ms"], r["p99_ms"],
         "..".join(str(x) for x in (min(r["round_p99_ms"]), max(r["round_p99_ms"]))),
         r["raw_p50_ms"], r["raw_p99_ms"],
         *(r["cpu_ms_per_request"].get(n) for n in METERED), r["mean_total"]]
        for r in report["search"]
    ]  # fmt: skip
    print(format_table(headers, rows))
    print(f"\nentries in the store: {report['entries_in_store']:,}; seeding: {report['seeding']}")
    print(f"query plan (page): {report['search'][0]['plan']}")
    print(f"peak RSS MiB: {report['peak_rss_mib']}")


def run(args: argparse.Namespace) -> dict:
    return asyncio.run(_run(args))
