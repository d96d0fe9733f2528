"""Process definitions through the cases service on a real port, with signed identities."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web

from casemesh.bus.memory import InProcessBus
from casemesh.identity import ALL_PERMISSIONS, PM_CASES, Identity, identity_headers
from casemesh.settings import Settings
from casemesh.store.sqlite import SqliteStore
from casemesh.web.keys import RUNTIME
from services.cases.app import create_app
from services.cases.definitions.parsing import Format, parse_definition
from services.cases.definitions.service import ProcessDefinitions, Saved
from tests.fixtures.web import serving

SECRET = "test-internal-secret"
ADMIN_UID = "00000000000000000000000000000001"
EXAMPLES = Path(__file__).parents[2] / "services" / "cases" / "definitions" / "examples"
SEQUENTIAL = "a1000000000000000000000000000000"
PARALLEL = "b2000000000000000000000000000000"


def designer(workspace: str = "workflow") -> Identity:
    return Identity(
        workspace=workspace,
        user_uid=ADMIN_UID,
        username="admin",
        permissions=frozenset(ALL_PERMISSIONS),
    )


def case_worker(workspace: str = "workflow") -> Identity:
    return Identity(
        workspace=workspace,
        user_uid="11111111111111111111111111111111",
        username="jane",
        permissions=frozenset({PM_CASES}),
    )


def signed(identity: Identity, **extra: str) -> dict[str, str]:
    return {**identity_headers(identity, SECRET), **extra}


def minimal(uid: str = "p1", **changes) -> dict:
    return {
        "uid": uid,
        "title": "Minimal",
        "start_tasks": ["t1"],
        "tasks": [{"uid": "t1", "title": "Only task", "routes": {"to": [{"task": "END"}]}}],
        **changes,
    }


@asynccontextmanager
async def cases_service(tmp_path: Path, **overrides) -> AsyncIterator[tuple[str, web.Application]]:
    settings = Settings(mode="embedded", data_dir=tmp_path, internal_secret=SECRET, **overrides)
    app = create_app(settings, bus=InProcessBus())
    async with serving(app) as url:
        deadline = time.monotonic() + 10
        while not app[RUNTIME].ready:
            assert time.monotonic() < deadline, app[RUNTIME].not_ready_reason
            await asyncio.sleep(0.02)
        yield url, app


async def error_of(response) -> str:
    body = await response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == response.status
    return body["error"]["message"]


# -- CRUD ------------------------------------------------------------------------------


async def test_create_list_get_update_delete(tmp_path, http):
    async with cases_service(tmp_path) as (url, _):
        base = f"{url}/api/1.0/workflow/processes"
        async with http.post(base, json=minimal(), headers=signed(designer())) as r:
            assert r.status == 201, await r.text()
            assert r.headers["ETag"] == '"1"'
            created = await r.json()
        assert created["definition"] == parse_definition(
            json.dumps(minimal()).encode(), Format.JSON
        ).model_dump(mode="json")
        assert {k: created[k] for k in ("pro_uid", "workspace", "title", "revision")} == {
            "pro_uid": "p1",
            "workspace": "workflow",
            "title": "Minimal",
            "revision": 1,
        }
        assert created["created_by"] == created["updated_by"] == ADMIN_UID
        assert created["created_at"] == created["updated_at"]

        async with http.get(base, headers=signed(case_worker())) as r:
            listed = await r.json()
        assert listed == [{k: v for k, v in created.items() if k != "definition"}]
        async with http.get(f"{base}/p1", headers=signed(case_worker())) as r:
            assert r.status == 200
            assert await r.json() == created

        changed = minimal(title="Minimal, renamed")
        headers = signed(designer(), **{"If-Match": '"1"'})
        async with http.put(f"{base}/p1", json=changed, headers=headers) as r:
            assert r.status == 200, await r.text()
            assert r.headers["ETag"] == '"2"'
            updated = await r.json()
        assert updated["revision"] == 2
        assert updated["title"] == updated["definition"]["title"] == "Minimal, renamed"
        assert updated["created_at"] == created["created_at"]

        async with http.put(f"{base}/p1", json=changed, headers=headers) as r:
            assert r.status == 409  # still If-Match "1"
            assert "at revision 2, not 1" in await error_of(r)
        async with http.put(f"{base}/p1", json=changed, headers=signed(designer())) as r:
            assert (await r.json())["revision"] == 3  # no If-Match: unconditional
        async with http.put(f"{base}/p1", json=minimal("p2"), headers=signed(designer())) as r:
            assert r.status == 400
            assert "is not the process 'p1'" in await error_of(r)
        async with http.post(base, json=minimal(), headers=signed(designer())) as r:
            assert r.status == 400
            assert await error_of(r) == (
                "Bad Request: the process 'p1' already exists in workspace 'workflow'"
            )

        async with http.delete(f"{base}/p1", headers=signed(designer(), **{"If-Match": "2"})) as r:
            assert r.status == 409
        async with http.delete(f"{base}/p1", headers=signed(designer())) as r:
            assert r.status == 200
            assert await r.read() == b""
        for method in (http.get, http.put, http.delete):
            async with method(f"{base}/p1", json=minimal(), headers=signed(designer())) as r:
                assert r.status == 400  # ProcessMaker answers "not found" with 400
                assert await error_of(r) == (
                    "Bad Request: the process 'p1' does not exist in workspace 'workflow'"
                )
        async with http.get(base, headers=signed(designer())) as r:
            assert await r.json() == []


async def test_yaml_and_json_bodies_store_the_same_definition(tmp_path, http):
    text = (EXAMPLES / "sequential-approval.yaml").read_bytes()
    as_json = parse_definition(text, Format.YAML).model_dump(mode="json")
    async with cases_service(tmp_path) as (url, _):
        base = f"{url}/api/1.0/workflow/processes"
        yaml_headers = signed(designer(), **{"Content-Type": "application/yaml"})
        async with http.post(base, data=text, headers=yaml_headers) as r:
            assert r.status == 201, await r.text()
            assert (await r.json())["definition"] == as_json
        text_yaml = signed(designer(), **{"Content-Type": "text/yaml; charset=utf-8"})
        async with http.put(f"{base}/{SEQUENTIAL}", data=text, headers=text_yaml) as r:
            assert r.status == 200
            assert (await r.json())["definition"] == as_json
        async with http.put(f"{base}/{SEQUENTIAL}", json=as_json, headers=signed(designer())) as r:
            assert r.status == 200
            body = await r.json()
        assert body["definition"] == as_json
        assert body["revision"] == 3


# -- validation ------------------------------------------------------------------------


def _unknown_route_target() -> dict:
    body = minimal()
    body["tasks"][0]["routes"]["to"] = [{"task": "nowhere"}]
    return body


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (_unknown_route_target(), None, "task 't1' routes to unknown task 'nowhere'"),
        (minimal(uid="bad uid!"), None, "uid: String should match pattern"),
        (minimal(start_tasks=[]), None, "start_tasks: Tuple should have at least 1 item"),
        (minimal(start_tasks=["t9"]), None, "start task 't9' is not a task of this process"),
        ({k: v for k, v in minimal().items() if k != "start_tasks"}, None, "start_tasks: Field"),
        (minimal(colour="blue"), None, "colour: Extra inputs are not permitted"),
        (b"uid: p1\ntasks: [unclosed", "application/yaml", "the definition is not valid YAML"),
        (
            b"!!python/object/apply:os.system ['echo pwned']",
            "application/yaml",
            "the definition is not valid YAML: could not determine a constructor",
        ),
        (
            b"uid: !!python/object:builtins.object {}\n",
            "text/yaml",
            "could not determine a constructor for the tag 'tag:yaml.org,2002:python/object",
        ),
        (b"- just\n- a list\n", "application/yaml", "a process definition is an object"),
        (b'{"uid": "p1",', "application/json", "the definition is not valid JSON"),
        (b"\xff\xfe", "application/json", "the definition is not valid UTF-8"),
    ],
)
async def test_invalid_definitions_are_refused_with_400(
    tmp_path, http, body, content_type, message
):
    async with cases_service(tmp_path) as (url, _):
        headers = signed(designer())
        if content_type:
            headers["Content-Type"] = content_type
        payload = {"data": body} if isinstance(body, bytes) else {"json": body}
        async with http.post(f"{url}/api/1.0/workflow/processes", headers=headers, **payload) as r:
            assert r.status == 400, await r.text()
            text = await error_of(r)
            assert text.startswith("Bad Request: ")
            assert message in text
        async with http.get(f"{url}/api/1.0/workflow/processes", headers=headers) as r:
            assert await r.json() == []


async def test_unsupported_body_types_and_oversized_bodies(tmp_path, http):
    async with cases_service(tmp_path) as (url, _):
        base = f"{url}/api/1.0/workflow/processes"
        xml = signed(designer(), **{"Content-Type": "application/xml"})
        async with http.post(base, data=b"<process/>", headers=xml) as r:
            assert r.status == 415
        yaml_headers = signed(designer(), **{"Content-Type": "application/yaml"})
        huge = b"description: '" + b"x" * (2 * 1024 * 1024) + b"'\n"
        async with http.post(base, data=huge, headers=yaml_headers) as r:
            assert r.status == 413


async def test_a_definition_with_a_bad_condition_is_refused_naming_the_task(tmp_path, http):
    body = minimal()
    body["tasks"][0]["routes"] = {
        "type": "EVALUATE",
        "to": [{"task": "END", "condition": "@@amount > > ("}],
    }
    async with cases_service(tmp_path) as (url, _):
        async with http.post(
            f"{url}/api/1.0/workflow/processes", json=body, headers=signed(designer())
        ) as r:
            assert r.status == 400
            message = await error_of(r)
    assert message.startswith("Bad Request: task 't1', route to 'END': ")
    assert "position 12" in message


async def test_a_definition_with_a_bad_trigger_script_is_refused_naming_the_trigger(tmp_path, http):
    body = minimal(triggers=[{"uid": "tr1", "title": "Broken", "script": "@@x = ;"}])
    body["tasks"][0]["triggers"] = {"before": ["tr1"]}
    async with cases_service(tmp_path) as (url, _):
        async with http.post(
            f"{url}/api/1.0/workflow/processes", json=body, headers=signed(designer())
        ) as r:
            assert r.status == 400
            message = await error_of(r)
    assert message.startswith("Bad Request: trigger 'tr1': ")
    assert "line 1, column 7" in message


# -- who may do what -----------------------------------------------------------------


async def test_writing_needs_pm_factory_and_reading_any_user_of_the_workspace(tmp_path, http):
    async with cases_service(tmp_path) as (url, _):
        base = f"{url}/api/1.0/workflow/processes"
        worker = signed(case_worker())
        async with http.post(base, json=minimal(), headers=worker) as r:
            assert r.status == 403
            assert await error_of(r) == (
                "Forbidden: designing processes needs the PM_FACTORY permission"
            )
        async with http.post(base, json=minimal(), headers=signed(designer())) as r:
            assert r.status == 201
        async with http.put(f"{base}/p1", json=minimal(), headers=worker) as r:
            assert r.status == 403
        async with http.delete(f"{base}/p1", headers=worker) as r:
            assert r.status == 403
        async with http.get(f"{base}/p1", headers=worker) as r:
            assert r.status == 200
        async with http.get(base) as r:
            assert r.status == 401  # no identity
        forged = signed(designer())
        forged["X-Casemesh-Signature"] = "0" * 64
        async with http.post(base, json=minimal("p2"), headers=forged) as r:
            assert r.status == 401


async def test_workspaces_are_isolated(tmp_path, http):
    async with cases_service(tmp_path) as (url, _):
        a, b = f"{url}/api/1.0/alpha/processes", f"{url}/api/1.0/beta/processes"
        async with http.post(a, json=minimal(), headers=signed(designer("alpha"))) as r:
            assert r.status == 201
        async with http.get(f"{b}/p1", headers=signed(designer("beta"))) as r:
            assert r.status == 400
            assert "does not exist in workspace 'beta'" in await error_of(r)
        async with http.get(b, headers=signed(designer("beta"))) as r:
            assert await r.json() == []
        async with http.get(f"{a}/p1", headers=signed(designer("beta"))) as r:
            assert r.status == 401  # a beta identity is no user of alpha
        async with http.delete(f"{a}/p1", headers=signed(designer("beta"))) as r:
            assert r.status == 401
        async with http.post(b, json=minimal(), headers=signed(designer("beta"))) as r:
            assert r.status == 201  # the same uid in another workspace is another process
        async with http.get(f"{a}/p1", headers=signed(designer("alpha"))) as r:
            assert (await r.json())["workspace"] == "alpha"


async def test_delete_is_refused_while_cases_use_the_process(tmp_path, http):
    async with cases_service(tmp_path) as (url, app):
        store = app[RUNTIME].store
        base = f"{url}/api/1.0/workflow/processes"
        async with http.post(base, json=minimal(), headers=signed(designer())) as r:
            assert r.status == 201
        await store.insert("cases", {"id": "other", "workspace": "elsewhere", "pro_uid": "p1"})
        await store.insert("cases", {"id": "c1", "workspace": "workflow", "pro_uid": "p1"})
        async with http.delete(f"{base}/p1", headers=signed(designer())) as r:
            assert r.status == 400
            assert await error_of(r) == (
                "Bad Request: the process 'p1' cannot be deleted: 1 case(s) use it"
            )
        await store.delete("cases", "c1")
        async with http.delete(f"{base}/p1", headers=signed(designer())) as r:
            assert r.status == 200


# -- the loader ------------------------------------------------------------------------


async def test_the_loader_loads_the_examples_and_updates_only_what_changed(tmp_path, http):
    folder = tmp_path / "definitions"
    shutil.copytree(EXAMPLES, folder)
    data = tmp_path / "data"
    async with cases_service(data, definitions_dir=folder) as (url, _):
        async with http.get(
            f"{url}/api/1.0/workflow/processes", headers=signed(case_worker())
        ) as r:
            listed = {p["pro_uid"]: p for p in await r.json()}
    assert set(listed) == {SEQUENTIAL, PARALLEL}
    assert listed[SEQUENTIAL]["title"] == "Purchase approval"
    assert listed[PARALLEL]["title"] == "Contract review"
    assert {p["created_by"] for p in listed.values()} == {"system"}
    assert {p["revision"] for p in listed.values()} == {1}

    parallel = folder / "parallel-review.yaml"
    parallel.write_text(parallel.read_text().replace("title: Contract review", "title: Contracts"))
    async with cases_service(data, definitions_dir=folder) as (url, _):
        async with http.get(
            f"{url}/api/1.0/workflow/processes", headers=signed(case_worker())
        ) as r:
            again = {p["pro_uid"]: p for p in await r.json()}
    assert again[PARALLEL]["revision"] == 2
    assert again[PARALLEL]["title"] == "Contracts"
    assert again[SEQUENTIAL] == listed[SEQUENTIAL]  # unchanged: not rewritten


async def test_the_loader_skips_bad_files_and_says_why(tmp_path, http, caplog):
    folder = tmp_path / "definitions"
    (folder / "nested").mkdir(parents=True)
    shutil.copy(EXAMPLES / "sequential-approval.yaml", folder / "nested" / "approval.yml")
    shutil.copy(EXAMPLES / "sequential-approval.yaml", folder / "z-duplicate.yaml")
    (folder / "broken.yaml").write_text("uid: x\ntasks: [")
    (folder / "evil.yaml").write_text("!!python/object/apply:os.system ['true']\n")
    (folder / "invalid.json").write_text(json.dumps(minimal(start_tasks=["nope"])))
    (folder / "notes.txt").write_text("not a definition, not read")
    caplog.set_level(logging.INFO, logger="casemesh.cases.definitions")
    async with cases_service(tmp_path / "data", definitions_dir=folder) as (url, _):
        async with http.get(f"{url}/api/1.0/workflow/processes", headers=signed(designer())) as r:
            assert [p["pro_uid"] for p in await r.json()] == [SEQUENTIAL]
    errors = {r.getMessage() for r in caplog.records if r.levelno == logging.ERROR}
    assert any(
        f"{folder / 'broken.yaml'} skipped: the definition is not valid YAML" in e for e in errors
    )
    assert any(f"{folder / 'evil.yaml'} skipped" in e for e in errors)
    assert any(
        f"{folder / 'invalid.json'} skipped" in e and "start task 'nope'" in e for e in errors
    )
    assert any(
        f"{folder / 'z-duplicate.yaml'} skipped: process '{SEQUENTIAL}' is already defined by" in e
        for e in errors
    )
    assert not any("notes.txt" in e for e in errors)
    summary = [r.getMessage() for r in caplog.records if "created" in r.getMessage()]
    assert any("1 created, 0 updated, 0 unchanged, 4 skipped" in s for s in summary)


async def test_a_missing_definitions_folder_is_logged_and_the_service_starts(
    tmp_path, http, caplog
):
    caplog.set_level(logging.INFO, logger="casemesh.cases.definitions")
    async with cases_service(tmp_path, definitions_dir=tmp_path / "missing") as (url, _):
        async with http.get(f"{url}/api/1.0/workflow/processes", headers=signed(designer())) as r:
            assert await r.json() == []
    assert any("cannot be read" in r.getMessage() for r in caplog.records)


def test_the_documented_examples_are_the_shipped_ones():
    doc = (EXAMPLES.parents[3] / "docs" / "process-definitions.md").read_text()
    blocks = [b.split("```", 1)[0] for b in doc.split("```yaml\n")[1:]]
    documented = {
        d.uid: d.model_dump() for d in (parse_definition(b.encode(), Format.YAML) for b in blocks)
    }
    shipped = {
        d.uid: d.model_dump()
        for d in (parse_definition(p.read_bytes(), Format.YAML) for p in EXAMPLES.glob("*.yaml"))
    }
    assert documented == shipped
    assert set(shipped) == {SEQUENTIAL, PARALLEL}


async def test_loaders_racing_on_one_store_create_once(tmp_path):
    store = SqliteStore(tmp_path / "race.sqlite3")
    try:
        service = ProcessDefinitions.over(store)
        definition = parse_definition(json.dumps(minimal()).encode(), Format.JSON)
        results = await asyncio.gather(
            *(service.save("workflow", definition, user_uid="system") for _ in range(4))
        )
        assert sorted(results) == sorted([Saved.CREATED] + [Saved.UNCHANGED] * 3)
        assert (await service.get("workflow", "p1"))["revision"] == 1
    finally:
        await store.close()
