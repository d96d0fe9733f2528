"""The notes service's cache of case facts: how long an answer lives and what drops it."""

from __future__ import annotations

import asyncio

import pytest

from casemesh.web.errors import ApiError
from services.notes.casefacts import CaseFacts
from services.notes.facts_cache import FactsCache

APP = "a" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CasesService:
    """Answers with the current facts of each case; counts the questions; can hold answers."""

    def __init__(self) -> None:
        self.readers: dict[str, list[str]] = {APP: ["carol"]}
        self.asked = 0
        self.gate: asyncio.Event | None = None
        self.fail = False

    async def by_uid(self, app_uid: str) -> CaseFacts | None:
        self.asked += 1
        snapshot = self.readers.get(app_uid)  # what the service knows when asked
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise ApiError(503, "the cases service is unreachable")
        if snapshot is None:
            return None
        return CaseFacts(
            workspace="workflow",
            app_uid=app_uid,
            app_number=1,
            permissions=[{"object": "CASES_NOTES", "action": "VIEW", "users": list(snapshot)}],
        )


def reads_for(user: str):
    return lambda facts: any(user in p["users"] for p in facts.permissions)


def users(facts: CaseFacts | None) -> list[str]:
    assert facts is not None
    return facts.permissions[0]["users"]


@pytest.fixture
def cases() -> CasesService:
    return CasesService()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def cache_over(cases: CasesService, clock: Clock, **kw) -> FactsCache:
    return FactsCache(cases.by_uid, ttl=10.0, clock=clock, **kw)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_an_answer_is_used_until_the_ttl_then_asked_again(cases, clock):
    cache = cache_over(cases, clock)
    assert users(await cache.read(APP, reads_for("carol"))) == ["carol"]
    clock.now += 4.9
    await cache.read(APP, reads_for("carol"))
    assert cases.asked == 1
    cases.readers[APP] = []  # revoked, and no event says so
    clock.now += 5.1  # 10 s after the first question: too old to use
    facts = await cache.read(APP, reads_for("carol"))
    assert users(facts) == [] and cases.asked == 2


async def test_an_event_drops_the_answer_at_once(cases, clock):
    cache = cache_over(cases, clock)
    await cache.read(APP, reads_for("carol"))
    cases.readers[APP] = []
    cache.invalidate(APP)
    assert users(await cache.read(APP, reads_for("carol"))) == []
    assert cases.asked == 2
    cache.invalidate(None)  # events without a case are ignored
    cache.invalidate("unknown")


async def test_an_answer_fetched_across_an_event_is_not_kept(cases, clock):
    cache = cache_over(cases, clock)
    cases.gate = asyncio.Event()
    reading = asyncio.create_task(cache.read(APP, reads_for("carol")))
    await settle()
    assert cases.asked == 1
    cases.readers[APP] = []
    cache.invalidate(APP)  # the case changed while the old answer was on its way
    cases.gate.set()
    assert users(await reading) == ["carol"]  # that request raced the change
    assert len(cache) == 0
    assert users(await cache.read(APP, reads_for("carol"))) == []
    assert cases.asked == 2


async def test_a_refusal_is_never_taken_from_the_cache(cases, clock):
    cache = cache_over(cases, clock)
    assert users(await cache.read(APP, reads_for("dave"))) == ["carol"]
    cases.readers[APP] = ["carol", "dave"]  # granted: no event, ttl far away
    assert users(await cache.read(APP, reads_for("dave"))) == ["carol", "dave"]
    assert cases.asked == 2
    await cache.read(APP, reads_for("dave"))
    assert cases.asked == 2  # the fresh answer was kept


async def test_concurrent_misses_share_one_question(cases, clock):
    cache = cache_over(cases, clock)
    cases.gate = asyncio.Event()
    readings = [asyncio.create_task(cache.read(APP, reads_for("carol"))) for _ in range(8)]
    await settle()
    cases.gate.set()
    assert all(users(f) == ["carol"] for f in await asyncio.gather(*readings))
    assert cases.asked == 1


async def test_a_shared_answer_that_refuses_is_asked_again(cases, clock):
    cache = cache_over(cases, clock)
    cases.gate = asyncio.Event()
    first = asyncio.create_task(cache.read(APP, reads_for("carol")))
    await settle()
    cases.readers[APP] = ["carol", "dave"]  # granted after the first question left
    second = asyncio.create_task(cache.read(APP, reads_for("dave")))
    await settle()
    cases.gate.set()
    assert users(await first) == ["carol"]
    assert users(await second) == ["carol", "dave"]
    assert cases.asked == 2


async def test_no_such_case_is_not_kept(cases, clock):
    cache = cache_over(cases, clock)
    assert await cache.read("b" * 32, reads_for("carol")) is None
    cases.readers["b" * 32] = ["carol"]  # created since
    assert users(await cache.read("b" * 32, reads_for("carol"))) == ["carol"]


async def test_a_case_gone_on_refresh_is_forgotten(cases, clock):
    cache = cache_over(cases, clock)
    await cache.read(APP, reads_for("carol"))
    del cases.readers[APP]
    clock.now += 6  # past half the ttl: served, and refreshed behind
    assert users(await cache.read(APP, reads_for("carol"))) == ["carol"]
    await settle()
    assert len(cache) == 0
    assert await cache.read(APP, reads_for("carol")) is None


async def test_an_old_answer_in_use_is_refreshed_in_the_background(cases, clock):
    cache = cache_over(cases, clock)
    await cache.read(APP, reads_for("carol"))
    clock.now += 4
    await cache.read(APP, reads_for("carol"))
    assert cases.asked == 1  # younger than ttl / 2: nothing to do
    clock.now += 2
    cases.readers[APP] = ["carol", "erin"]
    cases.gate = asyncio.Event()
    assert users(await cache.read(APP, reads_for("carol"))) == ["carol"]  # not waited for
    assert users(await cache.read(APP, reads_for("carol"))) == ["carol"]
    await settle()
    assert cases.asked == 2  # one refresh, however many reads meanwhile
    cases.gate.set()
    await settle()
    clock.now += 9  # 15 s after the first question, 9 after the refresh
    assert users(await cache.read(APP, reads_for("carol"))) == ["carol", "erin"]
    assert cases.asked == 2


async def test_errors_reach_the_reader_and_are_not_kept(cases, clock):
    cache = cache_over(cases, clock)
    cases.fail = True
    with pytest.raises(ApiError) as raised:
        await cache.read(APP, reads_for("carol"))
    assert raised.value.status == 503
    cases.fail = False
    assert users(await cache.read(APP, reads_for("carol"))) == ["carol"]


async def test_a_failed_refresh_keeps_the_answer_until_its_ttl(cases, clock):
    cache = cache_over(cases, clock)
    await cache.read(APP, reads_for("carol"))
    cases.fail = True
    clock.now += 6
    assert users(await cache.read(APP, reads_for("carol"))) == ["carol"]
    await settle()
    assert cases.asked == 2 and len(cache) == 1
    clock.now += 4  # 10 s: gone, and the error now reaches the reader
    with pytest.raises(ApiError):
        await cache.read(APP, reads_for("carol"))


async def test_only_so_many_cases_are_kept(cases, clock):
    cache = cache_over(cases, clock, max_entries=2)
    for uid in ("1" * 32, "2" * 32, "3" * 32):
        cases.readers[uid] = ["carol"]
        await cache.read(uid, reads_for("carol"))
    assert len(cache) == 2
    await cache.read("1" * 32, reads_for("carol"))
    assert cases.asked == 4  # the least recently used one went


async def test_close_cancels_refreshes(cases, clock):
    cache = cache_over(cases, clock)
    await cache.read(APP, reads_for("carol"))
    cases.gate = asyncio.Event()
    clock.now += 6
    await cache.read(APP, reads_for("carol"))
    await settle()
    assert cases.asked == 2
    await cache.close()
    cases.gate.set()
    await settle()
    clock.now += 5  # the refresh never landed: the first answer has expired
    await cache.read(APP, reads_for("carol"))
    assert cases.asked == 3
