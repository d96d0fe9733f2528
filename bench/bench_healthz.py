"""``healthz``: what a Casemesh process costs per request, against bare aiohttp.

In one run, with the same client, concurrency and request count, GET:

1. ``/healthz`` on the gateway (answered by the gateway itself);
2. ``/services/cases/healthz`` on the gateway (the gateway asks the cases
   service over HTTP and relays its answer: one extra hop);
3. ``/healthz`` on the cases service directly;
4. ``/healthz`` on a bare aiohttp hello-world (``bench/hello_server.py``).

Each target is loaded ``--rounds`` times (default 3), after a warm-up each
time, the order of the targets rotated every round so that none is always
first or last; a target's rounds are pooled. The table gives throughput, p50 and p99
latency, ratios to the bare server, the CPU the servers used while being
loaded, and the peak RSS (VmHWM) of every process the harness started. The
load generator runs on the same machine and shares its cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench import format_table
from bench.load import LoadResult, combine, run_load
from bench.platform import (
    Platform,
    Process,
    add_platform_arguments,
    free_port,
    launched_platform,
    spawn,
    wait_until_ok,
)
from bench.rss import current_rss_kib, mib, peak_rss_kib

DESCRIPTION = "GET /healthz: gateway, gateway->cases hop, cases, bare aiohttp (same client)"
REPO_ROOT = Path(__file__).resolve().parent.parent


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--requests", type=int, default=20000, help="per target and round (default 20000)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="times each target is loaded, in rotated order; the rounds are pooled (default 3)",
    )
    parser.add_argument(
        "--duration", type=float, help="seconds per target and round, instead of a request count"
    )
    parser.add_argument("--concurrency", type=int, default=50, help="default 50")
    parser.add_argument(
        "--warmup", type=int, default=1000, help="uncounted requests first (default 1000)"
    )
    add_platform_arguments(parser)


def run(args: argparse.Namespace) -> dict:
    return asyncio.run(_run(args))


def _targets(platform: Platform, hello_url: str) -> list[tuple[str, str, list[str]]]:
    """(label, URL, names of the processes that serve it)."""
    targets = [("bare aiohttp", f"{hello_url}/healthz", ["hello"])]
    if platform.cases_url:
        targets.append(("cases direct", f"{platform.cases_url}/healthz", ["cases"]))
    else:
        print("no --service-url: the 'cases direct' row is skipped")
    targets += [
        ("gateway own", f"{platform.gateway_url}/healthz", ["gateway"]),
        ("gateway->cases", f"{platform.gateway_url}/services/cases/healthz", ["gateway", "cases"]),
    ]
    return targets


async def _load_one(
    url: str, servers: list[Process], args: argparse.Namespace
) -> tuple[LoadResult, Counter[str]]:
    """One measured run; also the CPU seconds the client and each server used in it."""
    before: dict[str, float | None] = {}

    def mark() -> None:
        before["client"] = time.process_time()
        before.update({p.name: p.cpu_seconds() for p in servers})

    result = await run_load(
        url,
        concurrency=args.concurrency,
        requests=None if args.duration else args.requests,
        duration=args.duration,
        warmup=args.warmup,
        on_measure=mark,
    )
    cpu: Counter[str] = Counter({"client": time.process_time() - before["client"]})
    for process in servers:
        start, end = before[process.name], process.cpu_seconds()
        if start is not None and end is not None:
            cpu[process.name] = end - start
    return result, cpu


async def _load_all(
    targets: list[tuple[str, str, list[str]]], started: dict[str, Process], args: argparse.Namespace
) -> list[dict]:
    """Every target once per round, the order rotated each round; the rounds pooled."""
    results: dict[str, list[LoadResult]] = {label: [] for label, _, _ in targets}
    cpu: dict[str, Counter[str]] = {label: Counter() for label, _, _ in targets}
    for round_ in range(args.rounds):
        shift = round_ % len(targets)
        for label, url, serving in targets[shift:] + targets[:shift]:
            print(f"round {round_ + 1}/{args.rounds}, {label}: {url}", flush=True)
            servers = [started[name] for name in serving if name in started]
            result, used = await _load_one(url, servers, args)
            results[label].append(result)
            cpu[label].update(used)
    rows = []
    for label, _, _ in targets:
        pooled = combine(results[label])
        rows.append(
            {
                "target": label,
                **pooled.summary(),
                "round_throughputs_rps": [round(r.throughput, 1) for r in results[label]],
                "cpu_percent": {
                    name: round(seconds / pooled.elapsed_s * 100, 1)
                    for name, seconds in cpu[label].items()
                },
            }
        )
    return rows


async def _run(args: argparse.Namespace) -> dict:
    log_dir = Path(tempfile.mkdtemp(prefix="casemesh-bench-hello-"))
    async with launched_platform(args) as platform:
        hello_port = free_port()
        hello_url = f"http://127.0.0.1:{hello_port}"
        hello = spawn(
            "hello",
            [sys.executable, "-m", "bench.hello_server", str(hello_port)],
            dict(os.environ),
            log_dir,
            cwd=REPO_ROOT,
        )
        try:
            await wait_until_ok(f"{hello_url}/healthz", [hello], 30)
            started = {p.name: p for p in [*platform.processes, hello]}
            rows = await _load_all(_targets(platform, hello_url), started, args)
            memory = [
                {
                    "process": p.name,
                    "pid": p.pid,
                    "peak_rss_kib": p.peak_rss_kib(),
                    "rss_kib": current_rss_kib(p.pid),
                }
                for p in started.values()
            ]
            memory.append(
                {
                    "process": "harness (load generator)",
                    "pid": os.getpid(),
                    "peak_rss_kib": peak_rss_kib(os.getpid()),
                    "rss_kib": current_rss_kib(os.getpid()),
                }
            )
        finally:
            hello.stop()
            shutil.rmtree(log_dir, ignore_errors=True)
    _add_ratios(rows)
    report = {
        "settings": {
            "requests": None if args.duration else args.requests,
            "duration_s": args.duration,
            "rounds": args.rounds,
            "concurrency": args.concurrency,
            "warmup": args.warmup,
            "launched": not args.gateway,
            "log_level": None if args.gateway else args.log_level,
        },
        "targets": rows,
        "memory": memory,
    }
    _print(report)
    return report


def _add_ratios(rows: list[dict]) -> None:
    bare = rows[0]
    for row in rows:
        row["throughput_vs_bare"] = _ratio(row["throughput_rps"], bare["throughput_rps"])
        row["p50_vs_bare"] = _ratio(row["p50_ms"], bare["p50_ms"])
        row["p99_vs_bare"] = _ratio(row["p99_ms"], bare["p99_ms"])


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def _print(report: dict) -> None:
    s = report["settings"]
    amount = f"{s['duration_s']}s" if s["duration_s"] else f"{s['requests']} requests"
    amount += f" per target in each of {s['rounds']} rounds (pooled)"
    print()
    print(
        f"GET /healthz, {amount}, concurrency {s['concurrency']}, "
        f"warm-up {s['warmup']}, one aiohttp client in the harness process"
    )
    print(
        f"(the client shares this machine's {os.cpu_count()} cores with the servers; "
        "CPU % is of one core, over the target's measured runs)"
    )
    print()
    headers = ["target", "ok", "errors", "req/s", "rounds min..max", "p50 ms", "p99 ms"]
    headers += ["req/s ÷ bare", "p50 ÷ bare", "p99 ÷ bare", "CPU %"]
    rows = []
    for row in report["targets"]:
        cpu = ", ".join(f"{name} {pct:.0f}" for name, pct in row["cpu_percent"].items())
        rows.append(
            [
                row["target"],
                row["ok"],
                row["errors"],
                f"{row['throughput_rps']:.0f}",
                f"{min(row['round_throughputs_rps']):.0f}..{max(row['round_throughputs_rps']):.0f}",
                row["p50_ms"],
                row["p99_ms"],
                row["throughput_vs_bare"],
                row["p50_vs_bare"],
                row["p99_vs_bare"],
                cpu,
            ]
        )
    print(format_table(headers, rows))
    for row in report["targets"]:
        if row["errors"]:
            print(f"{row['target']}: {row['errors']} errors, first: {row['first_error']}")
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
