"""The local RabbitMQ broker as a process whose CPU ``bench cases`` counts.

RabbitMQ runs as ``beam.smp`` (the Erlang VM), usually as its own user;
its ``/proc/PID/stat`` is readable all the same, so the harness can count
the broker's CPU per case like its own processes'. None if no broker runs
on this machine (a remote ``--amqp-url``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.platform import cpu_seconds

BROKER_COMMAND = "beam.smp"


@dataclass
class Broker:
    name: str
    pid: int

    def cpu_seconds(self) -> float | None:
        """User + system CPU time so far, None once it is gone."""
        return cpu_seconds(self.pid)


def local_broker() -> Broker | None:
    """The busiest ``beam.smp`` on this machine (the broker), if any."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() != BROKER_COMMAND:
                continue
        except OSError:
            continue
        broker = Broker("rabbitmq (beam.smp)", int(proc.name))
        used = broker.cpu_seconds()
        if used is not None:
            found.append((used, broker))
    return max(found, key=lambda pair: pair[0])[1] if found else None
