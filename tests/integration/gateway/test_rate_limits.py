"""Rate limits at the gateway: a bucket per user, one per client IP for anonymous calls.

Each test runs its own embedded platform with tiny buckets that refill slowly
(one request per 5 s), so what a test spends stays spent while it looks.
"""

from __future__ import annotations

import asyncio
import base64

import aiohttp
import pytest

from tests.integration.gateway.platform import PASSWORD, WS, running, sign_in

SLOW = {
    "rate_limit_rate": 0.2,
    "rate_limit_burst": 4,
    "rate_limit_anonymous_rate": 0.2,
    "rate_limit_anonymous_burst": 5,
}


@pytest.fixture
async def gateway(tmp_path):
    async with running(tmp_path, **SLOW) as platform:
        yield platform.gateway_url


def basic(username: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


async def spend_until_refused(http, url: str, headers: dict, limit: int = 20) -> int:
    """Send GETs until one gets 429; how many got through."""
    for sent in range(limit):
        async with http.get(url, headers=headers) as r:
            if r.status == 429:
                return sent
            assert r.status == 200, await r.text()
    raise AssertionError(f"no 429 after {limit} requests")


def retry_after(response: aiohttp.ClientResponse) -> int:
    seconds = int(response.headers["Retry-After"])
    assert 1 <= seconds <= 5
    return seconds


async def test_a_user_over_the_rate_gets_429_in_each_dialect_and_others_are_not_held_up(gateway):
    async with aiohttp.ClientSession() as http:
        admin = await sign_in(http, gateway)
        api = f"{gateway}/api/1.0/{WS}"
        bob = {
            "usr_username": "bob",
            "usr_firstname": "Bob",
            "usr_lastname": "Tester",
            "usr_email": "bob@example.com",
            "usr_new_pass": "bobs-password-1",
            "usr_role": "PROCESSMAKER_OPERATOR",
        }
        async with http.post(f"{api}/users", json=bob, headers=admin) as r:
            assert r.status == 201, await r.text()
        bob_auth = await sign_in(http, gateway, username="bob", password="bobs-password-1")

        passed = await spend_until_refused(http, f"{api}/cases", admin)
        assert passed == 3  # a burst of 4, one spent on creating bob

        async with http.get(f"{api}/cases", headers=admin) as r:  # ProcessMaker
            assert r.status == 429
            wait = retry_after(r)
            body = await r.json()
            assert body["error"]["code"] == 429
            assert body["error"]["message"].startswith("Too Many Requests: too many requests")
        async with http.get(f"{gateway}/api/case/task/t1/log", headers=admin) as r:  # TheHive
            assert r.status == 429
            retry_after(r)
            body = await r.json()
            assert body["type"] == "TooManyRequests" and "admin" in body["message"]
        async with http.get(f"{gateway}/api/cases/c1", headers=admin) as r:  # Kibana
            assert r.status == 429
            retry_after(r)
            assert (await r.json())["statusCode"] == 429
        async with http.get(f"{gateway}/casemesh/v1/timeline/x", headers=admin) as r:  # Casemesh
            assert r.status == 429
            assert (await r.json())["status"] == 429

        # Another user has a bucket of their own; the probes are not limited.
        async with http.get(f"{api}/cases", headers=bob_auth) as r:
            assert r.status == 200
        for _ in range(10):
            async with http.get(f"{gateway}/healthz") as r:
                assert r.status == 200

        await asyncio.sleep(wait)
        async with http.get(f"{api}/cases", headers=admin) as r:
            assert r.status == 200, await r.text()


async def test_password_guessing_is_slowed_per_address_but_signed_in_callers_go_on(gateway):
    async with aiohttp.ClientSession() as http:
        admin = await sign_in(http, gateway)  # 1 of the address's 5
        async with http.get(f"{gateway}/api/1.0/{WS}/cases", headers=admin) as r:
            assert r.status == 200
        form = {
            "grant_type": "password",
            "client_id": "casemesh",
            "client_secret": "casemesh-secret",
            "username": "admin",
        }
        token_url = f"{gateway}/{WS}/oauth2/token"
        statuses = []
        for n in range(6):
            async with http.post(token_url, data={**form, "password": f"guess-{n}"}) as r:
                statuses.append(r.status)
                if r.status == 429:
                    body = await r.json()
                    assert body["error"]["code"] == 429  # the token endpoint is ProcessMaker's
                    retry_after(r)
        assert statuses[:4] == [401, 401, 401, 401] and statuses[4:] == [429, 429]
        # Now even the right password waits: guesses and sign-ins look alike...
        async with http.post(token_url, data={**form, "password": PASSWORD}) as r:
            assert r.status == 429
        # ...and claiming to be someone else does not help (no proxy is trusted).
        spoofed = {"X-Forwarded-For": "203.0.113.9"}
        async with http.post(token_url, data={**form, "password": "x"}, headers=spoofed) as r:
            assert r.status == 429
        # Guessing through HTTP Basic on any route is refused before it is checked...
        async with http.get(
            f"{gateway}/api/case/task/t1/log", headers=basic("admin", "another-guess")
        ) as r:
            assert r.status == 429
            assert (await r.json())["type"] == "TooManyRequests"
        # ...but a credential already accepted keeps working.
        async with http.get(f"{gateway}/api/1.0/{WS}/cases", headers=admin) as r:
            assert r.status == 200


async def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket(tmp_path):
    settings = {**SLOW, "trusted_proxies": ["127.0.0.1"]}
    async with running(tmp_path, **settings) as platform, aiohttp.ClientSession() as http:
        url = f"{platform.gateway_url}/api/1.0/{WS}/cases"
        first = {"X-Forwarded-For": "198.51.100.7, 203.0.113.1"}  # the proxy added the last
        statuses = []
        for _ in range(6):
            async with http.get(url, headers=first) as r:
                statuses.append(r.status)
        assert statuses == [401] * 5 + [429]
        async with http.get(url, headers={"X-Forwarded-For": "198.51.100.7, 203.0.113.2"}) as r:
            assert r.status == 401  # another client of the proxy
        async with http.get(url, headers={"X-Forwarded-For": "203.0.113.1, 203.0.113.2"}) as r:
            assert r.status == 401  # what comes before the proxy's entry does not count
