"""The SMTP server of the ``notifications`` benchmark, and what it reports.

An aiosmtpd server in a process of its own (``python -m bench.notifications_sink
PORT``) that accepts every message and prints, for each, the note's token
found in it, the moment it was accepted and its Message-ID; ``Arrivals``
collects those lines in the harness.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import time
from email import message_from_bytes, policy
from pathlib import Path

from bench.platform import free_port

TOKEN = re.compile(rb"\[bench:([0-9a-f]{16})\]")
MESSAGE_ID = re.compile(rb"^Message-ID: *<([^@>\s]+)@", re.MULTILINE | re.IGNORECASE)


class Arrivals:
    """When each note's e-mails were accepted (found by the token), as the sink reports them."""

    def __init__(self) -> None:
        self.count: dict[str, int] = {}
        self.last: dict[str, float] = {}
        self.message_ids: dict[str, list[str]] = {}
        self.total = 0

    def add(self, token: str, moment: float, message_id: str = "-") -> None:
        self.total += 1
        if token != "-":
            self.count[token] = self.count.get(token, 0) + 1
            self.last[token] = moment
            self.message_ids.setdefault(token, []).append(message_id)


class Sink:
    """The aiosmtpd server, in a process of its own (``python -m bench.notifications_sink
    PORT``), so that neither the service nor the bare sender shares its GIL.

    It prints ``token perf_counter message-id`` for every message accepted
    (``-`` for messages without a token); ``time.perf_counter`` is
    CLOCK_MONOTONIC, the same clock in every process of the machine.
    """

    def __init__(self, arrivals: Arrivals) -> None:
        self.arrivals = arrivals
        self.port = free_port()
        self.process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.notifications_sink", str(self.port),
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), 20)
        if line.strip() != b"ready":
            raise RuntimeError(f"the SMTP sink did not start: {line!r}")
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        async for line in self.process.stdout:
            token, moment, message_id = line.decode().split()
            self.arrivals.add(token, float(moment), message_id)

    def cpu_seconds(self) -> float:
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()
        if self._reader is not None:
            self._reader.cancel()


class _SinkHandler:
    def __init__(self, out) -> None:
        self.out = out

    async def handle_DATA(self, server, session, envelope) -> str:
        moment = time.perf_counter()
        token = _token(envelope.content) or "-"
        found = MESSAGE_ID.search(envelope.content)
        message_id = found.group(1).decode() if found else "-"
        self.out.write(f"{token} {moment:.6f} {message_id}\n")
        return "250 OK"


def sink(port: int) -> None:
    """Run the SMTP sink until terminated (the sink process's main)."""
    from aiosmtpd.smtp import SMTP

    async def serve() -> None:
        handler = _SinkHandler(sys.stdout)
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(handler, hostname="bench-sink"), "127.0.0.1", port
        )
        print("ready", flush=True)
        async with server:
            while True:  # hand the arrivals over every few milliseconds
                await asyncio.sleep(0.002)
                sys.stdout.flush()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


def _token(content: bytes) -> str | None:
    """The note's token: in the raw text (7bit, or quoted-printable), else in the parsed body."""
    match = TOKEN.search(content.replace(b"=\r\n", b""))
    if match:
        return match.group(1).decode()
    message = message_from_bytes(content, policy=policy.default)
    body = message.get_body(("plain",))
    match = TOKEN.search(body.get_content().encode()) if body is not None else None
    return match.group(1).decode() if match else None


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sink(int(sys.argv[1]))
