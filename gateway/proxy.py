"""Streaming reverse proxy from the gateway to one service.

Bodies are streamed both ways chunk by chunk: the request body goes to the
client session through ``limits.RequestBody`` (counted and timed as it
streams) and the upstream response is copied out as it arrives, so an upload
or download never sits whole in memory. ``open_upstream`` sends, ``relay``
streams the answer back (``idempotency`` keeps small answers in between).
A download the documents service hands over (an answer with a fetch URL)
is fetched from the object store by ``internal_fetch`` instead.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from casemesh.web.context import REQUEST_ID_HEADER, current_request_id
from casemesh.web.errors import ApiError
from gateway import internal_fetch
from gateway.limits import BodyFailed, RequestBody

log = logging.getLogger("casemesh.gateway.proxy")

# Headers that describe one hop, not the message (RFC 9110 §7.6.1).
HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Host",
        "Content-Length",
    )
)
# Gateway-only headers: only the gateway may tell services who the caller is
# (dropped from what clients send), and what services tell the gateway alone
# (a download's fetch URL, ``internal_fetch``) is dropped from their answers.
IDENTITY_PREFIX = "x-casemesh-"
# Copy unit for streamed bodies: bigger pieces mean fewer event-loop turns per
# GiB (the documents benchmark showed downloads limited by per-chunk overhead).
CHUNK = 256 * 1024


def upstream_headers(request: web.Request) -> CIMultiDict[str]:
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in request.headers.items():
        lowered = name.lower()
        if lowered in HOP_BY_HOP or lowered.startswith(IDENTITY_PREFIX):
            continue
        headers.add(name, value)
    headers[REQUEST_ID_HEADER] = current_request_id()
    forwarded = request.headers.get("X-Forwarded-For")
    peer = request.remote or ""
    headers["X-Forwarded-For"] = f"{forwarded}, {peer}" if forwarded else peer
    if request.content_length is not None:
        headers["Content-Length"] = str(request.content_length)
    return headers


async def open_upstream(
    request: web.Request,
    session: aiohttp.ClientSession,
    base_url: str,
    service: str,
    extra_headers: dict[str, str] | None = None,
    body: RequestBody | None = None,
) -> aiohttp.ClientResponse:
    """Send the request on and return the upstream answer, its body unread.

    Raises ApiError (502/504) when the service fails, BodyFailed when the
    client's body broke a limit on the way.
    """
    url = base_url.rstrip("/") + request.rel_url.raw_path_qs
    headers = upstream_headers(request)
    if extra_headers:
        headers.update(extra_headers)
    headers.update(internal_fetch.offer(request, service))
    if body is not None:
        data = body if body.exists else None
    else:
        data = request.content if request.body_exists else None
    try:
        return await session.request(
            request.method, url, headers=headers, data=data, allow_redirects=False
        )
    except (aiohttp.ClientError, TimeoutError, BodyFailed) as exc:
        if body is not None and body.failure is not None:
            raise BodyFailed(body.failure) from exc
        raise _upstream_error(service, exc) from exc


def _upstream_error(service: str, exc: BaseException) -> ApiError:
    if isinstance(exc, aiohttp.ClientConnectorError):
        log.warning("cannot reach %s: %s", service, exc)
        return ApiError(502, f"the {service} service cannot be reached")
    if isinstance(exc, TimeoutError):
        return ApiError(504, f"the {service} service did not answer in time")
    log.warning("error talking to %s: %s", service, exc)
    return ApiError(502, f"the {service} service failed to answer")


def answer_headers(upstream: aiohttp.ClientResponse) -> CIMultiDict[str]:
    """The upstream answer's headers a client may see: no hop-by-hop or gateway-only ones."""
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in upstream.headers.items():
        lowered = name.lower()
        if lowered not in HOP_BY_HOP and not lowered.startswith(IDENTITY_PREFIX):
            headers.add(name, value)
    return headers


async def relay(
    request: web.Request, upstream: aiohttp.ClientResponse, service: str, prefix: bytes = b""
) -> web.StreamResponse:
    """Stream ``upstream``'s answer to the client (``prefix``: its first bytes, read already)."""
    async with upstream:
        headers = answer_headers(upstream)
        if internal_fetch.wants_fetch(upstream):
            return await internal_fetch.serve(request, upstream, headers)
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        response.headers.extend(headers)
        if upstream.content_length is not None:
            response.content_length = upstream.content_length
        try:
            await response.prepare(request)
            if prefix:
                await response.write(prefix)
            async for chunk in upstream.content.iter_chunked(CHUNK):
                await response.write(chunk)
        except (TimeoutError, aiohttp.ClientError, asyncio.IncompleteReadError) as exc:
            # Headers are gone already: all we can do is cut the connection.
            log.warning("stream from %s broke: %s", service, exc)
            request.transport.close() if request.transport else None
            return response
        await response.write_eof()
        return response
