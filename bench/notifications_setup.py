"""Set-up of the ``notifications`` benchmark, through the gateway.

Users, a process whose tasks run in sequence (task n assigned to user n) and
cases routed through every task, so that each case has all the users as its
participants; and ``service_urls``, which tells every launched process where
the services are (the notes and documents benchmarks use it too).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import aiohttp

from bench import platform as platform_module
from bench.platform import SERVICES, free_port, sign_in

WORKSPACE = "workflow"
ADMIN_UID = "00000000000000000000000000000001"
PROCESS = "e0000000000000000000000000000000"


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
