"""Who is calling: the gateway checks every request's credentials before proxying it.

Every proxied route needs credentials except ProcessMaker's token endpoint
(``/{workspace}/oauth2/token``). A credential is ``Authorization: Bearer
<access token or API key>`` or ``Authorization: Basic`` (username and
password, or ``<username>/token`` and an API key). The cases service, which
owns the directory, says whose it is at ``/internal/v1/authenticate``; the
gateway then forwards the request with the signed identity headers of
``casemesh.identity``.

Answers are cached by a SHA-256 digest of the credential: positive ones for at
most ``auth_cache_ttl`` seconds (and never past the token's expiry), so a
disabled user or a revoked key stops working within that time; negative ones
for a few seconds, to blunt password guessing. When the cases service cannot
answer, a credential not in the cache gets 503, not 401: the client should
retry, not sign in again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

import aiohttp
from aiohttp import BasicAuth, web
from pydantic import ValidationError

from casemesh.identity import Identity, identity_headers
from casemesh.internal import INTERNAL_HEADER as INTERNAL_HEADER  # shared with the other side
from casemesh.internal import internal_headers
from casemesh.settings import Settings
from casemesh.web.context import REQUEST_ID_HEADER, current_request_id
from casemesh.web.errors import ApiError

log = logging.getLogger("casemesh.gateway.auth")

# The cases service's endpoint and the header carrying the shared secret.
AUTHENTICATE_PATH = "/internal/v1/authenticate"
AUTHENTICATE_TIMEOUT = 5.0
NEGATIVE_TTL = 5.0
MAX_CACHED = 10_000
REALM = "Casemesh"
# Longest credential parts worth asking about (the cases service refuses longer).
MAX_TOKEN, MAX_USERNAME, MAX_PASSWORD = 512, 256, 1024

OPEN_PATHS = re.compile(r"^/[^/]+/oauth2/token$")
WORKSPACE_PATHS = re.compile(r"^/api/1\.0/([^/]+)/|^/([^/]+)/oauth2/")
BEARER_ONLY_PATHS = re.compile(r"^/api/1\.0/|^/[^/]+/oauth2/")
# The identity ``authorize`` accepted, for the gateway's own use (rate limits, Idempotency-Key).
CALLER: web.RequestKey[Identity] = web.RequestKey("caller", Identity)


@dataclass(frozen=True)
class Credentials:
    scheme: Literal["bearer", "basic"]
    token: str = ""
    username: str = ""
    password: str = ""

    def question(self, workspace: str) -> dict[str, str]:
        """The body of the cases service's authenticate call."""
        if self.scheme == "bearer":
            return {"scheme": "bearer", "token": self.token}
        return {
            "scheme": "basic",
            "username": self.username,
            "password": self.password,
            "workspace": workspace,
        }

    def cache_key(self, workspace: str) -> str:
        parts = (self.scheme, self.token, self.username, self.password, workspace)
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()


Authenticate = Callable[[Credentials, str], Awaitable[Identity | None]]


class AuthUnavailable(Exception):
    """The cases service could not say whose a credential is."""


def parse_authorization(header: str | None) -> Credentials | None:
    """The credentials in an ``Authorization`` header; None if absent or unusable."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value and len(value) <= MAX_TOKEN:
        return Credentials("bearer", token=value)
    if scheme.lower() == "basic" and value:
        try:
            basic = BasicAuth.decode(f"Basic {value}")
        except ValueError:
            return None
        if basic.login and len(basic.login) <= MAX_USERNAME and len(basic.password) <= MAX_PASSWORD:
            return Credentials("basic", username=basic.login, password=basic.password)
    return None


def path_workspace(path: str) -> str | None:
    """The workspace a path names (``/api/1.0/{ws}/…``, ``/{ws}/oauth2/…``), if any."""
    match = WORKSPACE_PATHS.match(path)
    return (match.group(1) or match.group(2)) if match else None


def challenge(path: str, error: str = "") -> str:
    """The ``WWW-Authenticate`` value: Bearer for ProcessMaker paths, else Bearer or Basic."""
    bearer = f'Bearer realm="{REALM}"' + (f', error="{error}"' if error else "")
    if BEARER_ONLY_PATHS.match(path):
        return bearer
    return f'{bearer}, Basic realm="{REALM}"'


def unauthorized(path: str, message: str, error: str = "") -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": challenge(path, error)})


async def authorize(
    request: web.Request, settings: Settings, authenticate: Authenticate
) -> dict[str, str]:
    """The identity headers to forward ``request`` with ({} on open paths), or an ApiError."""
    path = request.path
    if OPEN_PATHS.match(path):
        return {}
    secret = settings.internal_secret.get_secret_value()
    if not secret:
        raise ApiError(503, "sign-in is not configured: set CASEMESH_INTERNAL_SECRET")
    credentials = parse_authorization(request.headers.get("Authorization"))
    if credentials is None:
        raise unauthorized(path, "credentials are required (a Bearer token or HTTP Basic)")
    workspace = path_workspace(path)
    try:
        identity = await authenticate(credentials, workspace or settings.default_workspace)
    except AuthUnavailable as exc:
        log.warning("cannot check credentials: %s", exc)
        raise ApiError(
            503, "credentials cannot be checked right now", headers={"Retry-After": "2"}
        ) from exc
    if identity is None:
        raise unauthorized(path, "the credentials are not valid", "invalid_token")
    if workspace is not None and identity.workspace != workspace:
        raise unauthorized(
            path, f"the credentials are not valid for workspace {workspace!r}", "invalid_token"
        )
    request[CALLER] = identity
    return _signed_headers(identity, secret)


# identity -> its signed headers: the cached identity is the same object for
# every request with that credential, and signing it (JSON, base64, HMAC) was
# a noticeable share of the gateway's CPU per request. Bounded; cleared whole.
_SIGNED: dict[int, tuple[Identity, str, dict[str, str]]] = {}
MAX_SIGNED = 4096


def _signed_headers(identity: Identity, secret: str) -> dict[str, str]:
    cached = _SIGNED.get(id(identity))
    if cached is not None and cached[0] is identity and cached[1] == secret:
        return dict(cached[2])
    headers = identity_headers(identity, secret)
    if len(_SIGNED) >= MAX_SIGNED:
        _SIGNED.clear()
    _SIGNED[id(identity)] = (identity, secret, headers)
    return dict(headers)


@dataclass(frozen=True)
class Answer:
    identity: Identity | None
    max_age: float | None = None  # what the cases service allows, if it says


class CasesAuthenticator:
    """Asks the cases service whose a credential is."""

    def __init__(self, settings: Settings, session: Callable[[], aiohttp.ClientSession]):
        self._settings = settings
        self._session = session

    async def ask(self, credentials: Credentials, workspace: str) -> Answer:
        url = self._settings.cases_url.rstrip("/") + AUTHENTICATE_PATH
        headers = {
            **internal_headers(self._settings),
            REQUEST_ID_HEADER: current_request_id(),
            "Accept-Encoding": "identity",
        }
        timeout = aiohttp.ClientTimeout(total=AUTHENTICATE_TIMEOUT)
        try:
            async with self._session().post(
                url, json=credentials.question(workspace), headers=headers, timeout=timeout
            ) as response:
                if response.status == 401:
                    return Answer(None)
                if response.status != 200:
                    raise AuthUnavailable(f"the cases service answered {response.status}")
                identity = Identity.model_validate_json(await response.read())
                return Answer(identity, _max_age(response.headers.get("Cache-Control", "")))
        except (aiohttp.ClientError, TimeoutError, ValidationError) as exc:
            raise AuthUnavailable(
                f"the cases service did not answer: {exc or type(exc).__name__}"
            ) from exc


def _max_age(cache_control: str) -> float | None:
    match = re.search(r"max-age=(\d+)", cache_control)
    return float(match.group(1)) if match else None


class CachedAuthenticator:
    """Remembers answers for a while, and asks once for concurrent identical questions."""

    def __init__(
        self,
        ask: Callable[[Credentials, str], Awaitable[Answer]],
        ttl: float,
        negative_ttl: float = NEGATIVE_TTL,
        max_entries: int = MAX_CACHED,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._ask = ask
        self._ttl = ttl
        self._negative_ttl = min(negative_ttl, ttl) if ttl else 0.0
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Identity | None]] = OrderedDict()
        self._pending: dict[str, asyncio.Task[Answer]] = {}

    async def authenticate(self, credentials: Credentials, workspace: str) -> Identity | None:
        key = credentials.cache_key(workspace)
        cached = self._entries.get(key)
        if cached is not None:
            expires, identity = cached
            if expires > self._clock():
                return identity
            del self._entries[key]
        task = self._pending.get(key)
        if task is None:
            task = asyncio.create_task(self._ask(credentials, workspace))
            self._pending[key] = task
            task.add_done_callback(lambda _: self._pending.pop(key, None))
        answer = await asyncio.shield(task)
        self._remember(key, answer)
        return answer.identity

    def _remember(self, key: str, answer: Answer) -> None:
        ttl = self._ttl if answer.identity is not None else self._negative_ttl
        if answer.max_age is not None:
            ttl = min(ttl, answer.max_age)
        if ttl <= 0:
            return
        self._entries[key] = (self._clock() + ttl, answer.identity)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)


def default_authenticator(
    settings: Settings, session: Callable[[], aiohttp.ClientSession]
) -> Authenticate:
    cases = CasesAuthenticator(settings, session)
    return CachedAuthenticator(cases.ask, ttl=settings.auth_cache_ttl).authenticate
