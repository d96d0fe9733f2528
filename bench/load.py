"""A small asyncio HTTP load generator (closed loop, aiohttp client).

``concurrency`` workers share one keep-alive connection pool and each sends
one request at a time, so at most ``concurrency`` requests are in flight.
A run stops after a fixed number of requests or after a duration. Every
request's latency is recorded; a response that is not 2xx, or a request that
fails, counts as an error and is left out of throughput and percentiles.

The generator runs in the harness's own process, on the same machine as the
servers it loads: on a small box it competes with them for CPU, and its own
cost (a Python HTTP client) is part of every figure.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

REQUEST_TIMEOUT = 30.0


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class LoadResult:
    url: str
    concurrency: int
    elapsed_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)  # 2xx only
    errors: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    first_error: str = ""

    @property
    def ok(self) -> int:
        return len(self.latencies_ms)

    @property
    def requests(self) -> int:
        return self.ok + self.errors

    @property
    def throughput(self) -> float:
        """2xx responses per second of wall time."""
        return self.ok / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def latency(self, p: float) -> float | None:
        return percentile(sorted(self.latencies_ms), p)

    def summary(self) -> dict:
        ordered = sorted(self.latencies_ms)
        return {
            "url": self.url,
            "concurrency": self.concurrency,
            "requests": self.requests,
            "ok": self.ok,
            "errors": self.errors,
            "statuses": dict(self.statuses),
            "first_error": self.first_error,
            "elapsed_s": round(self.elapsed_s, 3),
            "throughput_rps": round(self.throughput, 1),
            "p50_ms": _round(percentile(ordered, 50)),
            "p99_ms": _round(percentile(ordered, 99)),
            "max_ms": _round(ordered[-1] if ordered else None),
        }


def combine(results: list[LoadResult]) -> LoadResult:
    """Several runs against one URL as one: their requests pooled, their times added."""
    total = LoadResult(results[0].url, results[0].concurrency)
    for result in results:
        total.elapsed_s += result.elapsed_s
        total.latencies_ms += result.latencies_ms
        total.errors += result.errors
        total.statuses.update(result.statuses)
        total.first_error = total.first_error or result.first_error
    return total


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


async def _worker(
    session: aiohttp.ClientSession,
    result: LoadResult,
    take_ticket,
) -> None:
    url = result.url
    while take_ticket():
        start = time.perf_counter_ns()
        try:
            async with session.get(url) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            result.errors += 1
            result.statuses[type(exc).__name__] += 1
            result.first_error = result.first_error or f"{type(exc).__name__}: {exc}"
            continue
        latency_ms = (time.perf_counter_ns() - start) / 1e6
        result.statuses[str(status)] += 1
        if 200 <= status < 300:
            result.latencies_ms.append(latency_ms)
        else:
            result.errors += 1
            result.first_error = result.first_error or f"HTTP {status}"


async def _run(
    session: aiohttp.ClientSession,
    url: str,
    concurrency: int,
    requests: int | None,
    duration: float | None,
) -> LoadResult:
    result = LoadResult(url, concurrency)
    issued = 0
    deadline = time.perf_counter() + duration if duration is not None else math.inf

    def take_ticket() -> bool:
        nonlocal issued
        if requests is not None and issued >= requests:
            return False
        if time.perf_counter() >= deadline:
            return False
        issued += 1
        return True

    started = time.perf_counter()
    await asyncio.gather(*(_worker(session, result, take_ticket) for _ in range(concurrency)))
    result.elapsed_s = time.perf_counter() - started
    return result


async def run_load(
    url: str,
    *,
    concurrency: int,
    requests: int | None = None,
    duration: float | None = None,
    warmup: int = 0,
    on_measure: Callable[[], None] | None = None,
) -> LoadResult:
    """GET ``url`` until ``requests`` are done or ``duration`` seconds have passed.

    ``warmup`` requests go first on the same connections and are not counted;
    ``on_measure`` is called between the warm-up and the measured run.
    """
    if (requests is None) == (duration is None):
        raise ValueError("give exactly one of requests or duration")
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        if warmup:
            await _run(session, url, concurrency, warmup, None)
        if on_measure is not None:
            on_measure()
        return await _run(session, url, concurrency, requests, duration)
