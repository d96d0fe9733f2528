"""``casemesh up``: the whole platform in one process with the embedded adapters.

The four services and the gateway are separate aiohttp applications on their
own ports, talking HTTP as in production; they share one in-process event bus
(which is why they live in one process) and keep their data under one folder.
Services get free ports chosen by the OS, so two instances never collide.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
import socket
from dataclasses import dataclass, field

from aiohttp import web
from pydantic import SecretStr

from casemesh.bus.memory import InProcessBus
from casemesh.processes import app_factory, server_options
from casemesh.settings import SERVICE_NAMES, Settings
from casemesh.web.keys import SETTINGS

log = logging.getLogger("casemesh.up")
SHUTDOWN_TIMEOUT = 10.0
SETTLE_TIMEOUT = 10.0  # at stop, how long queued events may take to be handled


@dataclass
class Platform:
    """A running embedded platform: its runners and where each process listens."""

    settings: Settings
    bus: InProcessBus | None
    runners: dict[str, web.AppRunner] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)

    @property
    def gateway_url(self) -> str:
        return self.urls["gateway"]

    async def stop(self) -> None:
        """Gateway first (no new work), then services, then the shared bus.

        In between, the events already published are handled: the in-process
        bus keeps its queues in memory only, so whatever a service stopped
        before handling would be lost.
        """
        gateway = self.runners.pop("gateway", None)
        if gateway is not None:
            await gateway.cleanup()
        if self.bus is not None and not await self.bus.settle(SETTLE_TIMEOUT):
            log.warning("events still queued after %.0fs: they are lost", SETTLE_TIMEOUT)
        for name in reversed(SERVICE_NAMES):
            runner = self.runners.pop(name, None)
            if runner is not None:
                await runner.cleanup()
        if self.bus is not None:
            await self.bus.close()


def bound_socket(host: str) -> socket.socket:
    """A listening socket on a port the OS picks; held open, so nobody else can take it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, 0))
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


async def _serve(
    name: str, app: web.Application, host: str, port: int, sock: socket.socket | None = None
) -> tuple[web.AppRunner, str]:
    options = server_options(name, app[SETTINGS])
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT, **options)
    await runner.setup()
    site: web.BaseSite = (
        web.SockSite(runner, sock) if sock is not None else web.TCPSite(runner, host, port)
    )
    await site.start()
    address = runner.addresses[0]
    return runner, f"http://{address[0]}:{address[1]}"


async def start_platform(settings: Settings) -> Platform:
    """Start the four services, then the gateway in front of them."""
    updates: dict[str, object] = {"mode": "embedded"}
    if not settings.internal_secret.get_secret_value():
        updates["internal_secret"] = SecretStr(secrets.token_hex(32))
    settings = settings.model_copy(update=updates)
    # The in-process bus only works if every service shares it; other buses
    # (CASEMESH_BUS_BACKEND=rabbitmq) are built per service as in production.
    shared_bus = InProcessBus() if settings.backend("bus") == "memory" else None
    platform = Platform(settings, shared_bus)
    # Services call each other (e.g. notes asks cases about a case), so every
    # process must know every address before any starts: bind their sockets first.
    sockets = {name: bound_socket(settings.host) for name in SERVICE_NAMES}
    urls = {
        f"{name}_url": f"http://{settings.host}:{sock.getsockname()[1]}"
        for name, sock in sockets.items()
    }
    settings = platform.settings = settings.model_copy(update=urls)
    try:
        for name in SERVICE_NAMES:
            app = app_factory(name)(settings, bus=shared_bus, owns_bus=shared_bus is None)
            runner, url = await _serve(name, app, settings.host, 0, sockets.pop(name))
            platform.runners[name] = runner
            platform.urls[name] = url
        gateway = app_factory("gateway")(settings)
        runner, url = await _serve("gateway", gateway, settings.host, settings.port)
        platform.runners["gateway"] = runner
        platform.urls["gateway"] = url
    except BaseException:
        for sock in sockets.values():
            sock.close()
        await platform.stop()
        raise
    return platform


async def run_until_signalled(settings: Settings) -> None:
    platform = await start_platform(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"Casemesh is up: gateway {platform.gateway_url}", flush=True)
    for name in SERVICE_NAMES:
        print(f"  {name:<14} {platform.urls[name]}", flush=True)
    print(f"  data in {settings.data_dir}  (Ctrl-C stops)", flush=True)
    await stop.wait()
    print("Casemesh is stopping...", flush=True)
    await platform.stop()
