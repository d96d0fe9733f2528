"""The ``documents`` benchmark's small part: 4 KiB uploads through the gateway against direct PUTs.

See ``bench_documents`` for what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import io
import random
import threading
import time

import aiohttp
from minio import Minio

from bench.documents_rig import BUCKET, SEED, Api, Meter, UploadFailed, mean, path_cpu
from bench.load import percentile

ADMIN_UID = "00000000000000000000000000000001"
# This benchmark's own process for the small uploads: a document without versioning.
SMALL_PROCESS = "d4000000000000000000000000000000"
SMALL_TASK = "d4000000000000000000000000000001"
SMALL_DOCUMENT = "d4d00000000000000000000000000001"


# --- the small files ---------------------------------------------------------


def small_contents(count: int, size: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(size) for _ in range(count)]


def one_task_process() -> dict:
    return {
        "uid": SMALL_PROCESS,
        "title": "Benchmark: small documents",
        "start_tasks": [SMALL_TASK],
        "tasks": [
            {
                "uid": SMALL_TASK,
                "title": "Attach",
                "users": [ADMIN_UID],
                "routes": {"type": "SEQUENTIAL", "to": [{"task": "END"}]},
            }
        ],
        "input_documents": [{"uid": SMALL_DOCUMENT, "title": "Attachment", "versioning": False}],
    }


async def small_gateway(
    gateway: Api, app_uid: str, contents: list[bytes], concurrency: int
) -> tuple[list[float], int, float, str]:
    fields = {"inp_doc_uid": SMALL_DOCUMENT, "tas_uid": SMALL_TASK, "app_doc_comment": "small"}
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    errors: list[str] = []

    async def one(i: int, data: bytes) -> None:
        async with gate:
            started = time.perf_counter()
            try:
                doc = await gateway.upload(app_uid, fields, f"small-{i}.bin", data, len(data))
            except (UploadFailed, aiohttp.ClientError, TimeoutError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                return
            latencies.append((time.perf_counter() - started) * 1000)
            assert doc["app_doc_filename"] == f"small-{i}.bin"

    started = time.perf_counter()
    await asyncio.gather(*(one(i, data) for i, data in enumerate(contents)))
    return latencies, len(errors), time.perf_counter() - started, (errors or [""])[0]


def small_direct(
    client: Minio, contents: list[bytes], threads: int, prefix: str
) -> tuple[list[float], int, float, str]:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def one(i: int, data: bytes) -> None:
        started = time.perf_counter()
        try:
            client.put_object(BUCKET, f"{prefix}/{i}", io.BytesIO(data), len(data))
        except Exception as exc:  # counted, like a non-2xx answer
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}")
            return
        with lock:
            latencies.append((time.perf_counter() - started) * 1000)

    with concurrent.futures.ThreadPoolExecutor(threads, "direct") as pool:
        # Start every thread before the clock does: thread creation is not S3's cost.
        ready = threading.Barrier(threads)
        list(pool.map(lambda _: ready.wait(), range(threads)))
        started = time.perf_counter()
        for future in [pool.submit(one, i, data) for i, data in enumerate(contents)]:
            future.result()
        seconds = time.perf_counter() - started
    return latencies, len(errors), seconds, (errors or [""])[0]


def small_row(latencies: list[float], errors: int, seconds: float, first_error: str) -> dict:
    ordered = sorted(latencies)
    return {
        "ok": len(ordered),
        "errors": errors,
        "first_error": first_error,
        "seconds": round(seconds, 3),
        "per_s": round(len(ordered) / seconds, 1),
        "p50_ms": round(percentile(ordered, 50) or 0, 1),
        "p99_ms": round(percentile(ordered, 99) or 0, 1),
    }


async def small_part(args: argparse.Namespace, gateway: Api, client: Minio, meter: Meter) -> dict:
    async with gateway.session.post(
        f"{gateway.api}/processes", json=one_task_process(), headers=gateway.auth
    ) as r:
        if r.status != 201:
            raise RuntimeError(f"defining the process failed: HTTP {r.status} {await r.text()}")
    app_uid = await gateway.new_case(SMALL_PROCESS, SMALL_TASK)
    warm = small_contents(20, args.small_size, SEED - 1)
    await small_gateway(gateway, app_uid, warm, 10)
    await asyncio.to_thread(small_direct, client, warm, 10, "warm")
    rounds = []
    for round_ in range(args.small_rounds):
        contents = small_contents(args.count, args.small_size, SEED * 1000 + round_)
        order = ["gateway", "direct"] if round_ % 2 == 0 else ["direct", "gateway"]
        results = {}
        for side in order:
            print(f"  small round {round_ + 1}/{args.small_rounds}: {side} ...", flush=True)
            meter.start()
            if side == "gateway":
                got = await small_gateway(gateway, app_uid, contents, args.concurrency)
            else:
                got = await asyncio.to_thread(
                    small_direct, client, contents, args.concurrency, f"small-{round_}"
                )
            measured = meter.stop()
            results[side] = {**small_row(*got), **measured}
            results[side]["seconds"] = round(results[side]["seconds"], 3)
        rounds.append(results)
    out: dict = {}
    for side in ("gateway", "direct"):
        runs = [r[side] for r in rounds]
        rates = [r["per_s"] for r in runs]
        out[side] = {
            "per_s": round(sum(rates) / len(rates), 1),
            "per_s_min": min(rates),
            "per_s_max": max(rates),
            "ok": sum(r["ok"] for r in runs),
            "errors": sum(r["errors"] for r in runs),
            "first_error": next((r["first_error"] for r in runs if r["first_error"]), ""),
            "p50_ms": mean([r["p50_ms"] for r in runs]),
            "p99_ms": mean([r["p99_ms"] for r in runs]),
            "cpu_s": {k: mean([r["cpu_s"][k] for r in runs]) for k in runs[0]["cpu_s"]},
            "rss_growth_mib_max": {
                k: max((r["rss_growth_mib"][k] or 0) for r in runs)
                for k in runs[0]["rss_growth_mib"]
            },
            "rounds": runs,
        }
    for side in ("gateway", "direct"):
        runs = out[side]["rounds"]
        out[side]["path_cpu_ms_per_doc"] = round(
            1000 * sum(path_cpu(side, r["cpu_s"]) for r in runs) / max(out[side]["ok"], 1), 2
        )
    out["ratio"] = round(out["gateway"]["per_s"] / out["direct"]["per_s"], 3)
    out["cpu_ratio"] = round(
        out["direct"]["path_cpu_ms_per_doc"] / out["gateway"]["path_cpu_ms_per_doc"], 3
    )
    return out
