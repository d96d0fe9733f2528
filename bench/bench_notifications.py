"""``notifications``: a note with send_mail POSTed through the gateway -> its last e-mail accepted.

The platform runs as five processes (``bench.platform``: SQLite, RabbitMQ)
with ``CASEMESH_MAIL_BACKEND=smtp`` pointing at an aiosmtpd server that this
harness starts (in a process of its own). Set-up through the gateway, as an
administrator: ``--participants`` users (``POST /api/1.0/workflow/users``),
a process whose tasks run in sequence, task n assigned to user n, with a
CASES_NOTES permission for ``admin`` (``POST /api/1.0/workflow/processes``),
and ``--cases`` cases, each started by user 1 and routed by users 1..n-1 so
that every user has been assigned a task of it (its participants).

Then, in each of ``--rounds`` rounds:

- **steady**: ``admin`` POSTs ``/api/1.0/workflow/cases/{app_uid}/note`` with
  ``send_mail=1`` at a steady ``--rate`` for ``--seconds`` (open loop: a note
  is sent on time whatever the earlier ones are doing). Latency of a note:
  from just before its POST to the moment the SMTP server accepted the last
  of its ``--participants`` e-mails (the path: gateway -> notes (case facts
  from cases, entry + outbox) -> RabbitMQ -> notifications (render, record)
  -> sender (claim, SMTP, outcome)). Each note carries a token in its text
  that the server finds in the e-mails.
- **burst**: ``--burst`` notes POSTed with ``--burst-concurrency`` in flight;
  e-mails per second from the first POST to the last e-mail accepted.
- **bare**: the same number of e-mails, of the same size and shape
  (multipart/alternative), sent to the same server by bare aiosmtplib: one
  connection, one message after the other (the issue's baseline), and
  ``smtp_pool_size`` connections at once (for reference).

The SMTP server (aiosmtpd) runs in a process of its own; the harness (the
load generator and the bare sender), that server, the five processes and
RabbitMQ all share the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import secrets
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import aiohttp
import aiosmtplib

from bench import format_table
from bench import platform as platform_module
from bench.load import percentile
from bench.platform import SERVICES, add_platform_arguments, free_port, launched_platform, sign_in
from bench.rss import mib, peak_rss_kib
from casemesh.settings import Settings

DESCRIPTION = "note+send_mail via the gateway -> last e-mail accepted by SMTP; vs bare aiosmtplib"

WORKSPACE = "workflow"
ADMIN_UID = "00000000000000000000000000000001"
PROCESS = "e0000000000000000000000000000000"
TOKEN = re.compile(rb"\[bench:([0-9a-f]{16})\]")
POOL_SIZE = Settings.model_fields["smtp_pool_size"].default
TEXT = "Please review the invoice totals before Friday; the supplier asked twice."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rate", type=float, default=50.0, help="notes per second (50)")
    parser.add_argument("--seconds", type=float, default=10.0, help="steady phase per round (10)")
    parser.add_argument("--participants", type=int, default=5, help="e-mails per note (5)")
    parser.add_argument("--cases", type=int, default=20, help="cases the notes go to (20)")
    parser.add_argument("--burst", type=int, default=200, help="notes in each burst (200)")
    parser.add_argument(
        "--burst-concurrency", type=int, default=32, help="note POSTs in flight in a burst (32)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds (3)")
    parser.add_argument("--warmup", type=int, default=20, help="uncounted notes first (20)")
    parser.add_argument(
        "--pool-size",
        type=int,
        default=POOL_SIZE,
        help=f"CASEMESH_SMTP_POOL_SIZE of the service ({POOL_SIZE})",
    )
    add_platform_arguments(parser)


# -- the SMTP server ---------------------------------------------------------------


class Arrivals:
    """When each note's e-mails were accepted (found by the token), as the sink reports them."""

    def __init__(self) -> None:
        self.count: dict[str, int] = {}
        self.last: dict[str, float] = {}
        self.total = 0

    def add(self, token: str, moment: float) -> None:
        self.total += 1
        if token != "-":
            self.count[token] = self.count.get(token, 0) + 1
            self.last[token] = moment


class Sink:
    """The aiosmtpd server, in a process of its own (``python -m bench.bench_notifications
    --sink PORT``), so that neither the service nor the bare sender shares its GIL.

    It prints ``token perf_counter`` for every message accepted (``-`` for
    messages without a token); ``time.perf_counter`` is CLOCK_MONOTONIC,
    the same clock in every process of the machine.
    """

    def __init__(self, arrivals: Arrivals) -> None:
        self.arrivals = arrivals
        self.port = free_port()
        self.process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.bench_notifications", "--sink", str(self.port),
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
            token, moment = line.split()
            self.arrivals.add(token.decode(), float(moment))

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
        self.out.write(f"{token} {moment:.6f}\n")
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


async def _wait(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


# -- set-up through the gateway ----------------------------------------------------------


@dataclass
class Api:
    session: aiohttp.ClientSession
    gateway: str

    async def call(self, token: str, method: str, path: str, body: dict | None = None):
        url = f"{self.gateway}/api/1.0/{WORKSPACE}{path}"
        headers = {"Authorization": f"Bearer {token}"}
        async with self.session.request(method, url, json=body, headers=headers) as response:
            payload = await response.read()
            if response.status not in (200, 201):
                raise RuntimeError(f"{method} {path}: HTTP {response.status} {payload[:300]!r}")
            return response.status, payload


def five_task_process(users: list[str]) -> dict:
    """Tasks in sequence, task n assigned to user n; admin may read and write the notes."""
    uids = [f"{PROCESS[:-2]}{n:02d}" for n in range(1, len(users) + 1)]
    tasks = [
        {
            "uid": uid,
            "title": f"Step {n}",
            "users": [user],
            "routes": {"type": "SEQUENTIAL", "to": [{"task": uids[n] if n < len(uids) else "END"}]},
        }
        for n, (uid, user) in enumerate(zip(uids, users, strict=True), start=1)
    ]
    return {
        "uid": PROCESS,
        "title": "Benchmark: notes to every participant",
        "start_tasks": [uids[0]],
        "tasks": tasks,
        "permissions": [{"object": "CASES_NOTES", "action": "VIEW", "users": [ADMIN_UID]}],
    }


async def set_up(api: Api, admin_password: str, args: argparse.Namespace) -> tuple[str, list[str]]:
    """Users, the process and the cases; the admin's token and the cases' uids."""
    import json

    admin = await sign_in(api.session, api.gateway, "admin", admin_password)
    tag = uuid.uuid4().hex[:6]
    users: list[tuple[str, str]] = []  # (usr_uid, token)
    for n in range(1, args.participants + 1):
        username, password = f"bench{tag}{n}", secrets.token_urlsafe(12)
        body = {
            "usr_username": username,
            "usr_firstname": f"Participant{n}",
            "usr_lastname": "Bench",
            "usr_email": f"{username}@example.com",
            "usr_new_pass": password,
            "usr_role": "PROCESSMAKER_OPERATOR",
        }
        _, created = await api.call(admin, "POST", "/users", body)
        token = await sign_in(api.session, api.gateway, username, password)
        users.append((json.loads(created)["usr_uid"], token))
    await api.call(admin, "POST", "/processes", five_task_process([u for u, _ in users]))

    async def one_case() -> str:
        start = {"pro_uid": PROCESS, "tas_uid": f"{PROCESS[:-2]}01"}
        _, created = await api.call(users[0][1], "POST", "/cases", start)
        app_uid = json.loads(created)["app_uid"]
        for _, token in users[:-1]:  # the last user holds the open task
            await api.call(token, "PUT", f"/cases/{app_uid}/route-case", {})
        return app_uid

    cases = []
    for first in range(0, args.cases, 10):
        cases += await asyncio.gather(
            *(one_case() for _ in range(first, min(first + 10, args.cases)))
        )
    return admin, cases


@contextlib.contextmanager
def service_urls() -> Iterator[dict[str, str]]:
    """Every launched process told where the services are, not only the gateway.

    ``launched_platform`` gives the services' URLs to the gateway alone, but
    the notes service asks the cases service for a case's facts
    (``CASEMESH_CASES_URL``) on every note. Until the launcher passes them
    to every process, the ports are picked here first and handed to it.
    """
    ports = {name: free_port() for name in ("gateway", *SERVICES)}
    order = iter(ports.values())
    original = platform_module.free_port
    platform_module.free_port = lambda: next(order)
    try:
        yield {f"CASEMESH_{n.upper()}_URL": f"http://127.0.0.1:{ports[n]}" for n in SERVICES}
    finally:
        platform_module.free_port = original


# -- the runs ----------------------------------------------------------------------------


@dataclass
class Notes:
    api: Api
    admin: str
    cases: list[str]
    arrivals: Arrivals
    participants: int
    posted: dict[str, float] = field(default_factory=dict)
    post_ms: list[float] = field(default_factory=list)
    errors: int = 0
    sent: int = 0

    async def post(self, token: str) -> None:
        app_uid = self.cases[self.sent % len(self.cases)]
        self.sent += 1
        body = {"note_content": f"{TEXT} [bench:{token}]", "send_mail": 1}
        started = time.perf_counter()
        self.posted[token] = started
        try:
            await self.api.call(self.admin, "POST", f"/cases/{app_uid}/note", body)
        except (RuntimeError, aiohttp.ClientError, TimeoutError):
            self.errors += 1
            return
        self.post_ms.append((time.perf_counter() - started) * 1000)

    def done(self, tokens: list[str]) -> bool:
        count = self.arrivals.count
        return all(count.get(t, 0) >= self.participants for t in tokens)

    def latencies_ms(self, tokens: list[str]) -> list[float]:
        return sorted((self.arrivals.last[t] - self.posted[t]) * 1000 for t in tokens)


def _tokens(count: int) -> list[str]:
    return [secrets.token_hex(8) for _ in range(count)]


async def steady(notes: Notes, rate: float, seconds: float) -> dict:
    tokens = _tokens(int(rate * seconds))
    notes.post_ms = []
    start = time.perf_counter()
    tasks = []
    for i, token in enumerate(tokens):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(notes.post(token)))
    offered = len(tokens) / (time.perf_counter() - start)
    await asyncio.gather(*tasks)
    await _wait(lambda: notes.done(tokens), 180, "the steady phase's e-mails")
    latencies = notes.latencies_ms(tokens)
    posts = sorted(notes.post_ms)
    return {
        "notes": len(tokens),
        "offered_per_s": round(offered, 1),
        "p50_ms": round(percentile(latencies, 50), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "max_ms": round(latencies[-1], 1),
        "post_p50_ms": round(percentile(posts, 50), 1),
        "post_p99_ms": round(percentile(posts, 99), 1),
    }


async def burst(notes: Notes, count: int, concurrency: int, cpu) -> dict:
    tokens = _tokens(count)
    queue = list(reversed(tokens))
    before_cpu = cpu()
    start = time.perf_counter()

    async def worker() -> None:
        while queue:
            await notes.post(queue.pop())

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    posted = time.perf_counter() - start
    await _wait(lambda: notes.done(tokens), 300, "the burst's e-mails")
    elapsed = max(notes.arrivals.last[t] for t in tokens) - start
    used = {name: (after - before_cpu[name]) / elapsed * 100 for name, after in cpu().items()}
    return {
        "emails": count * notes.participants,
        "emails_per_s": round(count * notes.participants / elapsed, 1),
        "notes_posted_per_s": round(count / posted, 1),
        "cpu_percent": {name: round(value) for name, value in used.items()},
    }


def _bare_message(i: int) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Casemesh <casemesh@localhost>"
    message["To"] = f"Participant {i % 5} <user{i % 5}@example.com>"
    message["Subject"] = f'Note on case #{i}: "Benchmark: notes to every participant"'
    message["Message-ID"] = f"<{uuid.uuid4().hex}@localhost>"
    message["X-Casemesh-Case"] = "bare"
    message.set_content(f"Admin wrote a note on case #{i}:\n\n{TEXT}\n\nhttp://127.0.0.1/case\n")
    message.add_alternative(f"<p>Admin wrote a note on case #{i}:</p><p>{TEXT}</p>", subtype="html")
    return message


async def bare(port: int, count: int, connections: int) -> float:
    """E-mails per second from bare aiosmtplib: ``connections`` connections, each sequential."""
    clients = [
        aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        for _ in range(connections)
    ]
    for client in clients:
        await client.connect()
    messages = [_bare_message(i) for i in range(count)]
    start = time.perf_counter()

    async def one(client: aiosmtplib.SMTP, mine: list[EmailMessage]) -> None:
        for message in mine:
            await client.send_message(message)

    await asyncio.gather(*(one(c, messages[i::connections]) for i, c in enumerate(clients)))
    elapsed = time.perf_counter() - start
    for client in clients:
        await client.quit()
    return count / elapsed


# -- the benchmark -----------------------------------------------------------------------


async def _run(args: argparse.Namespace) -> dict:
    if args.gateway:
        raise SystemExit("notifications: needs a launched platform (its SMTP must be this server)")
    arrivals = Arrivals()
    smtp = Sink(arrivals)
    await smtp.start()
    env = {
        "CASEMESH_MAIL_BACKEND": "smtp",
        "CASEMESH_SMTP_HOST": "127.0.0.1",
        "CASEMESH_SMTP_PORT": str(smtp.port),
        "CASEMESH_SMTP_POOL_SIZE": str(args.pool_size),
    }
    rounds: list[dict] = []
    try:
        with service_urls() as urls:
            async with launched_platform(args, env={**env, **urls}) as platform:
                connector = aiohttp.TCPConnector(limit=0)
                async with aiohttp.ClientSession(connector=connector) as session:
                    api = Api(session, platform.gateway_url)
                    started = time.perf_counter()
                    admin, cases = await set_up(api, platform.admin_password or "", args)
                    print(
                        f"set-up: {args.participants} users, 1 process, {len(cases)} cases "
                        f"in {time.perf_counter() - started:.1f}s"
                    )
                    notes = Notes(api, admin, cases, arrivals, args.participants)
                    warm = _tokens(args.warmup)
                    await asyncio.gather(*(notes.post(t) for t in warm))
                    await _wait(lambda: notes.done(warm), 60, "the warm-up e-mails")

                    def cpu() -> dict[str, float]:
                        used = {p.name: p.cpu_seconds() or 0.0 for p in platform.processes}

                        sink, harness = smtp.cpu_seconds(), time.process_time()
                        return {**used, "smtp sink": sink, "harness": harness}

                    for n in range(args.rounds):
                        row: dict = {"round": n + 1}
                        row["steady"] = await steady(notes, args.rate, args.seconds)
                        row["burst"] = await burst(notes, args.burst, args.burst_concurrency, cpu)
                        emails = args.burst * args.participants
                        row["bare_1"] = round(await bare(smtp.port, emails, 1), 1)
                        row["bare_pool"] = round(await bare(smtp.port, emails, args.pool_size), 1)
                        rounds.append(row)
                        print(
                            f"round {n + 1}: p50 {row['steady']['p50_ms']} ms, "
                            f"p99 {row['steady']['p99_ms']} ms, "
                            f"{row['burst']['emails_per_s']} e-mails/s "
                            f"(bare {row['bare_1']}/s, "
                            f"{args.pool_size} conns {row['bare_pool']}/s)",
                            flush=True,
                        )
                    peak = {p.name: mib(peak_rss_kib(p.pid)) for p in platform.processes}
                    errors = notes.errors
    finally:
        await smtp.stop()
    return _report(args, rounds, peak, errors)


def _report(args: argparse.Namespace, rounds: list[dict], peak: dict, errors: int) -> dict:
    def spread(values: list[float]) -> str:
        return f"{min(values):.0f}..{max(values):.0f}"

    p50 = [r["steady"]["p50_ms"] for r in rounds]
    p99 = [r["steady"]["p99_ms"] for r in rounds]
    service = [r["burst"]["emails_per_s"] for r in rounds]
    bare_1 = [r["bare_1"] for r in rounds]
    bare_pool = [r["bare_pool"] for r in rounds]
    table = [
        [
            r["round"],
            r["steady"]["notes"],
            r["steady"]["offered_per_s"],
            r["steady"]["p50_ms"],
            r["steady"]["p99_ms"],
            r["steady"]["max_ms"],
            r["steady"]["post_p99_ms"],
            r["burst"]["emails_per_s"],
            r["bare_1"],
            round(r["burst"]["emails_per_s"] / r["bare_1"], 2),
            r["bare_pool"],
            round(r["burst"]["emails_per_s"] / r["bare_pool"], 2),
        ]
        for r in rounds
    ]
    print()
    print(
        format_table(
            [
                "round",
                "notes",
                "notes/s",
                "p50 ms",
                "p99 ms",
                "max ms",
                "POST p99 ms",
                "service mails/s",
                "bare 1 conn/s",
                "ratio",
                f"bare {args.pool_size} conns/s",
                "ratio",
            ],
            table,
        )
    )
    cpu = rounds[-1]["burst"]["cpu_percent"]
    print(f"\nCPU % of one core during the last burst: {cpu}")
    print(f"peak RSS MiB: {peak}; note POST errors: {errors}")
    summary = {
        "p50_ms_median": sorted(p50)[len(p50) // 2],
        "p99_ms_median": sorted(p99)[len(p99) // 2],
        "p99_ms_rounds": spread(p99),
        "service_emails_per_s_median": sorted(service)[len(service) // 2],
        "bare_1_emails_per_s_median": sorted(bare_1)[len(bare_1) // 2],
        "bare_pool_emails_per_s_median": sorted(bare_pool)[len(bare_pool) // 2],
    }
    summary["ratio_vs_bare_1"] = round(
        summary["service_emails_per_s_median"] / summary["bare_1_emails_per_s_median"], 2
    )
    summary["ratio_vs_bare_pool"] = round(
        summary["service_emails_per_s_median"] / summary["bare_pool_emails_per_s_median"], 2
    )
    print(f"summary: {summary}")
    return {
        "rate_per_s": args.rate,
        "seconds": args.seconds,
        "participants": args.participants,
        "pool_size": args.pool_size,
        "rounds": rounds,
        "summary": summary,
        "peak_rss_mib": peak,
        "post_errors": errors,
    }


def run(args: argparse.Namespace) -> dict:
    return asyncio.run(_run(args))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--sink":
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        sink(int(sys.argv[2]))
