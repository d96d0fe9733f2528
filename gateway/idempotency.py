"""``Idempotency-Key``: a retried request gets the first answer and changes nothing.

On any POST, PUT, PATCH or DELETE by an authenticated caller (the token
endpoint is not covered) a client may send ``Idempotency-Key: <1-255 visible
ASCII characters>``. Keys belong to the caller (workspace and user):

- the first request with a key claims it, runs, and its answer (status,
  headers, body) is kept for ``idempotency_ttl`` (24 h by default);
- the same request again with the same key gets that answer back, marked
  ``Idempotent-Replayed: true``, and reaches no service;
- the same key with another method, path, content type or body: 422 (400 in
  the ProcessMaker and TheHive dialects, which answer every client error so);
- the same key while the first request is still running: 409.

Not kept, so a retry runs again: answers of 500 and above (the request did
not complete), answers bigger than ``idempotency_max_response`` or streamed
without an end in sight (downloads), and requests that failed on the way
(an over-size or too slow body, a service that could not be reached).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from casemesh.web.errors import ApiError
from gateway.auth import CALLER
from gateway.idempotency_store import (
    Busy,
    Claimed,
    Finished,
    IdempotencyRecords,
    replayable_headers,
)
from gateway.limits import BodyFailed, RequestBody, refusal
from gateway.proxy import CHUNK, relay

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
# Dialects that answer every client error with 400 (ProcessMaker, TheHive).
ALL_400_PATHS = re.compile(r"^/api/1\.0/|^/[^/]+/oauth2/|^/api/case/task/|^/api/datastore")

Send = Callable[[], Awaitable[aiohttp.ClientResponse]]


def requested_key(request: web.Request) -> str | None:
    """The request's Idempotency-Key, if it has one that applies; 400 if it is malformed."""
    values = request.headers.getall(HEADER, [])
    if not values or request.method not in METHODS:
        return None
    if len(values) > 1 or not KEY.match(values[0]):
        raise ApiError(400, f"{HEADER} must be one value of 1 to 255 visible ASCII characters")
    return values[0]


def fingerprint(request: web.Request, body_digest: str) -> str:
    parts = (
        request.method,
        request.raw_path,
        request.headers.get("Content-Type", ""),
        body_digest,
    )
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def reused(request: web.Request) -> ApiError:
    status = 400 if ALL_400_PATHS.match(request.path) else 422
    return ApiError(
        status,
        f"this {HEADER} was used for a different request (method, path or body): "
        "send a new key for a new request",
    )


class Idempotency:
    def __init__(self, records: IdempotencyRecords, max_response: int) -> None:
        self.records = records
        self.max_response = max_response

    async def forward(
        self, request: web.Request, body: RequestBody, send: Send, service: str
    ) -> web.StreamResponse:
        """Send the request on (``send``), honouring its Idempotency-Key if it has one."""
        key = requested_key(request)
        caller = request.get(CALLER)
        if key is None or caller is None:
            try:
                upstream = await send()
            except BodyFailed as exc:
                return refusal(request, exc.error)
            return await relay(request, upstream, service)
        body.hash_from_start()
        scope = f"{caller.workspace}/{caller.user_uid}"
        claim = await self.records.claim(scope, key, request.method, request.raw_path)
        if isinstance(claim, Busy):
            raise ApiError(
                409,
                f"a request with this {HEADER} is still in progress: "
                "retry once it has been answered",
                headers={"Retry-After": "1"},
            )
        if isinstance(claim, Finished):
            return await self._replay(request, body, claim)
        return await self._first(request, body, send, service, claim)

    async def _replay(
        self, request: web.Request, body: RequestBody, done: Finished
    ) -> web.StreamResponse:
        if (done.method, done.path) != (request.method, request.raw_path):
            raise reused(request)
        try:
            await body.drain()
        except BodyFailed as exc:
            return refusal(request, exc.error)
        if fingerprint(request, body.digest()) != done.fingerprint:
            raise reused(request)
        response = web.Response(
            status=done.status, body=done.body, headers=CIMultiDict(done.headers)
        )
        response.headers[REPLAYED_HEADER] = "true"
        return response

    async def _first(
        self,
        request: web.Request,
        body: RequestBody,
        send: Send,
        service: str,
        claim: Claimed,
    ) -> web.StreamResponse:
        try:
            upstream = await send()
        except BodyFailed as exc:
            await self.records.release(claim)
            return refusal(request, exc.error)
        except BaseException:
            await self.records.release(claim)
            raise
        if upstream.status >= 500:
            await self.records.release(claim)
            return await relay(request, upstream, service)
        length = upstream.content_length
        if length is not None and length > self.max_response:
            await self.records.release(claim)
            return await relay(request, upstream, service)
        data = bytearray()
        try:
            async for chunk in upstream.content.iter_chunked(CHUNK):
                data += chunk
                if len(data) > self.max_response:
                    await self.records.release(claim)
                    return await relay(request, upstream, service, prefix=bytes(data))
        except (TimeoutError, aiohttp.ClientError) as exc:
            upstream.release()
            await self.records.release(claim)
            raise ApiError(502, f"the {service} service's answer broke off") from exc
        upstream.release()
        headers = replayable_headers(upstream.headers)
        response = web.Response(
            status=upstream.status,
            reason=upstream.reason,
            body=bytes(data),
            headers=CIMultiDict(headers),
        )
        try:
            await body.drain()  # the service may answer before it has read everything
        except BodyFailed:
            await self.records.release(claim)
            return response
        await self.records.finish(
            claim, fingerprint(request, body.digest()), upstream.status, headers, bytes(data)
        )
        return response
