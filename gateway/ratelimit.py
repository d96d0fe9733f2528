"""Rate limits at the gateway: a token bucket per caller, 429 with ``Retry-After``.

Every proxied request spends one token from a bucket that refills at a steady
rate up to its size (the burst it allows):

- an authenticated caller's bucket is keyed by who they are (workspace and
  user), whichever credential they use (access token, API key, HTTP Basic),
  with ``rate_limit_rate`` / ``rate_limit_burst``;
- anonymous calls — the token endpoint, requests without credentials and
  requests whose credentials are refused — spend from the client IP's bucket
  (``rate_limit_anonymous_*``), which slows password guessing down both at the
  token endpoint and through HTTP Basic. While that bucket is empty, requests
  from the IP that carry a credential the gateway has not seen accepted lately
  are refused before anyone checks them; callers whose credential was
  accepted keep working.

The client IP is the TCP peer's, or, for a peer listed in ``trusted_proxies``,
the last ``X-Forwarded-For`` address. The buckets live in this process's
memory: each gateway instance limits on its own (see docs/limits.md for what
several instances need).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from casemesh.identity import Identity
from casemesh.settings import Settings
from casemesh.web.errors import ApiError
from gateway.auth import CALLER, OPEN_PATHS, parse_authorization

MAX_BUCKETS = 100_000
# How long a credential counts as recently accepted (seconds).
VERIFIED_TTL = 3600.0
MAX_VERIFIED = 50_000

Clock = Callable[[], float]


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class TokenBuckets:
    """Buckets of ``burst`` tokens refilled at ``rate`` per second, one per key.

    The table keeps the ``max_keys`` most recently used keys; a key dropped
    from it starts again with a full bucket.
    """

    def __init__(
        self, rate: float, burst: int, *, max_keys: int = MAX_BUCKETS, clock: Clock = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def _refilled(self, key: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        else:
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
            self._buckets.move_to_end(key)
        return bucket

    def wait(self, key: str) -> float:
        """Seconds until ``key`` has a token (0.0: it has one now); spends nothing."""
        bucket = self._refilled(key)
        return 0.0 if bucket.tokens >= 1.0 else (1.0 - bucket.tokens) / self.rate

    def take(self, key: str) -> float:
        """Spend a token of ``key``: 0.0 if it had one, else the seconds until it will."""
        bucket = self._refilled(key)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    def spend(self, key: str) -> None:
        """Spend a token of ``key`` even when that leaves the bucket in debt (down to -burst)."""
        bucket = self._refilled(key)
        bucket.tokens = max(-float(self.burst), bucket.tokens - 1.0)


def too_many(wait: float, who: str, buckets: TokenBuckets) -> ApiError:
    seconds = max(1, math.ceil(wait))
    return ApiError(
        429,
        f"too many requests {who}: at most {buckets.rate:g} per second "
        f"(bursts of {buckets.burst}); retry in {seconds} s",
        headers={"Retry-After": str(seconds)},
    )


class Throttle:
    """The gateway's policy: which bucket a request spends from, and when."""

    def __init__(self, settings: Settings, *, clock: Clock = time.monotonic) -> None:
        self.enabled = settings.rate_limit_enabled
        self.callers = TokenBuckets(
            settings.rate_limit_rate, settings.rate_limit_burst, clock=clock
        )
        self.anonymous = TokenBuckets(
            settings.rate_limit_anonymous_rate, settings.rate_limit_anonymous_burst, clock=clock
        )
        self._proxies = settings.trusted_proxies
        self._clock = clock
        self._verified: OrderedDict[str, float] = OrderedDict()

    def before_authentication(self, request: web.Request, has_credentials: bool) -> None:
        if not self.enabled:
            return
        ip = client_ip(request, self._proxies)
        if not has_credentials:
            wait = self.anonymous.take(ip)
            if wait:
                raise too_many(wait, "from this address", self.anonymous)
            return
        if not self._recently_verified(credential_digest(request)):
            wait = self.anonymous.wait(ip)
            if wait:
                raise too_many(wait, "from this address (failed sign-ins)", self.anonymous)

    def refused(self, request: web.Request) -> None:
        """Credentials were refused: the attempt counts against the client's address."""
        if self.enabled:
            self.anonymous.spend(client_ip(request, self._proxies))

    def accepted(self, request: web.Request, identity: Identity) -> None:
        if not self.enabled:
            return
        self._remember(credential_digest(request))
        wait = self.callers.take(f"{identity.workspace}/{identity.user_uid}")
        if wait:
            raise too_many(wait, f"for user {identity.username!r}", self.callers)

    def _recently_verified(self, digest: str) -> bool:
        expires = self._verified.get(digest)
        return expires is not None and expires > self._clock()

    def _remember(self, digest: str) -> None:
        self._verified[digest] = self._clock() + VERIFIED_TTL
        self._verified.move_to_end(digest)
        while len(self._verified) > MAX_VERIFIED:
            self._verified.popitem(last=False)


def client_ip(request: web.Request, trusted_proxies: tuple[str, ...] = ()) -> str:
    """The client's address: the peer's, or what a trusted proxy says it saw.

    Only the last ``X-Forwarded-For`` address counts (the one the trusted
    proxy added); anything before it is whatever the client chose to send.
    """
    peer = request.remote or "unknown"
    if peer in trusted_proxies:
        forwarded = request.headers.get("X-Forwarded-For", "").rsplit(",", 1)[-1].strip()
        if forwarded:
            return forwarded
    return peer


def credential_digest(request: web.Request) -> str:
    return hashlib.sha256(request.headers.get("Authorization", "").encode()).hexdigest()


def carries_credentials(request: web.Request) -> bool:
    """Whether the request needs and brings a credential the gateway can check."""
    if OPEN_PATHS.match(request.path):
        return False
    return parse_authorization(request.headers.get("Authorization")) is not None


async def admit(
    throttle: Throttle,
    request: web.Request,
    authorize: Callable[[], Awaitable[dict[str, str]]],
) -> dict[str, str]:
    """Run ``authorize`` between the throttle's checks; the identity headers it gives."""
    has_credentials = carries_credentials(request)
    throttle.before_authentication(request, has_credentials)
    try:
        headers = await authorize()
    except ApiError as exc:
        if exc.status == 401 and has_credentials:
            throttle.refused(request)
        raise
    identity = request.get(CALLER)
    if identity is not None:
        throttle.accepted(request, identity)
    return headers
