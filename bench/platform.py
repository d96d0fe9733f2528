"""The platform under test: five separate ``casemesh serve`` processes, or one already running.

Launched, each process gets the production skeleton with local adapters
(SQLite, RabbitMQ, a folder for objects, ``.eml`` files for mail), a private
data folder, a free port, a private exchange (``bench.<hex>.events``) and
private queues (``bench.<hex>.<service>``), and
the gateway is pointed at the four services. ``launched_platform`` waits for
the gateway's ``/readyz`` to answer 200 and, at the end, stops the gateway
first and then the services with SIGTERM, and removes what it declared on
the broker.

Every launch shares one random ``CASEMESH_INTERNAL_SECRET`` among the five
processes (the gateway signs the caller's identity with it) and gives the
cases service a random ``CASEMESH_ADMIN_PASSWORD`` (``Platform.admin_password``)
so that a benchmark can sign in as ``admin``. A benchmark may add settings
(``env``: every process; ``service_env``: one process) and a ``prepare``
step that runs on the fresh data folder before any process starts (e.g. to
seed a service's database).

With ``--gateway URL`` nothing is launched and the benchmark loads that
platform (``--admin-password`` signs in there); peak memory is then known
only for the processes the harness started itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
import aiohttp
from aio_pika.exceptions import ChannelPreconditionFailed

from bench.rss import peak_rss_kib
from casemesh.settings import SERVICE_NAMES, Settings

SERVICES = SERVICE_NAMES
DEFAULT_AMQP_URL = Settings.model_fields["amqp_url"].default
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
# The retry queues a service declares: one per default retry delay, named in ms.
RETRY_DELAYS_MS = tuple(round(d * 1000) for d in Settings.model_fields["bus_retry_delays"].default)
DEFAULT_CLIENT_ID = Settings.model_fields["oauth_client_id"].default
DEFAULT_CLIENT_SECRET = Settings.model_fields["oauth_client_secret"].default.get_secret_value()


def add_platform_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("platform")
    group.add_argument(
        "--gateway",
        metavar="URL",
        help="load an already running platform at URL instead of launching one",
    )
    group.add_argument(
        "--service-url",
        metavar="URL",
        help="with --gateway: the cases service's own URL (its row is skipped without it)",
    )
    group.add_argument(
        "--admin-password",
        metavar="TEXT",
        help="with --gateway: the password of that platform's admin (launched: a random one)",
    )
    group.add_argument(
        "--amqp-url", default=DEFAULT_AMQP_URL, help=f"RabbitMQ for the launch ({DEFAULT_AMQP_URL})"
    )
    group.add_argument(
        "--log-level",
        default="INFO",
        help="CASEMESH_LOG_LEVEL of the launched processes (INFO, the default, "
        "writes one JSON line per request)",
    )
    group.add_argument(
        "--keep-data", action="store_true", help="keep the launch's data and log folder"
    )


async def sign_in(
    session: aiohttp.ClientSession,
    gateway_url: str,
    username: str,
    password: str,
    *,
    workspace: str = "workflow",
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
) -> str:
    """An access token from ProcessMaker's password grant (``POST /{ws}/oauth2/token``)."""
    form = {
        "grant_type": "password",
        "client_id": client_id,
        "client_secret": client_secret,
        "username": username,
        "password": password,
    }
    async with session.post(f"{gateway_url}/{workspace}/oauth2/token", data=form) as response:
        body = await response.json(content_type=None)
        if response.status != 200:
            raise RuntimeError(f"sign-in as {username} failed: HTTP {response.status} {body}")
    return body["access_token"]


def free_port() -> int:
    """A TCP port the OS has just handed out (free unless someone grabs it first)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of ``pid`` so far (from /proc/PID/stat), None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat.rsplit(")", 1)[1].split()  # fields 3.. of proc(5)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Process:
    """One OS process the harness started, its output going to ``log_path``."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def peak_rss_kib(self) -> int | None:
        return peak_rss_kib(self.pid)

    def cpu_seconds(self) -> float | None:
        return cpu_seconds(self.pid)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, wait, SIGKILL if it did not go; the exit code."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                print(f"  {self.name} ignored SIGTERM for {timeout:.0f}s; killing it")
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode


def spawn(
    name: str, argv: Sequence[str], env: dict[str, str], log_dir: Path, cwd: Path | None = None
) -> Process:
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            list(argv),
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return Process(name, popen, log_path)


async def wait_until_ok(url: str, processes: Sequence[Process], timeout: float) -> None:
    """Poll ``url`` until it answers 200; fail early if a process died."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        while time.monotonic() < deadline:
            for process in processes:
                if not process.alive():
                    raise RuntimeError(
                        f"{process.name} exited with code {process.popen.returncode} "
                        f"before {url} was ready:\n{process.log_tail()}"
                    )
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
                    last = f"HTTP {response.status}: {(await response.text())[:500]}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout:.0f}s (last: {last})")


@dataclass
class Platform:
    """Where to send requests, and the processes the harness owns (none with --gateway)."""

    gateway_url: str
    cases_url: str | None
    processes: list[Process] = field(default_factory=list)
    data_dir: Path | None = None
    exchange: str | None = None
    admin_password: str | None = None
    amqp_url: str | None = None
    queue_prefix: str | None = None

    def process(self, name: str) -> Process | None:
        return next((p for p in self.processes if p.name == name), None)

    async def queued_events(self) -> dict[str, int] | None:
        """Events waiting in each consuming service's queue (None: not launched here).

        Counts ready messages only (RabbitMQ's passive declare does not count
        the ones delivered and not yet acknowledged, at most the prefetch).
        """
        if not self.amqp_url or not self.queue_prefix:
            return None
        counts = {}
        connection = await aio_pika.connect(self.amqp_url, timeout=5)
        async with connection:
            channel = await connection.channel()
            for service in SERVICES:
                try:
                    queue = await channel.declare_queue(
                        f"{self.queue_prefix}{service}", passive=True
                    )
                except aio_pika.exceptions.ChannelClosed:
                    channel = await connection.channel()  # that service consumes nothing
                    continue
                counts[service] = queue.declaration_result.message_count
        return counts


def _casemesh_command() -> str:
    beside = Path(sys.executable).parent / "casemesh"
    found = str(beside) if beside.exists() else shutil.which("casemesh")
    if found is None:
        raise RuntimeError("the casemesh command is not installed (run `uv sync` first)")
    return found


def _process_env(settings: dict[str, str]) -> dict[str, str]:
    # Only our CASEMESH_* settings: none leak in from the caller's shell.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASEMESH_")}
    env.update(settings)
    return env


def _service_queues(prefix: str) -> list[str]:
    names = []
    for service in SERVICES:
        queue = f"{prefix}{service}"
        names += [queue, f"{queue}.dead", *(f"{queue}.retry.{ms}" for ms in RETRY_DELAYS_MS)]
    return names


async def _delete_topology(amqp_url: str, exchange: str, queues: Sequence[str]) -> list[str]:
    """Delete the exchange and every queue nobody consumes; the queues left in use."""
    in_use = []
    connection = await aio_pika.connect(amqp_url, timeout=5)
    async with connection:
        channel = await connection.channel()
        await channel.exchange_delete(exchange)
        for name in queues:
            try:
                await channel.queue_delete(name, if_unused=True)
            except ChannelPreconditionFailed:
                in_use.append(name)
                channel = await connection.channel()
    return in_use


@contextlib.asynccontextmanager
async def launched_platform(
    args: argparse.Namespace,
    *,
    env: Mapping[str, str] | None = None,
    service_env: Mapping[str, Mapping[str, str]] | None = None,
    prepare: Callable[[Path, dict[str, str]], Awaitable[None]] | None = None,
    ready_timeout: float = READY_TIMEOUT,
) -> AsyncIterator[Platform]:
    """The platform to load: ``--gateway``'s, or five processes started here.

    ``env`` is added to every launched process's settings, ``service_env[name]``
    to that process's; ``prepare(data_dir, settings)`` runs before any process
    starts, with the settings the cases service will get.
    """
    if args.gateway:
        yield Platform(
            args.gateway.rstrip("/"),
            (args.service_url or "").rstrip("/") or None,
            admin_password=getattr(args, "admin_password", None),
        )
        return
    data_dir = Path(tempfile.mkdtemp(prefix="casemesh-bench-"))
    log_dir = data_dir / "logs"
    log_dir.mkdir()
    tag = uuid.uuid4().hex[:12]
    exchange, queue_prefix = f"bench.{tag}.events", f"bench.{tag}."
    queues = _service_queues(queue_prefix)
    common = {
        "CASEMESH_MODE": "production",
        "CASEMESH_STORE_BACKEND": "sqlite",
        "CASEMESH_BUS_BACKEND": "rabbitmq",
        "CASEMESH_OBJECT_BACKEND": "filesystem",
        "CASEMESH_MAIL_BACKEND": "eml",
        "CASEMESH_DATA_DIR": str(data_dir),
        "CASEMESH_AMQP_URL": args.amqp_url,
        "CASEMESH_AMQP_EXCHANGE": exchange,
        "CASEMESH_AMQP_QUEUE_PREFIX": queue_prefix,
        "CASEMESH_LOG_LEVEL": args.log_level,
        "CASEMESH_HOST": "127.0.0.1",
        "CASEMESH_INTERNAL_SECRET": secrets.token_hex(32),
        **(env or {}),
    }
    admin_password = secrets.token_urlsafe(18)
    own = {name: dict((service_env or {}).get(name, {})) for name in ("gateway", *SERVICES)}
    own["cases"].setdefault("CASEMESH_ADMIN_PASSWORD", admin_password)
    ports = {name: free_port() for name in ("gateway", *SERVICES)}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    command = _casemesh_command()
    platform = Platform(
        urls["gateway"],
        urls["cases"],
        data_dir=data_dir,
        exchange=exchange,
        admin_password=own["cases"]["CASEMESH_ADMIN_PASSWORD"],
        amqp_url=args.amqp_url,
        queue_prefix=queue_prefix,
    )
    failed = False
    try:
        if prepare is not None:
            await prepare(data_dir, {**common, **own["cases"]})
        for name in SERVICES:
            settings = {**common, **own[name], "CASEMESH_PORT": str(ports[name])}
            platform.processes.append(
                spawn(name, [command, "serve", name], _process_env(settings), log_dir)
            )
        gateway_env = {**common, **own["gateway"], "CASEMESH_PORT": str(ports["gateway"])}
        gateway_env.update({f"CASEMESH_{name.upper()}_URL": urls[name] for name in SERVICES})
        gateway = spawn(
            "gateway", [command, "serve", "gateway"], _process_env(gateway_env), log_dir
        )
        platform.processes.insert(0, gateway)
        started = time.monotonic()
        await wait_until_ok(f"{urls['gateway']}/readyz", platform.processes, ready_timeout)
        print(
            f"platform: 5 processes ready in {time.monotonic() - started:.1f}s "
            f"(exchange {exchange}, data {data_dir})"
        )
        yield platform
    except BaseException:
        failed = True
        raise
    finally:
        for process in platform.processes:  # gateway first: no new work reaches services
            code = process.stop()
            if code != 0:
                failed = True
                print(f"  {process.name} exited with code {code}:\n{process.log_tail()}")
        try:
            in_use = await _delete_topology(args.amqp_url, exchange, queues)
        except Exception as exc:  # report, and still clean up the rest
            print(f"  could not clean up the broker ({exc!r}): exchange {exchange} may be left")
            in_use = []
        if in_use:
            print(f"  left on the broker (another consumer uses them): {', '.join(in_use)}")
        if failed or args.keep_data:
            print(f"  data and logs kept in {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
