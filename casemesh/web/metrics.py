"""Prometheus metrics for one process: HTTP requests and event-bus counters."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from casemesh.bus.port import BusStats


class Metrics:
    def __init__(self, process: str) -> None:
        self.process = process
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "casemesh_http_requests_total",
            "HTTP requests answered",
            ["process", "method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "casemesh_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["process", "method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )

    def watch_bus(self, stats: Callable[[], BusStats | None]) -> None:
        self.registry.register(_BusCollector(self.process, stats))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(self.process, method, route, str(status)).inc()
        self.latency.labels(self.process, method, route).observe(seconds)

    async def handle(self, request: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


class _BusCollector(Collector):
    def __init__(self, process: str, stats: Callable[[], BusStats | None]) -> None:
        self._process = process
        self._stats = stats

    def collect(self) -> Iterator[CounterMetricFamily]:
        stats = self._stats()
        if stats is None:
            return
        for name, value, help_text in (
            ("published", stats.published, "Events published with a broker confirm"),
            ("consumed", stats.consumed, "Events handled and acknowledged"),
            ("retried", stats.retried, "Deliveries scheduled for a delayed retry"),
            ("dead_lettered", stats.dead_lettered, "Events moved to a dead-letter queue"),
            ("duplicates", stats.duplicates, "Deliveries dropped as already handled"),
        ):
            family = CounterMetricFamily(f"casemesh_events_{name}", help_text, labels=["process"])
            family.add_metric([self._process], value)
            yield family


def route_label(request: web.Request) -> str:
    """The matched route's pattern, so metrics stay low-cardinality."""
    info = request.match_info.route.resource
    if info is None:
        return "unmatched"
    return info.canonical


def timer() -> Callable[[], float]:
    start = time.perf_counter()
    return lambda: time.perf_counter() - start
