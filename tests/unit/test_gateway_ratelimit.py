"""Token buckets of the gateway's rate limits, on a clock the test moves."""

from __future__ import annotations

import pytest

from gateway.ratelimit import TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_says_how_long_to_wait():
    clock = Clock()
    buckets = TokenBuckets(rate=2.0, burst=3, clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)
    assert buckets.take("b") == 0.0  # every key has its own bucket
    clock.now += 0.25
    assert buckets.wait("a") == pytest.approx(0.25)
    clock.now += 0.25
    assert buckets.wait("a") == 0.0 and buckets.take("a") == 0.0
    assert buckets.take("a") > 0


def test_refills_never_exceed_the_burst():
    clock = Clock()
    buckets = TokenBuckets(rate=10.0, burst=2, clock=clock)
    buckets.take("a")
    clock.now += 3600
    assert [buckets.take("a") for _ in range(3)][-1] == pytest.approx(0.1)


def test_spending_into_debt_holds_the_key_back_longer():
    clock = Clock()
    buckets = TokenBuckets(rate=1.0, burst=2, clock=clock)
    for _ in range(5):
        buckets.spend("ip")
    assert buckets.wait("ip") == pytest.approx(3.0)  # -2 tokens at most: 3 s to one


def test_the_least_recently_used_keys_are_forgotten_first():
    clock = Clock()
    buckets = TokenBuckets(rate=0.001, burst=1, max_keys=2, clock=clock)
    buckets.take("old")
    buckets.take("new")
    buckets.wait("old")  # used again: "new" is now the oldest
    buckets.take("third")
    assert buckets.wait("old") > 0
    assert buckets.wait("new") == 0.0  # forgotten, so full again


def test_a_bucket_needs_a_positive_rate_and_burst():
    with pytest.raises(ValueError):
        TokenBuckets(rate=0, burst=1)
    with pytest.raises(ValueError):
        TokenBuckets(rate=1, burst=0)
