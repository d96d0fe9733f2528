"""Delivery counters, exported on the process's /metrics next to the bus counters.

Events that cannot be processed at all are dead-lettered by the bus and
counted there (``casemesh_events_dead_lettered``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector


@dataclass
class DeliveryStats:
    recorded: int = 0  # new (event, recipient) records
    duplicates: int = 0  # already recorded: a redelivered event
    suppressed: int = 0  # the recipient turned the kind off
    sent: int = 0
    retried: int = 0  # transient failure, tried again later
    failed_permanent: int = 0  # 5xx, no or bad address
    gave_up: int = 0  # transient failures past the retry period
    taken_over: int = 0  # claims of a sender that died mid-send


class DeliveryCollector(Collector):
    def __init__(self, process: str, stats: DeliveryStats) -> None:
        self._process = process
        self._stats = stats

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "casemesh_notifications_deliveries",
            "Notification deliveries by outcome",
            labels=["process", "outcome"],
        )
        for outcome, value in asdict(self._stats).items():
            family.add_metric([self._process, outcome], value)
        yield family
