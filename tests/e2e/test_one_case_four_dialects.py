"""One case through the gateway in every dialect: ProcessMaker, TheHive, Trackops, the timeline.

Embedded platform, real processes talking HTTP and events: a ProcessMaker note
with send_mail reaches the other participant as an e-mail (.eml outbox).
"""

from __future__ import annotations

import asyncio
import email
import time
import uuid
from email.message import EmailMessage
from email.policy import default

import aiohttp
import pytest

from tests.e2e.flows import login
from tests.fixtures.embedded import embedded_platform

PASSWORD = "four-dialects-admin"
ADMIN = "00000000000000000000000000000001"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def platform(tmp_path):
    async with embedded_platform(tmp_path, admin_password=PASSWORD, examples=False) as running:
        yield running


async def call(http, method, url, auth, **kw):
    async with http.request(method, url, headers={**auth, **kw.pop("headers", {})}, **kw) as r:
        body = await r.json() if r.content_type == "application/json" else await r.read()
        return r.status, body, r.headers


async def wait_for_note_mail(folder, timeout: float = 10) -> list[EmailMessage]:
    """The e-mails in the outbox that carry the note (assignment mails are there too)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = sorted(folder.glob("*.eml")) if folder.exists() else []
        mails = [email.message_from_bytes(f.read_bytes(), policy=default) for f in files]
        found = [m for m in mails if "Please review" in m.get_body(("plain",)).get_content()]
        if found:
            await asyncio.sleep(0.3)  # a second (wrong) recipient would show up by now
            mails = [
                email.message_from_bytes(f.read_bytes(), policy=default)
                for f in sorted(folder.glob("*.eml"))
            ]
            return [m for m in mails if "Please review" in m.get_body(("plain",)).get_content()]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no e-mail with the note in {folder}")


async def test_one_case_in_four_dialects(platform, tmp_path):
    gw = platform.gateway_url
    api = f"{gw}/api/1.0/workflow"
    async with aiohttp.ClientSession() as http:
        admin = await login(http, gw, password=PASSWORD)
        name = f"bob{uuid.uuid4().hex[:6]}"
        status, bob, _ = await call(
            http,
            "POST",
            f"{api}/users",
            admin,
            json={
                "usr_username": name,
                "usr_firstname": "Bob",
                "usr_lastname": "Reviewer",
                "usr_email": "bob@example.com",
                "usr_new_pass": "bobs-password-1",
                "usr_role": "PROCESSMAKER_OPERATOR",
            },
        )
        assert status in (200, 201), bob
        process = {
            "uid": "f" * 32,
            "title": "Four dialects",
            "start_tasks": ["intake"],
            "tasks": [
                {
                    "uid": "intake",
                    "title": "Intake",
                    "users": [ADMIN],
                    "routes": {"to": [{"task": "review"}]},
                },
                {
                    "uid": "review",
                    "title": "Review",
                    "users": [bob["usr_uid"]],
                    "routes": {"to": [{"task": "END"}]},
                },
            ],
            "permissions": [{"object": "ANY", "action": "VIEW", "users": [ADMIN, bob["usr_uid"]]}],
        }
        assert (await call(http, "POST", f"{api}/processes", admin, json=process))[0] == 201
        status, case, _ = await call(
            http, "POST", f"{api}/cases", admin, json={"pro_uid": "f" * 32, "tas_uid": "intake"}
        )
        app_uid = case["app_uid"]
        assert (await call(http, "PUT", f"{api}/cases/{app_uid}/route-case", admin, json={}))[
            0
        ] == 200

        # ProcessMaker case note, the PHP way, with send_mail: bob (a participant) is told.
        status, body, _ = await call(
            http,
            "POST",
            f"{api}/cases/{app_uid}/note",
            admin,
            headers=FORM,
            data="note_content=Please+review+%3Cscript%3Ex%3C%2Fscript%3E&send_mail=1",
        )
        assert status == 200, body
        note_mails = await wait_for_note_mail(platform.settings.data_dir / "outbox")
        assert [m["To"] for m in note_mails] == ["Bob Reviewer <bob@example.com>"]
        plain = note_mails[0].get_body(("plain",)).get_content()
        html = note_mails[0].get_body(("html",)).get_content()
        assert "Please review" in plain and "<script>x</script>" not in html
        assert "&lt;script&gt;" in html  # the note's markup arrives as text

        # TheHive task log on the current task, addressed by its delegation id.
        status, current, _ = await call(http, "GET", f"{api}/cases/{app_uid}/current-task", admin)
        task_id = current[0]["delegation_id"]
        bob_auth = await login(http, gw, username=name, password="bobs-password-1")
        status, log, _ = await call(
            http,
            "POST",
            f"{gw}/api/case/task/{task_id}/log",
            bob_auth,
            json={"message": "Checked the **invoice**"},
        )
        assert status == 201, log
        assert log["_type"] == "case_task_log" and isinstance(log["startDate"], int)
        status, logs, headers = await call(
            http,
            "POST",
            f"{gw}/api/case/task/log/_search",
            bob_auth,
            json={"query": {"_parent": {"_type": "case_task", "_id": task_id}}},
        )
        assert status == 200 and [entry["id"] for entry in logs] == [log["id"]]
        assert headers["X-Total"] == "1"

        # A hostile TheHive query is refused in TheHive's shape.
        status, err, _ = await call(
            http,
            "POST",
            f"{gw}/api/case/task/log/_search",
            bob_auth,
            json={"query": {"$where": "1"}},
        )
        assert status == 400 and err["type"] == "SearchError"

        # Trackops case update, visible to the access group (bob's group) and admins.
        status, group, _ = await call(
            http,
            "POST",
            f"{api}/groups",
            admin,
            json={"grp_title": f"Staff {uuid.uuid4().hex[:6]}"},
        )
        await call(
            http,
            "POST",
            f"{api}/group/{group['grp_uid']}/user",
            admin,
            json={"usr_uid": bob["usr_uid"]},
        )
        bob_auth = await login(http, gw, username=name, password="bobs-password-1")  # new groups
        status, groups, _ = await call(
            http, "GET", f"{gw}/api/v1/case/updates/access-groups", bob_auth
        )
        staff = next(g["id"] for g in groups["access_groups"] if g["grp_uid"] == group["grp_uid"])
        status, update, _ = await call(
            http,
            "POST",
            f"{gw}/api/v1/case/updates",
            bob_auth,
            json={
                "update": {
                    "access_group_id": staff,
                    "casefile_id": case["app_number"],
                    "title": "Site visit",
                    "body": "<p>Arrived <b>on time</b></p>",
                    "activity_at": "2026-11-20",
                }
            },
        )
        assert status == 201, update
        status, listed, _ = await call(
            http, "GET", f"{gw}/api/v1/case/updates?case={case['app_number']}", admin
        )
        assert [u["id"] for u in listed["updates"]] == [update["update"]["id"]]

        # The timeline shows what every dialect wrote plus the workflow transitions.
        for _ in range(50):
            status, timeline, _ = await call(
                http, "GET", f"{gw}/casemesh/v1/timeline/{app_uid}", admin
            )
            kinds = {entry["kind"] for entry in timeline["entries"]}
            if {"note", "log", "update", "transition"} <= kinds:
                break
            await asyncio.sleep(0.1)
        assert {"note", "log", "update", "transition"} <= kinds, kinds
