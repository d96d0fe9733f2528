"""Casemesh as separate OS processes, so faults can hit one process for real.

Each process is ``python -m casemesh serve NAME`` (what ``casemesh serve``
runs) in production mode on the real servers of the test session: RabbitMQ,
SeaweedFS (S3) and aiosmtpd (SMTP); the database is SQLite (one file per
service under the launch's data folder; no MongoDB server exists here). A
launch has its own exchange, queue prefix and bucket, and removes what it
declared on the broker at the end. Spawning a process with its log file and
waiting for a probe are the benchmark harness's (bench/platform.py), reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
import aiohttp

from bench.platform import Process, free_port, spawn, wait_until_ok
from casemesh.settings import PROCESS_NAMES, SERVICE_NAMES
from tests.e2e.flows import ADMIN_PASSWORD
from tests.fixtures.rabbitmq import delete_topology
from tests.fixtures.seaweedfs import SeaweedFS
from tests.fixtures.smtp import SmtpServer

RETRY_DELAYS = (0.2, 1.0)  # the services' bus retry delays in these launches
# The gateway gives up on a silent service after this many seconds (scenario 4).
UPSTREAM_READ_TIMEOUT = 3.0
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


@dataclass
class Launch:
    """Processes started from one set of settings; any of them can be stopped and restarted."""

    data_dir: Path
    amqp_url: str
    env: dict[str, str]
    ports: dict[str, int]
    exchange: str
    queue_prefix: str
    own_env: dict[str, dict[str, str]] = field(default_factory=dict)
    processes: dict[str, Process] = field(default_factory=dict)
    starts: dict[str, int] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def gateway(self) -> str:
        return self.url("gateway")

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    def start(self, name: str, **extra: str) -> Process:
        """Start ``name`` (again); ``extra`` adds CASEMESH_* settings for this start only."""
        running = self.processes.get(name)
        assert running is None or not running.alive(), f"{name} is already running"
        self.starts[name] = self.starts.get(name, 0) + 1
        env = {k: v for k, v in os.environ.items() if not k.startswith("CASEMESH_")}
        env.update(self.env)
        env.update(self.own_env.get(name, {}))
        env.update(extra)
        env["CASEMESH_PORT"] = str(self.ports[name])
        argv = [sys.executable, "-m", "casemesh", "serve", name]
        # One log per start: a restart must not overwrite what the last one said.
        process = spawn(f"{name}.{self.starts[name]}", argv, env, self.log_dir)
        self.processes[name] = process
        return process

    def signal(self, name: str, sig: signal.Signals) -> None:
        self.processes[name].popen.send_signal(sig)

    def kill(self, name: str) -> None:
        """SIGKILL: no shutdown code runs (no outbox drain, no connection close)."""
        process = self.processes[name]
        process.popen.kill()
        process.popen.wait(10)

    async def wait_ready(self, name: str, timeout: float = READY_TIMEOUT) -> float:
        """Poll a service's own /readyz (the gateway's /healthz) until 200; seconds taken.

        The gateway's /readyz asks every service: it is the whole platform's probe.
        """
        probe = "healthz" if name == "gateway" else "readyz"
        return await wait_ok(f"{self.url(name)}/{probe}", [self.processes[name]], timeout)

    def stop_all(self) -> None:
        """The gateway first (no new work), then every service at once."""
        order = [["gateway"], list(SERVICE_NAMES)]
        for names in order:
            running = [self.processes[n] for n in names if n in self.processes]
            for process in running:
                if process.alive():
                    process.popen.send_signal(signal.SIGCONT)  # a stopped one can't exit
                    process.popen.send_signal(signal.SIGTERM)
            for process in running:
                try:
                    process.popen.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    process.popen.kill()
                    process.popen.wait()

    def queues(self) -> frozenset[str]:
        names = set()
        for service in SERVICE_NAMES:
            queue = f"{self.queue_prefix}{service}"
            names |= {queue, f"{queue}.dead"}
            names |= {f"{queue}.retry.{round(d * 1000)}" for d in RETRY_DELAYS}
        return frozenset(names)

    def logs(self, lines: int = 15) -> str:
        return "\n".join(
            f"--- {p.name} (exit {p.popen.returncode}):\n{p.log_tail(lines)}"
            for p in self.processes.values()
        )


async def wait_ok(url: str, processes: Iterable[Process], timeout: float) -> float:
    """Poll ``url`` until it answers 200, failing early if a process died; seconds taken."""
    started = time.monotonic()
    await wait_until_ok(url, list(processes), timeout)
    return time.monotonic() - started


def settings_env(
    data_dir: Path,
    amqp_url: str,
    exchange: str,
    queue_prefix: str,
    ports: Mapping[str, int],
    s3: SeaweedFS | None,
    smtp: SmtpServer | None,
) -> dict[str, str]:
    env = {
        "CASEMESH_MODE": "production",
        "CASEMESH_STORE_BACKEND": "sqlite",
        "CASEMESH_BUS_BACKEND": "rabbitmq",
        "CASEMESH_DATA_DIR": str(data_dir),
        "CASEMESH_HOST": "127.0.0.1",
        "CASEMESH_LOG_LEVEL": "INFO",
        "CASEMESH_AMQP_URL": amqp_url,
        "CASEMESH_AMQP_EXCHANGE": exchange,
        "CASEMESH_AMQP_QUEUE_PREFIX": queue_prefix,
        "CASEMESH_BUS_RETRY_DELAYS": json.dumps(RETRY_DELAYS),
        "CASEMESH_INTERNAL_SECRET": secrets.token_hex(32),
        "CASEMESH_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "CASEMESH_UPSTREAM_READ_TIMEOUT": str(UPSTREAM_READ_TIMEOUT),
        # E-mail retries in seconds rather than minutes, so outages end in a test's time.
        "CASEMESH_NOTIFICATIONS_RETRY_FIRST": "0.5",
        "CASEMESH_NOTIFICATIONS_RETRY_MAX": "2",
        "CASEMESH_NOTIFICATIONS_POLL_INTERVAL": "0.2",
        "CASEMESH_NOTIFICATIONS_LEASE": "15",
        "CASEMESH_SMTP_TIMEOUT": "3",
        **{f"CASEMESH_{name.upper()}_URL": f"http://127.0.0.1:{ports[name]}" for name in ports},
    }
    if s3 is None:
        env["CASEMESH_OBJECT_BACKEND"] = "filesystem"
    else:
        env.update(
            CASEMESH_OBJECT_BACKEND="s3",
            CASEMESH_S3_ENDPOINT=s3.endpoint,
            CASEMESH_S3_ACCESS_KEY=s3.access_key,
            CASEMESH_S3_SECRET_KEY=s3.secret_key,
            CASEMESH_S3_BUCKET=f"faults-{uuid.uuid4().hex[:12]}",
        )
    if smtp is None:
        env["CASEMESH_MAIL_BACKEND"] = "eml"
    else:
        env.update(
            CASEMESH_MAIL_BACKEND="smtp",
            CASEMESH_SMTP_HOST=smtp.host,
            CASEMESH_SMTP_PORT=str(smtp.port),
        )
    return env


@contextlib.asynccontextmanager
async def launched(
    data_dir: Path,
    amqp_url: str,
    *,
    names: Iterable[str] = PROCESS_NAMES,
    s3: SeaweedFS | None = None,
    smtp: SmtpServer | None = None,
    own_env: Mapping[str, Mapping[str, str]] | None = None,
) -> AsyncIterator[Launch]:
    """Start ``names`` (services first, then the gateway) and wait until each is ready."""
    names = [n for n in PROCESS_NAMES if n in set(names)]
    tag = uuid.uuid4().hex[:10]
    exchange, prefix = f"faults.{tag}.events", f"faults.{tag}."
    ports = {name: free_port() for name in PROCESS_NAMES}
    env = settings_env(data_dir, amqp_url, exchange, prefix, ports, s3, smtp)
    launch = Launch(
        data_dir,
        amqp_url,
        env,
        ports,
        exchange,
        prefix,
        own_env={k: dict(v) for k, v in (own_env or {}).items()},
    )
    launch.log_dir.mkdir(parents=True, exist_ok=True)
    try:
        for name in [*SERVICE_NAMES, "gateway"]:
            if name in names:
                launch.start(name)
        for name in names:
            await launch.wait_ready(name)
        yield launch
    finally:
        await asyncio.to_thread(launch.stop_all)
        print(launch.logs())
        await delete_topology(amqp_url, exchange, launch.queues())


async def bus_counters(http: aiohttp.ClientSession, launch: Launch) -> dict[str, dict[str, float]]:
    """Each service's ``casemesh_events_*_total`` counters from its /metrics."""
    counters: dict[str, dict[str, float]] = {}
    for name in SERVICE_NAMES:
        async with http.get(f"{launch.url(name)}/metrics") as r:
            assert r.status == 200
            text = await r.text()
        counters[name] = {
            line.split("{")[0].removeprefix("casemesh_events_").removesuffix("_total"): float(
                line.rsplit(" ", 1)[1]
            )
            for line in text.splitlines()
            if line.startswith("casemesh_events_")
        }
    return counters


async def queue_depth(launch: Launch, service: str) -> int:
    """Messages ready in a service's queue (those delivered and not yet acked not counted)."""
    connection = await aio_pika.connect(launch.amqp_url, timeout=5)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(f"{launch.queue_prefix}{service}", passive=True)
        return queue.declaration_result.message_count or 0
