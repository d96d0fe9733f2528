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
  ``send_mail=1`` at a steady ``--rate`` for ``--seconds`` (open loop: note
  i is due at start + i/rate and is sent then whatever the earlier ones are
  doing). Latency of a note: from when it was due (its POST starts then,
  unless the harness lags: reported) to the moment the SMTP server accepted
  the last of its ``--participants`` e-mails (the path: gateway -> notes
  (case facts from cases, entry + outbox) -> RabbitMQ -> notifications
  (render, record) -> sender (claim, SMTP, outcome)). Each note carries a
  token in its text that the server finds in the e-mails, and the server
  reports each e-mail's Message-ID, which names its delivery record: the
  records' times then say where the time went (POST answered, last record
  written, last outcome written, last e-mail accepted).
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
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage

import aiohttp
import aiosmtplib

from bench import format_table
from bench.load import percentile
from bench.notifications_setup import Api, service_urls, set_up
from bench.notifications_sink import Arrivals, Sink
from bench.platform import add_platform_arguments, launched_platform
from bench.rss import mib, peak_rss_kib
from casemesh.settings import Settings

DESCRIPTION = "note+send_mail via the gateway -> last e-mail accepted by SMTP; vs bare aiosmtplib"

__all__ = ["service_urls"]  # bench_notes and bench_documents launch with it

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
        help=f"CASEMESH_SMTP_POOL_SIZE of the service ({POOL_SIZE}); also its "
        "CASEMESH_NOTIFICATIONS_CONCURRENCY (sends in flight), so every connection is used",
    )
    add_platform_arguments(parser)


async def _wait(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


# -- the runs ----------------------------------------------------------------------------


@dataclass
class Notes:
    api: Api
    admin: str
    cases: list[str]
    arrivals: Arrivals
    participants: int
    posted: dict[str, float] = field(default_factory=dict)
    answered: dict[str, float] = field(default_factory=dict)
    post_ms: list[float] = field(default_factory=list)
    lag_ms: list[float] = field(default_factory=list)
    errors: int = 0
    sent: int = 0

    async def post(self, token: str, scheduled: float | None = None) -> None:
        """POST one note; its latency counts from ``scheduled`` (open loop) or from now."""
        app_uid = self.cases[self.sent % len(self.cases)]
        self.sent += 1
        body = {"note_content": f"{TEXT} [bench:{token}]", "send_mail": 1}
        started = time.perf_counter()
        if scheduled is not None:
            self.lag_ms.append((started - scheduled) * 1000)
        self.posted[token] = started if scheduled is None else scheduled
        try:
            await self.api.call(self.admin, "POST", f"/cases/{app_uid}/note", body)
        except (RuntimeError, aiohttp.ClientError, TimeoutError):
            self.errors += 1
            return
        self.answered[token] = time.perf_counter()
        self.post_ms.append((self.answered[token] - started) * 1000)

    def done(self, tokens: list[str]) -> bool:
        count = self.arrivals.count
        return all(count.get(t, 0) >= self.participants for t in tokens)

    def latencies_ms(self, tokens: list[str]) -> list[float]:
        return sorted((self.arrivals.last[t] - self.posted[t]) * 1000 for t in tokens)


def _tokens(count: int) -> list[str]:
    return [secrets.token_hex(8) for _ in range(count)]


async def steady(notes: Notes, rate: float, seconds: float) -> dict:
    """Open loop: note i is due at start + i/rate, whatever the earlier ones are doing.

    A note's latency counts from when it was due, not from when its POST
    started, so a harness that falls behind its schedule cannot hide a
    slow platform (``lag``: how late the POSTs started).
    """
    tokens = _tokens(int(rate * seconds))
    notes.post_ms, notes.lag_ms = [], []
    start = time.perf_counter()
    tasks = []
    for i, token in enumerate(tokens):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(notes.post(token, scheduled=due)))
    offered = len(tokens) / (time.perf_counter() - start)
    await asyncio.gather(*tasks)
    await _wait(lambda: notes.done(tokens), 180, "the steady phase's e-mails")
    latencies = notes.latencies_ms(tokens)
    posts, lags = sorted(notes.post_ms), sorted(notes.lag_ms)
    return {
        "notes": len(tokens),
        "offered_per_s": round(offered, 1),
        "p50_ms": round(percentile(latencies, 50), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "max_ms": round(latencies[-1], 1),
        "post_p50_ms": round(percentile(posts, 50), 1),
        "post_p99_ms": round(percentile(posts, 99), 1),
        "lag_p99_ms": round(percentile(lags, 99), 1),
        "stages": await stages(notes, tokens),
    }


def _perf(stamp: str | None, offset: float) -> float | None:
    """A record's UTC ISO time on the harness's perf_counter clock."""
    if not stamp:
        return None
    return datetime.fromisoformat(stamp).timestamp() - offset


async def stages(notes: Notes, tokens: list[str]) -> dict:
    """Where a note's time went, from its delivery records (p50/p99 over the notes, ms from due).

    ``answered``: the POST's 200; ``recorded``: the notifications service
    built the note's last delivery record (created_at); ``sent``: the last
    outcome written after the server's 250 (sent_at); ``accepted``: the
    server had the last e-mail (the latency). Records are matched to notes
    by Message-ID (``<delivery id@domain>``), which the sink reports.
    """
    offset = time.time() - time.perf_counter()
    wanted = {m for t in tokens for m in notes.arrivals.message_ids.get(t, [])}
    records: dict[str, dict] = {}
    url = f"{notes.api.gateway}/casemesh/v1/notifications/deliveries"
    headers = {"Authorization": f"Bearer {notes.admin}"}
    for start in range(0, len(wanted) + 1000, 200):  # newest first: these are the latest
        params = {"start": str(start), "limit": "200"}
        async with notes.api.session.get(url, params=params, headers=headers) as response:
            if response.status != 200:
                return {"error": f"deliveries: HTTP {response.status}"}
            page = (await response.json())["data"]
        records.update({r["id"]: r for r in page if r["id"] in wanted})
        if not page or len(records) == len(wanted):
            break
    columns: dict[str, list[float]] = {"answered": [], "recorded": [], "sent": [], "accepted": []}
    for t in tokens:
        mine = [records.get(m) for m in notes.arrivals.message_ids.get(t, [])]
        if not mine or None in mine or t not in notes.answered:
            continue
        due = notes.posted[t]
        recorded = max(_perf(r["created_at"], offset) or 0.0 for r in mine)
        sent = max(_perf(r["sent_at"], offset) or 0.0 for r in mine)
        columns["answered"].append((notes.answered[t] - due) * 1000)
        columns["recorded"].append((recorded - due) * 1000)
        columns["sent"].append((sent - due) * 1000)
        columns["accepted"].append((notes.arrivals.last[t] - due) * 1000)
    out: dict = {"notes_matched": len(columns["accepted"])}
    for name, values in columns.items():
        values.sort()
        if values:
            out[name] = [round(percentile(values, 50), 1), round(percentile(values, 99), 1)]
    return out


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
        "CASEMESH_NOTIFICATIONS_CONCURRENCY": str(args.pool_size),
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
    print("\nwhere a steady note's time went (ms from when it was due, p50 / p99):")
    for r in rounds:
        st = r["steady"]["stages"]
        parts = [f"{k} {v[0]:.0f} / {v[1]:.0f}" for k, v in st.items() if isinstance(v, list)]
        print(
            f"  round {r['round']}: " + ", ".join(parts) + f" ({st.get('notes_matched')} notes; "
            f"POSTs started late by ≤ {r['steady']['lag_p99_ms']:.0f} ms at p99)"
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
