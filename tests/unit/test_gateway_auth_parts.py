"""The gateway's credential parsing, challenges and answer cache, without a network."""

from __future__ import annotations

import asyncio
import base64

import pytest

from casemesh.identity import Identity
from gateway import auth
from gateway.auth import Answer, CachedAuthenticator, Credentials
from gateway.routing import service_for
from services.cases.directory import auth_handlers

ALICE = Identity(workspace="workflow", user_uid="a" * 32, username="alice")


def basic(raw: str) -> str:
    return "Basic " + base64.b64encode(raw.encode()).decode()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("Bearer abc", Credentials("bearer", token="abc")),
        ("bearer   abc  ", Credentials("bearer", token="abc")),
        ("Bearer ", None),
        ("Bearer " + "x" * 513, None),
        (basic("bob:pw"), Credentials("basic", username="bob", password="pw")),
        (basic("bob/token:cmk_k"), Credentials("basic", username="bob/token", password="cmk_k")),
        (basic("bob:p:w"), Credentials("basic", username="bob", password="p:w")),
        (basic(":pw"), None),
        ("Basic !!!", None),
        ("Digest abc", None),
    ],
)
def test_authorization_headers_are_parsed(header, expected):
    assert auth.parse_authorization(header) == expected


@pytest.mark.parametrize(
    ("path", "workspace"),
    [
        ("/api/1.0/workflow/users", "workflow"),
        ("/api/1.0/acme/cases/1/notes", "acme"),
        ("/acme/oauth2/token", "acme"),
        ("/api/case/task/t1/log", None),
        ("/api/cases/c1/files", None),
        ("/api/1.0/", None),
    ],
)
def test_the_workspace_a_path_names(path, workspace):
    assert auth.path_workspace(path) == workspace


def test_challenges_offer_basic_only_where_the_family_uses_it():
    assert auth.challenge("/api/1.0/w/users") == 'Bearer realm="Casemesh"'
    assert auth.challenge("/api/case/task/t/log", "invalid_token") == (
        'Bearer realm="Casemesh", error="invalid_token", Basic realm="Casemesh"'
    )


def test_the_cache_key_hides_the_credential_and_depends_on_the_workspace():
    creds = Credentials("basic", username="bob", password="secret-password")
    key = creds.cache_key("a")
    assert "secret-password" not in key and len(key) == 64
    assert key != creds.cache_key("b")
    assert creds.question("a") == {
        "scheme": "basic",
        "username": "bob",
        "password": "secret-password",
        "workspace": "a",
    }
    assert Credentials("bearer", token="t").question("a") == {"scheme": "bearer", "token": "t"}


@pytest.mark.parametrize(
    "path",
    [
        "/internal/v1/authenticate",
        "/internal",
        "/api/1.0/workflow/../../internal/v1/authenticate",
        "/api/1.0/workflow/./users",
        "/api/case/task/../log",
    ],
)
def test_internal_and_dot_segment_paths_are_never_routed(path):
    assert service_for(path) is None


def test_gateway_and_cases_service_agree_on_the_internal_endpoint():
    assert auth.AUTHENTICATE_PATH == auth_handlers.AUTHENTICATE_PATH
    assert auth.INTERNAL_HEADER == auth_handlers.INTERNAL_HEADER


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Oracle:
    """A stand-in for the cases service that counts questions."""

    def __init__(self, answer: Answer, delay: float = 0.0):
        self.answer = answer
        self.delay = delay
        self.asked = 0

    async def ask(self, credentials: Credentials, workspace: str) -> Answer:
        self.asked += 1
        await asyncio.sleep(self.delay)
        return self.answer


CREDS = Credentials("bearer", token="t")


async def test_positive_answers_are_kept_for_the_ttl():
    clock, oracle = Clock(), Oracle(Answer(ALICE))
    cache = CachedAuthenticator(oracle.ask, ttl=30, clock=clock)
    assert await cache.authenticate(CREDS, "w") == ALICE
    clock.now += 29
    assert await cache.authenticate(CREDS, "w") == ALICE
    assert oracle.asked == 1
    clock.now += 2
    await cache.authenticate(CREDS, "w")
    assert oracle.asked == 2


async def test_negative_answers_are_kept_briefly():
    clock, oracle = Clock(), Oracle(Answer(None))
    cache = CachedAuthenticator(oracle.ask, ttl=30, negative_ttl=5, clock=clock)
    assert await cache.authenticate(CREDS, "w") is None
    clock.now += 4
    assert await cache.authenticate(CREDS, "w") is None
    assert oracle.asked == 1
    clock.now += 2
    await cache.authenticate(CREDS, "w")
    assert oracle.asked == 2


async def test_an_answer_is_never_kept_past_the_max_age_it_came_with():
    clock, oracle = Clock(), Oracle(Answer(ALICE, max_age=3))
    cache = CachedAuthenticator(oracle.ask, ttl=30, clock=clock)
    await cache.authenticate(CREDS, "w")
    clock.now += 4
    await cache.authenticate(CREDS, "w")
    assert oracle.asked == 2
    zero = Oracle(Answer(ALICE, max_age=0))
    uncached = CachedAuthenticator(zero.ask, ttl=30, clock=clock)
    for _ in range(3):
        await uncached.authenticate(CREDS, "w")
    assert zero.asked == 3


async def test_concurrent_identical_questions_are_asked_once():
    oracle = Oracle(Answer(ALICE), delay=0.05)
    cache = CachedAuthenticator(oracle.ask, ttl=30)
    results = await asyncio.gather(*(cache.authenticate(CREDS, "w") for _ in range(20)))
    assert results == [ALICE] * 20
    assert oracle.asked == 1


async def test_the_cache_holds_a_bounded_number_of_answers():
    clock, oracle = Clock(), Oracle(Answer(ALICE))
    cache = CachedAuthenticator(oracle.ask, ttl=30, max_entries=2, clock=clock)
    for token in ("a", "b", "c"):
        await cache.authenticate(Credentials("bearer", token=token), "w")
    await cache.authenticate(Credentials("bearer", token="c"), "w")
    assert oracle.asked == 3
    await cache.authenticate(Credentials("bearer", token="a"), "w")  # evicted first
    assert oracle.asked == 4


async def test_a_failure_to_ask_is_not_remembered():
    calls = 0

    async def unavailable(credentials: Credentials, workspace: str) -> Answer:
        nonlocal calls
        calls += 1
        raise auth.AuthUnavailable("down")

    cache = CachedAuthenticator(unavailable, ttl=30)
    for _ in range(2):
        with pytest.raises(auth.AuthUnavailable):
            await cache.authenticate(CREDS, "w")
    assert calls == 2
