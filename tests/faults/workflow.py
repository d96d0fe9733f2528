"""A three-person ProcessMaker flow driven through the gateway, and the e-mails it must cause.

Process "Faults": Intake (admin) -> Review (bob) -> Approve (carol) -> END,
with an input document "Evidence". ``Driver.run_case``: admin starts a case
and routes it, writes a note with ``send_mail=1``; bob routes it and writes a
note; carol routes it to the end. Every step is a real HTTP call through the
gateway with the user's own token, and must answer 200. Each step adds the
e-mails it must cause to ``Expected``, keyed by (recipient, kind, case, note
marker); the SMTP server's messages are counted with the same key, so a lost
or a duplicated e-mail shows as a count other than 1.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.e2e.flows import Headers, login
from tests.fixtures.smtp import ReceivedMail, SmtpServer

PROCESS = "fa000000000000000000000000000000"
INTAKE, REVIEW, APPROVE = "fa-intake", "fa-review", "fa-approve"
INPUT_DOC = "fa100000000000000000000000000001"  # "Evidence", uploaded at Intake
ADMIN_UID = "00000000000000000000000000000001"
ADMIN_EMAIL = "admin@localhost"  # the bootstrap administrator's address
PASSWORD = "a-long-enough-password-1"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
MARK = "fault-mark-"  # notes carry "<MARK><hex>" so their e-mails can be told apart

# Every case's transitions in order, as the notes service projects them into its timeline.
TRANSITIONS = [
    "case.created",
    "case.task.assigned",
    "case.routed",
    "case.task.assigned",
    "case.routed",
    "case.task.assigned",
    "case.routed",
    "case.completed",
]

MailKey = tuple[str, str, str, str]  # (recipient, kind, app_uid, note marker or "")


@dataclass
class User:
    username: str
    uid: str
    email: str
    auth: Headers


@dataclass
class Actors:
    admin: User
    bob: User
    carol: User


@dataclass
class Expected:
    mails: Counter[MailKey] = field(default_factory=Counter)
    cases: list[str] = field(default_factory=list)

    def add(self, people: list[User], kind: str, app_uid: str, marker: str = "") -> None:
        for person in people:
            self.mails[(person.email, kind, app_uid, marker)] += 1


async def call(
    http: aiohttp.ClientSession, method: str, url: str, auth: Headers, **kw: Any
) -> tuple[int, Any]:
    headers = {**auth, **kw.pop("headers", {})}
    async with http.request(method, url, headers=headers, **kw) as r:
        raw = await r.read()
        body: Any = raw
        if raw and r.content_type == "application/json":
            body = await r.json()
        return r.status, body


async def setup(http: aiohttp.ClientSession, gateway: str) -> Actors:
    """Users bob and carol and the process "Faults" (a fresh platform: run once)."""
    api = f"{gateway}/api/1.0/workflow"
    admin_auth = await login(http, gateway)
    users = {}
    for name in ("bob", "carol"):
        status, body = await call(
            http,
            "POST",
            f"{api}/users",
            admin_auth,
            json={
                "usr_username": name,
                "usr_firstname": name.title(),
                "usr_lastname": "Faults",
                "usr_email": f"{name}@example.com",
                "usr_new_pass": PASSWORD,
                "usr_role": "PROCESSMAKER_OPERATOR",
            },
        )
        assert status in (200, 201), body
        auth = await login(http, gateway, username=name, password=PASSWORD)
        users[name] = User(name, body["usr_uid"], f"{name}@example.com", auth)
    bob, carol = users["bob"], users["carol"]
    process = {
        "uid": PROCESS,
        "title": "Faults",
        "start_tasks": [INTAKE],
        "tasks": [
            _task(INTAKE, "Intake", ADMIN_UID, REVIEW),
            _task(REVIEW, "Review", bob.uid, APPROVE),
            _task(APPROVE, "Approve", carol.uid, "END"),
        ],
        "input_documents": [{"uid": INPUT_DOC, "title": "Evidence"}],
        "permissions": [
            {"object": "ANY", "action": "VIEW", "users": [ADMIN_UID, bob.uid, carol.uid]}
        ],
    }
    status, body = await call(http, "POST", f"{api}/processes", admin_auth, json=process)
    assert status == 201, body
    return Actors(User("admin", ADMIN_UID, ADMIN_EMAIL, admin_auth), bob, carol)


def _task(uid: str, title: str, user: str, then: str) -> dict[str, Any]:
    return {"uid": uid, "title": title, "users": [user], "routes": {"to": [{"task": then}]}}


@dataclass
class Driver:
    """Steps of a case through the gateway, each adding the e-mails it must cause."""

    http: aiohttp.ClientSession
    gateway: str
    actors: Actors
    expected: Expected = field(default_factory=Expected)
    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def api(self) -> str:
        return f"{self.gateway}/api/1.0/workflow"

    async def _ok(self, method: str, url: str, who: User, **kw: Any) -> Any:
        """One call whose caller must get a 200 (every answer is counted by status)."""
        status, body = await call(self.http, method, url, who.auth, **kw)
        self.statuses[status] += 1
        assert status == 200, (method, url, status, body)
        return body

    async def start(self) -> str:
        """Admin starts a case at Intake (its assignment e-mail goes to admin)."""
        admin = self.actors.admin
        body = {"pro_uid": PROCESS, "tas_uid": INTAKE}
        case = await self._ok("POST", f"{self.api}/cases", admin, json=body)
        app_uid = case["app_uid"]
        self.expected.cases.append(app_uid)
        self.expected.add([admin], "task_assigned", app_uid)
        return app_uid

    async def route(self, app_uid: str, who: User) -> None:
        """``who`` routes the case on: the next assignee, or everyone else at the end."""
        url = f"{self.api}/cases/{app_uid}/route-case"
        await self._ok("PUT", url, who, json={})
        a = self.actors
        if who is a.admin:
            self.expected.add([a.bob], "task_assigned", app_uid)
        elif who is a.bob:
            self.expected.add([a.carol], "task_assigned", app_uid)
        else:
            self.expected.add([a.admin, a.bob], "case_completed", app_uid)

    async def note(self, app_uid: str, who: User, to: list[User]) -> None:
        """A ProcessMaker note with send_mail=1, e-mailed to ``to`` (the other participants)."""
        marker = f"{MARK}{uuid.uuid4().hex[:12]}"
        form = f"note_content=Please+check+{marker}&send_mail=1"
        url = f"{self.api}/cases/{app_uid}/note"
        await self._ok("POST", url, who, data=form, headers=FORM)
        self.expected.add(to, "note_created", app_uid, marker)

    async def run_case(self) -> str:
        """One case from start to end (6 calls, 8 e-mails); returns its app_uid."""
        a = self.actors
        app_uid = await self.start()
        await self.route(app_uid, a.admin)
        await self.note(app_uid, a.admin, [a.bob])
        await self.route(app_uid, a.bob)
        await self.note(app_uid, a.bob, [a.admin, a.carol])
        await self.route(app_uid, a.carol)
        return app_uid

    async def wait_for_mails(self, smtp: SmtpServer, timeout: float = 60) -> float:
        """Wait until every expected e-mail arrived (seconds it took), then 2 s for extras."""
        started = time.monotonic()
        while True:
            got = count_mails(smtp.messages, self.expected.cases)
            if all(got[key] >= 1 for key in self.expected.mails):
                break
            missing = sum(1 for key in self.expected.mails if got[key] == 0)
            assert time.monotonic() - started < timeout, f"{missing} e-mails missing"
            await asyncio.sleep(0.1)
        took = time.monotonic() - started
        await asyncio.sleep(2.0)  # a second copy of anything would show up now
        return took

    def mail_tally(self, smtp: SmtpServer) -> tuple[int, int, int]:
        """(delivered once, lost, duplicated) of the expected e-mails, at the SMTP server."""
        return compare(count_mails(smtp.messages, self.expected.cases), self.expected.mails)


def mail_key(mail: ReceivedMail) -> MailKey:
    message = mail.message
    plain = message.get_body(("plain",))
    text = plain.get_content() if plain is not None else ""
    marker = ""
    if MARK in text:
        start = text.index(MARK)
        marker = text[start : start + len(MARK) + 12]
    [rcpt] = mail.rcpt_tos
    return (rcpt, message["X-Casemesh-Kind"], message["X-Casemesh-Case"], marker)


def count_mails(mails: list[ReceivedMail], cases: list[str]) -> Counter[MailKey]:
    """The received e-mails about ``cases``, counted by key."""
    wanted = set(cases)
    return Counter(key for key in map(mail_key, mails) if key[2] in wanted)


def compare(got: Counter[MailKey], expected: Counter[MailKey]) -> tuple[int, int, int]:
    """(delivered once, lost, duplicated copies) of the expected e-mails; extras count too."""
    once = sum(1 for key in expected if got[key] == 1)
    lost = sum(1 for key in expected if got[key] == 0)
    duplicated = sum(n - 1 for key, n in got.items() if n > 1) + sum(
        n for key, n in got.items() if key not in expected
    )
    return once, lost, duplicated
