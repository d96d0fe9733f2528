"""The gateway signs callers in: the real cases service behind it, an echo for the rest.

The notes, documents and notifications services are stood in for by an echo
server that reports the identity the gateway vouched for, so these tests see
exactly what a service would.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import pytest
from aiohttp import web

from casemesh.identity import (
    ALL_PERMISSIONS,
    IDENTITY_HEADER,
    SIGNATURE_HEADER,
    Identity,
    identity_headers,
    read_identity,
)
from casemesh.settings import Settings
from gateway.app import create_app as create_gateway
from services.cases.app import create_app as create_cases
from services.cases.directory.bootstrap import ensure_workspace
from services.cases.directory.context import DIRECTORY, Directory
from tests.fixtures.web import serving

SECRET = "gateway-auth-test-secret"
ADMIN_PASSWORD = "admin-password-for-tests"
CLIENT = {"client_id": "casemesh", "client_secret": "casemesh-secret"}
WS = "workflow"


def echo_app() -> web.Application:
    async def echo(request: web.Request) -> web.Response:
        identity = read_identity(request, SECRET)
        return web.json_response(
            {
                "path": request.path,
                "identity": identity.model_dump(mode="json") if identity else None,
            }
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


@dataclass
class Platform:
    gateway: str
    cases: str
    directory: Directory

    @property
    def api(self) -> str:
        return f"{self.gateway}/api/1.0/{WS}"


@asynccontextmanager
async def platform(tmp_path, http, **overrides) -> AsyncIterator[Platform]:
    settings = Settings(
        mode="embedded",
        data_dir=tmp_path,
        internal_secret=SECRET,
        admin_password=ADMIN_PASSWORD,
        **overrides,
    )
    async with AsyncExitStack() as stack:
        cases_app = create_cases(settings)
        cases = await stack.enter_async_context(serving(cases_app))
        echo = await stack.enter_async_context(serving(echo_app()))
        urls = {
            "cases_url": cases,
            "notes_url": echo,
            "documents_url": echo,
            "notifications_url": echo,
        }
        gateway = await stack.enter_async_context(
            serving(create_gateway(settings.model_copy(update=urls)))
        )
        for _ in range(200):
            async with http.get(f"{cases}/readyz") as r:
                if r.status == 200:
                    break
            await asyncio.sleep(0.05)
        yield Platform(gateway, cases, cases_app[DIRECTORY])


@pytest.fixture
def start(tmp_path, http) -> Callable[..., AbstractAsyncContextManager[Platform]]:
    return lambda **overrides: platform(tmp_path, http, **overrides)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(username: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


async def login(
    http, gateway: str, username: str = "admin", password: str = ADMIN_PASSWORD, workspace: str = WS
) -> dict[str, str]:
    form = {"grant_type": "password", **CLIENT, "username": username, "password": password}
    async with http.post(f"{gateway}/{workspace}/oauth2/token", data=form) as r:
        assert r.status == 200, await r.text()
        return bearer((await r.json())["access_token"])


async def add_user(http, p: Platform, admin: dict, username: str, **extra) -> dict:
    body = {
        "usr_username": username,
        "usr_firstname": username.title(),
        "usr_lastname": "Tester",
        "usr_email": f"{username}@example.com",
        "usr_new_pass": f"{username}-password",
        **extra,
    }
    async with http.post(f"{p.api}/users", json=body, headers=admin) as r:
        assert r.status == 201, await r.text()
        return await r.json()


async def echoed(http, url: str, headers: dict[str, str]) -> dict | None:
    async with http.get(url, headers=headers) as r:
        assert r.status == 200, await r.text()
        return (await r.json())["identity"]


async def test_without_credentials_each_family_gets_a_401_in_its_shape(start, http):
    async with start() as p:
        g = p.gateway
        async with http.get(f"{g}/api/1.0/{WS}/users") as r:
            assert r.status == 401
            assert r.headers["WWW-Authenticate"] == 'Bearer realm="Casemesh"'
            assert (await r.json())["error"]["code"] == 401
        async with http.get(f"{g}/api/case/task/t1/log") as r:
            assert r.status == 401
            assert "Basic" in r.headers["WWW-Authenticate"]
            assert (await r.json())["type"] == "AuthenticationError"
        async with http.post(f"{g}/api/cases/c1/files") as r:
            assert (await r.json())["statusCode"] == 401
        async with http.get(f"{g}/api/v1/case/updates", headers=bearer("not-a-token")) as r:
            assert r.status == 401
            assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
            assert (await r.json())["status"] == 401
        async with http.get(f"{g}/api/v1/case/updates", headers={"Authorization": "Digest x"}) as r:
            assert r.status == 401
        for probe in ("/healthz", "/metrics", "/services/cases/healthz"):
            async with http.get(g + probe) as r:
                assert r.status == 200, probe


async def test_an_access_token_reaches_every_service_with_the_callers_identity(start, http):
    async with start() as p:
        admin = await login(http, p.gateway)
        async with http.get(f"{p.api}/users", headers=admin) as r:
            assert r.status == 200
            assert [u["usr_username"] for u in await r.json()] == ["admin"]
        identity = await echoed(http, f"{p.gateway}/api/case/task/t1/log", admin)
        assert identity["username"] == "admin" and identity["via"] == "token"
        assert set(identity["permissions"]) == set(ALL_PERMISSIONS)


async def test_api_keys_as_thehive_bearer_and_trackops_basic(start, http):
    async with start() as p:
        admin = await login(http, p.gateway)
        rosa = await add_user(http, p, admin, "rosa")
        rosa_token = await login(http, p.gateway, "rosa", "rosa-password")
        keys = f"{p.api}/user/{rosa['usr_uid']}/api-keys"
        async with http.post(keys, json={"name": "cli"}, headers=rosa_token) as r:
            assert r.status == 201
            key = await r.json()
        thehive = await echoed(http, f"{p.gateway}/api/case/task/t1/log", bearer(key["key"]))
        assert thehive["username"] == "rosa" and thehive["via"] == "api_key"
        trackops = await echoed(
            http, f"{p.gateway}/api/v1/case/updates", basic("rosa/token", key["key"])
        )
        assert trackops["user_uid"] == rosa["usr_uid"]
        # HTTP Basic with a password, on a path without a workspace: the default workspace.
        plain = await echoed(
            http, f"{p.gateway}/api/cases/c1/files", basic("rosa", "rosa-password")
        )
        assert plain["workspace"] == WS and plain["via"] == "basic"
        async with http.get(
            f"{p.gateway}/api/v1/case/updates", headers=basic("admin/token", key["key"])
        ) as r:
            assert r.status == 401  # the key is not admin's


async def test_a_user_of_one_workspace_cannot_reach_another(start, http):
    async with start() as p:
        await ensure_workspace(p.directory, "other")
        admin = await login(http, p.gateway)
        async with http.get(f"{p.gateway}/api/1.0/other/users", headers=admin) as r:
            assert r.status == 401
            assert "workspace 'other'" in (await r.json())["error"]["message"]
        async with http.get(f"{p.api}/users", headers=admin) as r:
            assert r.status == 200


async def test_forged_identity_headers_are_replaced(start, http):
    async with start() as p:
        admin = await login(http, p.gateway)
        await add_user(http, p, admin, "sam")
        sam = await login(http, p.gateway, "sam", "sam-password")
        # Even a correctly signed admin identity from the client is dropped.
        forged = identity_headers(
            Identity(
                workspace=WS,
                user_uid="f" * 32,
                username="admin",
                permissions=frozenset(ALL_PERMISSIONS),
            ),
            SECRET,
        )
        body = {
            "usr_username": "x",
            "usr_firstname": "X",
            "usr_lastname": "X",
            "usr_email": "x@example.com",
            "usr_new_pass": "x-password",
        }
        async with http.post(f"{p.api}/users", json=body, headers={**sam, **forged}) as r:
            assert r.status == 403
        seen = await echoed(http, f"{p.gateway}/api/case/task/t1/log", {**sam, **forged})
        assert seen["username"] == "sam"
        assert set(forged) == {IDENTITY_HEADER, SIGNATURE_HEADER}


async def test_internal_endpoints_are_not_routed(start, http):
    async with start() as p:
        admin = await login(http, p.gateway)
        question = {"scheme": "basic", "username": "admin", "password": ADMIN_PASSWORD}
        for path in (
            "/internal/v1/authenticate",
            f"/api/1.0/{WS}/../../internal/v1/authenticate",
            f"/api/1.0/{WS}/..%2F..%2Finternal/v1/authenticate",
        ):
            headers = {**admin, "X-Casemesh-Internal": SECRET}
            async with http.post(f"{p.gateway}{path}", json=question, headers=headers) as r:
                assert r.status == 404, path


async def test_a_deactivated_user_loses_access_within_the_cache_ttl(start, http):
    async with start(auth_cache_ttl=0.3) as p:
        admin = await login(http, p.gateway)
        tom = await add_user(http, p, admin, "tom")
        tom_token = await login(http, p.gateway, "tom", "tom-password")
        url = f"{p.gateway}/api/case/task/t1/log"
        await echoed(http, url, tom_token)
        async with http.put(
            f"{p.api}/user/{tom['usr_uid']}", json={"usr_status": "INACTIVE"}, headers=admin
        ) as r:
            assert r.status == 200
        await asyncio.sleep(0.4)
        async with http.get(url, headers=tom_token) as r:
            assert r.status == 401


async def test_a_revoked_api_key_stops_working_within_the_cache_ttl(start, http):
    async with start(auth_cache_ttl=0.3) as p:
        admin = await login(http, p.gateway)
        keys = f"{p.api}/user/00000000000000000000000000000001/api-keys"
        async with http.post(keys, json={}, headers=admin) as r:
            key = await r.json()
        url = f"{p.gateway}/api/case/task/t1/log"
        await echoed(http, url, bearer(key["key"]))
        async with http.delete(f"{keys}/{key['key_id']}", headers=admin) as r:
            assert r.status == 200
        await asyncio.sleep(0.4)
        async with http.get(url, headers=bearer(key["key"])) as r:
            assert r.status == 401


async def test_an_expired_token_is_refused_even_if_cached(start, http):
    async with start(token_ttl=1) as p:
        admin = await login(http, p.gateway)
        url = f"{p.gateway}/api/case/task/t1/log"
        await echoed(http, url, admin)
        await asyncio.sleep(1.1)
        async with http.get(url, headers=admin) as r:
            assert r.status == 401


async def test_when_the_cases_service_is_down_cached_callers_pass_and_others_get_503(
    tmp_path, http
):
    settings = Settings(
        mode="embedded", data_dir=tmp_path, internal_secret=SECRET, admin_password=ADMIN_PASSWORD
    )
    async with serving(echo_app()) as echo:
        cases_app = create_cases(settings)
        cases_site = serving(cases_app)
        cases = await cases_site.__aenter__()
        try:
            urls = {
                "cases_url": cases,
                "notes_url": echo,
                "documents_url": echo,
                "notifications_url": echo,
            }
            async with serving(create_gateway(settings.model_copy(update=urls))) as gateway:
                for _ in range(200):
                    async with http.get(f"{cases}/readyz") as r:
                        if r.status == 200:
                            break
                    await asyncio.sleep(0.05)
                admin = await login(http, gateway)
                url = f"{gateway}/api/case/task/t1/log"
                await echoed(http, url, admin)
                await cases_site.__aexit__(None, None, None)
                cases_site = None
                await echoed(http, url, admin)  # still cached
                async with http.get(url, headers=basic("admin", ADMIN_PASSWORD)) as r:
                    assert r.status == 503
                    assert r.headers["Retry-After"] == "2"
                    assert (await r.json())["type"] == "ServiceUnavailable"
        finally:
            if cases_site is not None:
                await cases_site.__aexit__(None, None, None)


async def test_without_an_internal_secret_the_gateway_refuses_with_503(tmp_path, http):
    async with serving(echo_app()) as echo:
        urls = {f"{s}_url": echo for s in ("cases", "notes", "documents", "notifications")}
        async with serving(create_gateway(Settings(**urls))) as gateway:
            async with http.get(f"{gateway}/api/case/task/t1/log", headers=bearer("x")) as r:
                assert r.status == 503
            async with http.post(f"{gateway}/{WS}/oauth2/token", data={}) as r:
                assert r.status == 200  # the token endpoint needs no credentials (the echo answers)
