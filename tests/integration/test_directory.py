"""The cases service's workspace directory: users, groups, roles, API keys, sign-in.

Most tests call the service directly, as the gateway would, with signed
identity headers; sign-in goes through the token endpoint and the internal
authenticate endpoint. The last tests run the directory's functions on every
document-store adapter.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from casemesh.identity import ALL_PERMISSIONS, PM_CASES, PM_USERS, Identity, identity_headers
from casemesh.settings import Settings
from casemesh.store.port import DocumentStore
from services.cases.app import create_app
from services.cases.directory import groups, repository, token_repository, users
from services.cases.directory.authentication import authenticate
from services.cases.directory.bootstrap import PASSWORD_FILE, bootstrap, ensure_workspace
from services.cases.directory.catalogue import ADMIN_USER_UID
from services.cases.directory.context import DIRECTORY, Directory
from services.cases.directory.passwords import Passwords
from services.cases.directory.schemas import (
    AuthenticateRequest,
    GroupCreate,
    MemberAdd,
    PageQuery,
    UserCreate,
    UserQuery,
)
from tests.fixtures.web import serving

SECRET = "directory-test-secret"
ADMIN_PASSWORD = "admin-password-for-tests"
CLIENT = {"client_id": "casemesh", "client_secret": "casemesh-secret"}
WS = "workflow"
ADMIN = Identity(
    workspace=WS,
    user_uid=ADMIN_USER_UID,
    username="admin",
    role="PROCESSMAKER_ADMIN",
    permissions=frozenset(ALL_PERMISSIONS),
)
AS_ADMIN = identity_headers(ADMIN, SECRET)
OPERATOR_ROLE_UID = "00000000000000000000000000000003"
ADMIN_ROLE_UID = "00000000000000000000000000000002"


@dataclass
class Service:
    url: str
    directory: Directory

    @property
    def api(self) -> str:
        return f"{self.url}/api/1.0/{WS}"


def settings_for(tmp_path, **overrides) -> Settings:
    values = {
        "mode": "embedded",
        "data_dir": tmp_path,
        "internal_secret": SECRET,
        "admin_password": ADMIN_PASSWORD,
    }
    return Settings(**(values | overrides))


async def wait_ready(http, url: str) -> None:
    for _ in range(200):
        async with http.get(f"{url}/readyz") as r:
            if r.status == 200:
                return
        await asyncio.sleep(0.05)
    raise AssertionError("the cases service did not become ready")


@pytest.fixture
async def cases(tmp_path, http) -> AsyncIterator[Service]:
    app = create_app(settings_for(tmp_path))
    async with serving(app) as url:
        await wait_ready(http, url)
        yield Service(url, app[DIRECTORY])


def as_user(user: dict, *permissions: str, workspace: str = WS) -> dict[str, str]:
    identity = Identity(
        workspace=workspace,
        user_uid=user["usr_uid"],
        username=user["usr_username"],
        permissions=frozenset(permissions),
    )
    return identity_headers(identity, SECRET)


def new_user(username: str, **extra) -> dict:
    return {
        "usr_username": username,
        "usr_firstname": username.title(),
        "usr_lastname": "Tester",
        "usr_email": f"{username}@example.com",
        "usr_new_pass": f"{username}-password",
        **extra,
    }


async def create_user(http, service: Service, username: str, **extra) -> dict:
    async with http.post(
        f"{service.api}/user", json=new_user(username, **extra), headers=AS_ADMIN
    ) as r:
        assert r.status == 201, await r.text()
        return await r.json()


async def get_token(http, url: str, username: str, password: str, **extra) -> dict:
    form = {"grant_type": "password", **CLIENT, "username": username, "password": password}
    async with http.post(f"{url}/{WS}/oauth2/token", data=form | extra) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def ask(http, url: str, question: dict, secret: str = SECRET) -> tuple[int, dict]:
    headers = {"X-Casemesh-Internal": secret}
    async with http.post(f"{url}/internal/v1/authenticate", json=question, headers=headers) as r:
        return r.status, await r.json()


def pm_message(body: dict) -> str:
    return body["error"]["message"]


# -- bootstrap ------------------------------------------------------------------------


async def test_the_default_workspace_has_its_roles_and_administrator(cases, http):
    async with http.get(f"{cases.api}/roles", headers=AS_ADMIN) as r:
        assert r.status == 200
        listed = {role["rol_code"]: role for role in await r.json()}
    assert listed["PROCESSMAKER_ADMIN"]["rol_uid"] == ADMIN_ROLE_UID
    assert listed["PROCESSMAKER_ADMIN"]["rol_total_users"] == 1
    assert listed["PROCESSMAKER_OPERATOR"]["rol_uid"] == OPERATOR_ROLE_UID
    async with http.get(f"{cases.api}/role/{ADMIN_ROLE_UID}/permissions", headers=AS_ADMIN) as r:
        assert {p["per_code"] for p in await r.json()} == set(ALL_PERMISSIONS)
    async with http.get(f"{cases.api}/user/{ADMIN_USER_UID}", headers=AS_ADMIN) as r:
        admin = await r.json()
    assert admin["usr_username"] == "admin" and admin["usr_role"] == "PROCESSMAKER_ADMIN"
    assert "password_hash" not in admin
    token = await get_token(http, cases.url, "admin", ADMIN_PASSWORD)
    assert token["token_type"] == "bearer" and token["expires_in"] == 86400


async def test_bootstrap_prints_a_generated_password_once_and_is_idempotent(tmp_path, http, capsys):
    settings = settings_for(tmp_path, admin_password="")
    app = create_app(settings)
    async with serving(app) as url:
        await wait_ready(http, url)
        printed = capsys.readouterr().out
        password_file = tmp_path / PASSWORD_FILE
        password = password_file.read_text().strip()
        assert password and password in printed
        assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
        await get_token(http, url, "admin", password)
    for _ in range(2):  # restarts: nothing new, nothing printed, the same admin
        again = create_app(settings)
        async with serving(again) as url:
            await wait_ready(http, url)
            assert password not in capsys.readouterr().out
            await get_token(http, url, "admin", password)
            store = again[DIRECTORY].store
            assert len(await repository.list_users(store, WS, statuses=())) == 1
            assert len(await repository.list_roles(store, WS)) == 2


async def test_production_without_an_admin_password_creates_no_admin(tmp_path, http, caplog):
    settings = settings_for(
        tmp_path, mode="production", store_backend="sqlite", bus_backend="memory", admin_password=""
    )
    caplog.set_level(logging.ERROR, "casemesh.cases.directory")
    app = create_app(settings)
    async with serving(app) as url:
        await wait_ready(http, url)
        store = app[DIRECTORY].store
        assert await repository.list_users(store, WS, statuses=()) == []
        assert len(await repository.list_roles(store, WS)) == 2  # the workspace exists
    assert "set CASEMESH_ADMIN_PASSWORD" in caplog.text
    assert not (tmp_path / PASSWORD_FILE).exists()


# -- users ------------------------------------------------------------------------------


async def test_users_are_created_read_listed_changed_and_deleted(cases, http):
    alice = await create_user(http, cases, "alice", usr_role="processmaker_operator")
    assert len(alice["usr_uid"]) == 32 and alice["usr_status"] == "ACTIVE"
    assert alice["usr_role"] == "PROCESSMAKER_OPERATOR" and "usr_new_pass" not in alice
    bob = await create_user(http, cases, "bob", usr_reports_to=alice["usr_uid"])
    assert bob["usr_reports_to"] == alice["usr_uid"]

    for spelling in ("user", "users"):  # ProcessMaker's singular, and the plural
        async with http.get(f"{cases.api}/{spelling}/{bob['usr_uid']}", headers=AS_ADMIN) as r:
            assert (await r.json())["usr_username"] == "bob"

    # A PHP client's http_build_query() body.
    form = "usr_status=INACTIVE&USR_POSITION=Clerk"
    headers = {**AS_ADMIN, "Content-Type": "application/x-www-form-urlencoded"}
    async with http.put(f"{cases.api}/user/{bob['usr_uid']}", data=form, headers=headers) as r:
        assert r.status == 200 and await r.read() == b""

    async with http.get(f"{cases.api}/users", headers=AS_ADMIN) as r:
        assert [u["usr_username"] for u in await r.json()] == ["admin", "alice"]
    async with http.get(f"{cases.api}/users?status=all&filter=BO", headers=AS_ADMIN) as r:
        found = await r.json()
    assert [u["usr_username"] for u in found] == ["bob"]
    assert found[0]["usr_status"] == "INACTIVE" and found[0]["usr_position"] == "Clerk"
    async with http.get(f"{cases.api}/users?status=all&start=1&limit=1", headers=AS_ADMIN) as r:
        assert [u["usr_username"] for u in await r.json()] == ["alice"]

    async with http.delete(f"{cases.api}/user/{bob['usr_uid']}", headers=AS_ADMIN) as r:
        assert r.status == 200
    async with http.get(f"{cases.api}/user/{bob['usr_uid']}", headers=AS_ADMIN) as r:
        assert r.status == 400
        assert pm_message(await r.json()) == (
            f"Bad Request: The user with usr_uid: {bob['usr_uid']} does not exist."
        )


async def test_user_input_is_checked(cases, http):
    await create_user(http, cases, "carol")
    async with http.post(f"{cases.api}/users", json=new_user("carol"), headers=AS_ADMIN) as r:
        assert r.status == 400
        assert pm_message(await r.json()) == "Bad Request: The username 'carol' already exists."
    bad = [
        new_user("dave", usr_cnf_pass="something else"),
        new_user("dave", usr_new_pass="short"),
        new_user("dave", usr_email="not-an-email"),
        new_user("dave", usr_role="NO_SUCH_ROLE"),
        new_user("dave", usr_status="RETIRED"),
        new_user("dave", usr_due_date="2024-02-30"),
        new_user("dave", usr_reports_to="f" * 32),
        new_user("da/ve"),
        {"usr_username": "dave"},
    ]
    for body in bad:
        async with http.post(f"{cases.api}/users", json=body, headers=AS_ADMIN) as r:
            assert r.status == 400, body
            assert pm_message(await r.json()).startswith("Bad Request: ")
    async with http.put(
        f"{cases.api}/user/{ADMIN_USER_UID}", json={"usr_status": "INACTIVE"}, headers=AS_ADMIN
    ) as r:
        assert pm_message(await r.json()) == "Bad Request: You cannot deactivate your own user."
    async with http.delete(f"{cases.api}/user/{ADMIN_USER_UID}", headers=AS_ADMIN) as r:
        assert r.status == 400


async def test_managing_the_directory_needs_pm_users(cases, http):
    erin = await create_user(http, cases, "erin")
    frank = await create_user(http, cases, "frank")
    as_erin = as_user(erin, PM_CASES)
    async with http.post(f"{cases.api}/users", json=new_user("gina"), headers=as_erin) as r:
        assert r.status == 403
        assert pm_message(await r.json()) == (
            "Forbidden: You don't have permission to access this endpoint or resource "
            "on this server."
        )
    for path in ("/users", f"/user/{frank['usr_uid']}", "/groups", "/roles"):
        async with http.get(cases.api + path, headers=as_erin) as r:
            assert r.status == 403, path
    async with http.get(f"{cases.api}/user/{erin['usr_uid']}", headers=as_erin) as r:
        assert r.status == 200  # everyone may read themselves
    async with http.put(
        f"{cases.api}/user/{erin['usr_uid']}",
        json={"usr_role": "PROCESSMAKER_ADMIN"},
        headers=as_erin,
    ) as r:
        assert r.status == 403
    as_manager = as_user(erin, PM_USERS)
    async with http.post(f"{cases.api}/users", json=new_user("gina"), headers=as_manager) as r:
        assert r.status == 201


async def test_a_call_without_a_valid_signature_is_refused(cases, http):
    async with http.get(f"{cases.api}/users") as r:
        assert r.status == 401
        assert (await r.json())["error"]["code"] == 401
    forged = identity_headers(ADMIN, "not-the-secret")
    async with http.get(f"{cases.api}/users", headers=forged) as r:
        assert r.status == 401


async def test_workspaces_do_not_see_each_other(cases, http):
    await create_user(http, cases, "henry")
    await ensure_workspace(cases.directory, "other")
    other_admin = ADMIN.model_copy(update={"workspace": "other", "user_uid": "a" * 32})
    as_other = identity_headers(other_admin, SECRET)
    other_api = f"{cases.url}/api/1.0/other"
    async with http.get(f"{other_api}/users?status=all", headers=as_other) as r:
        assert await r.json() == []
    async with http.post(f"{other_api}/users", json=new_user("henry"), headers=as_other) as r:
        assert r.status == 201  # usernames are unique per workspace only
        other_henry = await r.json()
    async with http.get(f"{cases.api}/user/{other_henry['usr_uid']}", headers=AS_ADMIN) as r:
        assert r.status == 400  # not in this workspace
    async with http.get(f"{other_api}/users", headers=AS_ADMIN) as r:
        assert r.status == 401  # signed in to another workspace
    async with http.get(f"{cases.api}/users", headers=as_other) as r:
        assert r.status == 401


# -- groups and roles ---------------------------------------------------------------------


async def test_groups_and_their_members(cases, http):
    ivy = await create_user(http, cases, "ivy")
    jack = await create_user(http, cases, "jack")
    async with http.post(f"{cases.api}/group", json={"grp_title": "Clerks"}, headers=AS_ADMIN) as r:
        assert r.status == 201
        clerks = await r.json()
    assert clerks["grp_status"] == "ACTIVE" and len(clerks["grp_uid"]) == 32
    async with http.post(
        f"{cases.api}/groups", json={"grp_title": "Clerks"}, headers=AS_ADMIN
    ) as r:
        assert pm_message(await r.json()) == "Bad Request: The group title 'Clerks' already exists."
    group = f"{cases.api}/group/{clerks['grp_uid']}"
    async with http.post(f"{group}/user", json={"usr_uid": ivy["usr_uid"]}, headers=AS_ADMIN) as r:
        assert r.status == 201
    form = {"usr_uid": jack["usr_uid"]}
    async with http.post(f"{group}/users", data=form, headers=AS_ADMIN) as r:
        assert r.status == 201
    async with http.post(f"{group}/users", json=form, headers=AS_ADMIN) as r:
        assert r.status == 400
    async with http.get(f"{group}/users", headers=AS_ADMIN) as r:
        assert sorted(u["usr_username"] for u in await r.json()) == ["ivy", "jack"]
    async with http.get(f"{group}/available-users", headers=AS_ADMIN) as r:
        assert [u["usr_username"] for u in await r.json()] == ["admin"]
    async with http.get(f"{cases.api}/groups", headers=AS_ADMIN) as r:
        assert await r.json() == [{**clerks, "grp_users": 2}]

    status, identity = await ask(
        http, cases.url, {"scheme": "basic", "username": "ivy", "password": "ivy-password"}
    )
    assert status == 200 and identity["groups"] == [clerks["grp_uid"]]

    async with http.delete(f"{group}/user/{ivy['usr_uid']}", headers=AS_ADMIN) as r:
        assert r.status == 200
    async with http.put(group, json={"grp_status": "INACTIVE"}, headers=AS_ADMIN) as r:
        assert r.status == 200
    async with http.get(group, headers=AS_ADMIN) as r:
        assert await r.json() == {**clerks, "grp_status": "INACTIVE", "grp_users": 1}
    async with http.delete(group, headers=AS_ADMIN) as r:
        assert r.status == 200
    assert await repository.memberships(cases.directory.store, WS, jack["usr_uid"]) == []


async def test_custom_roles_hold_the_permissions_they_are_given(cases, http):
    kim = await create_user(http, cases, "kim")
    role = {"rol_code": "SUPERVISOR", "rol_name": "Supervisor"}
    async with http.post(f"{cases.api}/role", json=role, headers=AS_ADMIN) as r:
        assert r.status == 201
        supervisor = await r.json()
    url = f"{cases.api}/role/{supervisor['rol_uid']}"
    async with http.post(f"{url}/permission", json={"per_code": "PM_CASES"}, headers=AS_ADMIN) as r:
        assert r.status == 201
    async with http.get(f"{url}/available-permissions", headers=AS_ADMIN) as r:
        available = {p["per_code"]: p["per_uid"] for p in await r.json()}
    assert "PM_CASES" not in available
    async with http.post(
        f"{url}/permissions", json={"per_uid": available["PM_SUPERVISOR"]}, headers=AS_ADMIN
    ) as r:
        assert r.status == 201
    async with http.post(f"{url}/permission", json={"per_code": "PM_CASES"}, headers=AS_ADMIN) as r:
        assert r.status == 400  # already there
    async with http.post(f"{url}/user", json={"usr_uid": kim["usr_uid"]}, headers=AS_ADMIN) as r:
        assert r.status == 201
    status, identity = await ask(
        http, cases.url, {"scheme": "basic", "username": "kim", "password": "kim-password"}
    )
    assert status == 200
    assert identity["role"] == "SUPERVISOR"
    assert set(identity["permissions"]) == {"PM_CASES", "PM_SUPERVISOR"}

    async with http.delete(f"{url}/permission/PM_CASES", headers=AS_ADMIN) as r:
        assert r.status == 200
    async with http.get(f"{url}/permissions", headers=AS_ADMIN) as r:
        assert [p["per_code"] for p in await r.json()] == ["PM_SUPERVISOR"]
    async with http.get(f"{url}/users", headers=AS_ADMIN) as r:
        assert [u["usr_username"] for u in await r.json()] == ["kim"]
    async with http.delete(url, headers=AS_ADMIN) as r:
        assert pm_message(await r.json()).endswith("cannot be deleted while it has users.")
    admin_role = f"{cases.api}/role/{ADMIN_ROLE_UID}"
    async with http.delete(f"{admin_role}/permission/PM_USERS", headers=AS_ADMIN) as r:
        assert r.status == 400
    async with http.delete(admin_role, headers=AS_ADMIN) as r:
        assert r.status == 400


# -- API keys -------------------------------------------------------------------------------


async def test_api_keys_are_shown_once_listed_without_secret_and_revocable(cases, http):
    lena = await create_user(http, cases, "lena")
    keys = f"{cases.api}/user/{lena['usr_uid']}/api-keys"
    as_lena = as_user(lena, PM_CASES)
    async with http.post(keys, json={"name": "scanner"}, headers=as_lena) as r:
        assert r.status == 201
        created = await r.json()
    assert created["key"].startswith("cmk_") and created["name"] == "scanner"
    async with http.get(keys, headers=as_lena) as r:
        listed = await r.json()
    assert [k["key_id"] for k in listed] == [created["key_id"]]
    assert "key" not in listed[0] and "key_hash" not in listed[0]
    stored = await token_repository.get_api_key(cases.directory.store, created["key_id"])
    assert created["key"] not in str(stored)  # only a digest is kept

    status, identity = await ask(http, cases.url, {"scheme": "bearer", "token": created["key"]})
    assert status == 200 and identity["username"] == "lena" and identity["via"] == "api_key"
    trackops = {"scheme": "basic", "username": "lena/token", "password": created["key"]}
    assert (await ask(http, cases.url, trackops))[0] == 200
    wrong_user = {**trackops, "username": "admin/token"}
    assert (await ask(http, cases.url, wrong_user))[0] == 401

    other = await create_user(http, cases, "mo")
    async with http.get(f"{cases.api}/user/{other['usr_uid']}/api-keys", headers=as_lena) as r:
        assert r.status == 403  # only your own keys
    async with http.delete(f"{keys}/{created['key_id']}", headers=as_lena) as r:
        assert r.status == 200
    assert (await ask(http, cases.url, {"scheme": "bearer", "token": created["key"]}))[0] == 401


# -- OAuth2 token endpoint ----------------------------------------------------------------


async def test_tokens_are_granted_from_form_json_and_basic_client_credentials(cases, http):
    token_url = f"{cases.url}/{WS}/oauth2/token"
    from_form = await get_token(http, cases.url, "admin", ADMIN_PASSWORD)
    assert set(from_form) == {"access_token", "expires_in", "token_type", "scope", "refresh_token"}
    assert from_form["scope"] == "*" and len(from_form["access_token"]) == 40
    body = {"grant_type": "password", **CLIENT, "username": "admin", "password": ADMIN_PASSWORD}
    async with http.post(token_url, json=body) as r:
        assert r.status == 200
        assert r.headers["Cache-Control"] == "no-store"
    basic = base64.b64encode(b"casemesh:casemesh-secret").decode()
    form = {"grant_type": "password", "username": "admin", "password": ADMIN_PASSWORD}
    async with http.post(token_url, data=form, headers={"Authorization": f"Basic {basic}"}) as r:
        assert r.status == 200

    status, identity = await ask(
        http, cases.url, {"scheme": "bearer", "token": from_form["access_token"]}
    )
    assert status == 200 and identity["user_uid"] == ADMIN_USER_UID and identity["via"] == "token"
    stored = await token_repository.get_access_token(
        cases.directory.store, from_form["access_token"]
    )
    assert stored is None  # stored under its digest, never as itself


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"username": "admin", "password": "wrong"}, 401, "invalid_grant"),
        ({"username": "nobody", "password": "wrong"}, 401, "invalid_grant"),
        ({"password": ""}, 400, "invalid_request"),
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": ""}, 400, "invalid_client"),
        ({"grant_type": ""}, 400, "invalid_request"),
        ({"grant_type": "client_credentials"}, 400, "unsupported_grant_type"),
        ({"scope": "everything"}, 400, "invalid_scope"),
        ({"grant_type": "refresh_token", "refresh_token": "nope"}, 400, "invalid_grant"),
    ],
)
async def test_token_errors_are_oauth2_errors(cases, http, body, status, error):
    request = {"grant_type": "password", **CLIENT, "username": "admin", "password": ADMIN_PASSWORD}
    async with http.post(f"{cases.url}/{WS}/oauth2/token", data=request | body) as r:
        assert r.status == status
        answer = await r.json()
    assert answer["error"] == error and answer["error_description"]


async def test_a_refresh_token_issues_a_new_pair_and_works_once(cases, http):
    first = await get_token(http, cases.url, "admin", ADMIN_PASSWORD)
    refresh = {"grant_type": "refresh_token", **CLIENT, "refresh_token": first["refresh_token"]}
    async with http.post(f"{cases.url}/{WS}/oauth2/token", data=refresh) as r:
        assert r.status == 200
        second = await r.json()
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    async with http.post(f"{cases.url}/{WS}/oauth2/token", data=refresh) as r:
        assert r.status == 400
        assert await r.json() == {
            "error": "invalid_grant",
            "error_description": "Invalid refresh token",
        }
    for token in (first, second):
        assert (await ask(http, cases.url, {"scheme": "bearer", "token": token["access_token"]}))[
            0
        ] == 200


async def test_access_tokens_expire(tmp_path, http):
    app = create_app(settings_for(tmp_path, token_ttl=1))
    async with serving(app) as url:
        await wait_ready(http, url)
        token = await get_token(http, url, "admin", ADMIN_PASSWORD)
        assert token["expires_in"] == 1
        question = {"scheme": "bearer", "token": token["access_token"]}
        async with http.post(
            f"{url}/internal/v1/authenticate",
            json=question,
            headers={"X-Casemesh-Internal": SECRET},
        ) as r:
            assert r.status == 200
            assert r.headers["Cache-Control"] in ("private, max-age=0", "private, max-age=1")
        await asyncio.sleep(1.1)
        assert (await ask(http, url, question))[0] == 401


async def test_inactive_users_cannot_sign_in(cases, http):
    nina = await create_user(http, cases, "nina")
    token = await get_token(http, cases.url, "nina", "nina-password")
    async with http.put(
        f"{cases.api}/user/{nina['usr_uid']}", json={"usr_status": "INACTIVE"}, headers=AS_ADMIN
    ) as r:
        assert r.status == 200
    assert (await ask(http, cases.url, {"scheme": "bearer", "token": token["access_token"]}))[
        0
    ] == 401
    basic = {"scheme": "basic", "username": "nina", "password": "nina-password"}
    assert (await ask(http, cases.url, basic))[0] == 401
    form = {"grant_type": "password", **CLIENT, "username": "nina", "password": "nina-password"}
    async with http.post(f"{cases.url}/{WS}/oauth2/token", data=form) as r:
        assert r.status == 401
    refresh = {"grant_type": "refresh_token", **CLIENT, "refresh_token": token["refresh_token"]}
    async with http.post(f"{cases.url}/{WS}/oauth2/token", data=refresh) as r:
        assert r.status == 400


# -- the internal authenticate endpoint ---------------------------------------------------


async def test_the_internal_endpoint_needs_the_internal_secret(cases, http):
    question = {"scheme": "basic", "username": "admin", "password": ADMIN_PASSWORD}
    assert (await ask(http, cases.url, question))[0] == 200
    assert (await ask(http, cases.url, question, secret="wrong"))[0] == 401
    async with http.post(f"{cases.url}/internal/v1/authenticate", json=question) as r:
        assert r.status == 401
    wrong = {**question, "password": "wrong"}
    assert (await ask(http, cases.url, wrong))[0] == 401
    elsewhere = {**question, "workspace": "other"}
    assert (await ask(http, cases.url, elsewhere))[0] == 401


async def test_the_internal_endpoint_is_closed_without_a_configured_secret(tmp_path, http):
    app = create_app(settings_for(tmp_path, internal_secret=""))
    async with serving(app) as url:
        await wait_ready(http, url)
        question = {"scheme": "basic", "username": "admin", "password": ADMIN_PASSWORD}
        assert (await ask(http, url, question, secret=""))[0] == 401


# -- the directory's functions on every store adapter ------------------------------------------


class FastPasswords(Passwords):
    """Argon2 with the smallest parameters: these tests check logic, not hashing cost."""

    def __init__(self) -> None:
        from argon2 import PasswordHasher

        super().__init__(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@pytest.fixture
async def directory(store: DocumentStore, tmp_path) -> Directory:
    for name, indexes in (repository.INDEXES | token_repository.INDEXES).items():
        await store.ensure_indexes(name, indexes)
    d = Directory(store, settings_for(tmp_path), FastPasswords())
    await bootstrap(d)
    return d


async def test_directory_queries_work_on_every_store(directory):
    ws = WS
    made = [
        await users.create_user(directory, ws, UserCreate.model_validate(new_user(name)))
        for name in ("olga", "pavel", "quinn")
    ]
    with pytest.raises(Exception, match="already exists"):
        await users.create_user(directory, ws, UserCreate.model_validate(new_user("olga")))
    found = await users.list_users(directory, ws, UserQuery(filter="AV"))
    assert [u["usr_username"] for u in found] == ["pavel"]
    team = await groups.create_group(directory, ws, GroupCreate(grp_title="Team"))
    for user in made[:2]:
        await groups.add_member(directory, ws, team["grp_uid"], MemberAdd(usr_uid=user["usr_uid"]))
    available = await groups.available_users(directory, ws, team["grp_uid"], PageQuery())
    assert [u["usr_username"] for u in available] == ["admin", "quinn"]
    question = AuthenticateRequest(scheme="basic", username="olga", password="olga-password")
    found_identity = await authenticate(directory, question)
    assert found_identity is not None
    assert found_identity.identity.groups == (team["grp_uid"],)
    assert found_identity.identity.permissions == frozenset({PM_CASES})
    await users.delete_user(directory, ws, made[0]["usr_uid"], ADMIN)
    assert await repository.member_uids(directory.store, ws, team["grp_uid"]) == [
        made[1]["usr_uid"]
    ]
