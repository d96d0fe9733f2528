"""Streaming reverse proxy from the gateway to one service.

Bodies are streamed both ways chunk by chunk: the request's StreamReader is
handed to the client session as-is and the upstream response is copied out as
it arrives, so an upload or download never sits whole in memory.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from casemesh.web.context import REQUEST_ID_HEADER, current_request_id
from casemesh.web.errors import ApiError

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
# Only the gateway may tell services who the caller is.
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


async def forward(
    request: web.Request,
    session: aiohttp.ClientSession,
    base_url: str,
    service: str,
    extra_headers: dict[str, str] | None = None,
) -> web.StreamResponse:
    """Send ``request`` to ``base_url`` + same path and stream the answer back."""
    url = base_url.rstrip("/") + request.rel_url.raw_path_qs
    headers = upstream_headers(request)
    if extra_headers:
        headers.update(extra_headers)
    body = request.content if request.body_exists else None
    try:
        upstream = await session.request(
            request.method, url, headers=headers, data=body, allow_redirects=False
        )
    except aiohttp.ClientConnectorError as exc:
        log.warning("cannot reach %s: %s", service, exc)
        raise ApiError(502, f"the {service} service cannot be reached") from exc
    except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
        raise ApiError(504, f"the {service} service did not answer in time") from exc
    except aiohttp.ClientError as exc:
        log.warning("error talking to %s: %s", service, exc)
        raise ApiError(502, f"the {service} service failed to answer") from exc

    async with upstream:
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        for name, value in upstream.headers.items():
            if name.lower() not in HOP_BY_HOP:
                response.headers.add(name, value)
        if upstream.content_length is not None:
            response.content_length = upstream.content_length
        try:
            await response.prepare(request)
            async for chunk in upstream.content.iter_chunked(CHUNK):
                await response.write(chunk)
        except (TimeoutError, aiohttp.ClientError, asyncio.IncompleteReadError) as exc:
            # Headers are gone already: all we can do is cut the connection.
            log.warning("stream from %s broke: %s", service, exc)
            request.transport.close() if request.transport else None
            return response
        await response.write_eof()
        return response
