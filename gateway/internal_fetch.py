"""Downloads the gateway fetches from the object store itself (``casemesh.direct_fetch``).

So that the bytes of a download cross one Casemesh process, not two: the
documents service checks the request and answers everything but the body,
with a short-lived URL of the object and the byte range to send; the gateway
GETs that range and streams it to the client.

Trust model. A fetch URL is an order to GET something and hand it to the
client, so:

- the gateway offers to fetch (``OFFER_HEADER``) only on the GETs it forwards
  to the documents service, and only follows a URL in the answer to such a
  request (``serve``). Clients cannot offer on its behalf: the proxy drops
  every ``X-Casemesh-*`` header a client sends (``proxy.upstream_headers``);
- the answer comes from the documents service at its configured address,
  which the gateway trusts as it trusts that service with the caller's signed
  identity; a URL that is not http(s), a malformed range or an answer the
  gateway did not ask for gets 502 and nothing is fetched;
- the URL never reaches the client: the proxy drops every ``X-Casemesh-*``
  header of an upstream answer. It is presigned for that object, for GET and
  for ``casemesh.direct_fetch.URL_LIFETIME`` seconds; the object store checks it.

Until the first byte goes out, failures answer in the route's error shape,
as the documents service would: the object store unreachable, timing out or
failing (5xx) 503 with ``Retry-After``; the object missing 404; anything else
(a refused signature, an object of the wrong size) 502. Afterwards a broken
fetch cuts the client's connection, as ``proxy.relay`` does.

``CASEMESH_DIRECT_DOWNLOADS=false`` turns it off (the gateway then offers
nothing and the documents service streams downloads itself), e.g. when the
gateway cannot reach the object store's endpoint.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from prometheus_client import CollectorRegistry, Counter
from yarl import URL

from casemesh.direct_fetch import OFFER_HEADER, RANGE_HEADER, URL_HEADER, parse_range
from casemesh.web.errors import ApiError
from casemesh.web.keys import METRICS, SETTINGS

log = logging.getLogger("casemesh.gateway.internal_fetch")

SERVICE = "documents"  # the only service whose fetch URLs the gateway follows
MISSING = "the file's content is missing from the object store"
UNAVAILABLE = "the object store is unavailable"
# Connections to the object store: downloads in flight at once, beyond which
# they wait for a connection.
CONNECTIONS = 128


class Fetcher:
    """The gateway's client for object-store URLs and its counters."""

    def __init__(self, metrics_registry: CollectorRegistry) -> None:
        self.session: aiohttp.ClientSession | None = None
        self.fetches = Counter(
            "casemesh_gateway_direct_fetches_total",
            "Downloads the gateway fetched from the object store itself, by outcome",
            ["outcome"],
            registry=metrics_registry,
        )
        self.bytes = Counter(
            "casemesh_gateway_direct_fetch_bytes_total",
            "Bytes the gateway sent clients from object-store fetches",
            registry=metrics_registry,
        )

    async def open(self, url: str, offset: int, length: int) -> aiohttp.ClientResponse:
        """GET ``length`` bytes from ``offset``; ApiError unless they are on their way."""
        assert self.session is not None
        headers = {"Range": f"bytes={offset}-{offset + length - 1}"}
        try:
            # encoded=True: the signature covers the query exactly as written.
            source = await self.session.get(
                URL(url, encoded=True), headers=headers, allow_redirects=False
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("object store fetch failed: %s", exc or type(exc).__name__)
            raise self._failed("unavailable", 503, UNAVAILABLE) from None
        right_bytes = source.content_length == length and (
            source.status == 206 or (source.status == 200 and offset == 0)
        )
        if right_bytes:
            return source
        status = source.status
        source.release()
        if status == 404:
            raise self._failed("missing", 404, MISSING)
        if status >= 500:
            raise self._failed("unavailable", 503, UNAVAILABLE)
        log.error(
            "object store answered HTTP %s (%s bytes) for a range of %s bytes",
            status,
            source.content_length,
            length,
        )
        raise self._failed("refused", 502, f"the object store refused the download (HTTP {status})")

    def _failed(self, outcome: str, status: int, message: str) -> ApiError:
        self.fetches.labels(outcome).inc()
        headers = {"Retry-After": "5"} if status == 503 else None
        return ApiError(status, message, headers=headers)


FETCHER: web.AppKey[Fetcher] = web.AppKey("direct_fetcher", Fetcher)
OFFERED: web.RequestKey[bool] = web.RequestKey("direct_fetch_offered", bool)


def install(app: web.Application) -> None:
    """Fetch downloads from the object store, unless ``direct_downloads`` is off."""
    if not app[SETTINGS].direct_downloads:
        return
    app[FETCHER] = Fetcher(app[METRICS].registry)
    app.cleanup_ctx.append(_session)


async def _session(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    fetcher = app[FETCHER]
    fetcher.session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=CONNECTIONS, limit_per_host=CONNECTIONS),
        timeout=aiohttp.ClientTimeout(
            total=None,
            sock_connect=settings.upstream_connect_timeout,
            sock_read=settings.upstream_read_timeout,
        ),
        auto_decompress=False,
    )
    yield
    await fetcher.session.close()
    fetcher.session = None


def offer(request: web.Request, service: str) -> dict[str, str]:
    """Headers offering the service to fetch this request's download (none if it may not)."""
    fetcher = request.app.get(FETCHER)
    if fetcher is None or fetcher.session is None or service != SERVICE:
        return {}
    if request.method != "GET":
        return {}
    request[OFFERED] = True
    return {OFFER_HEADER: "1"}


def wants_fetch(upstream: aiohttp.ClientResponse) -> bool:
    return URL_HEADER in upstream.headers


async def serve(
    request: web.Request,
    upstream: aiohttp.ClientResponse,
    headers: CIMultiDict[str],
) -> web.StreamResponse:
    """Answer with ``upstream``'s status and ``headers`` and the bytes its fetch URL names."""
    fetcher = request.app.get(FETCHER)
    url = upstream.headers.get(URL_HEADER, "")
    wanted = parse_range(upstream.headers.get(RANGE_HEADER, ""))
    followable = (
        request.get(OFFERED, False)
        and fetcher is not None
        and wanted is not None
        and upstream.status in (200, 206)
        and URL(url, encoded=True).scheme in ("http", "https")
    )
    if not followable:
        log.error("the %s service answered with a fetch URL the gateway cannot follow", SERVICE)
        raise ApiError(502, f"the {SERVICE} service's answer could not be completed")
    assert fetcher is not None and wanted is not None
    upstream.release()  # its body is empty
    offset, length = wanted
    source = await fetcher.open(url, offset, length)
    async with source:
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        response.headers.extend(headers)
        response.content_length = length
        sent = 0
        try:
            await response.prepare(request)
            # readchunk: each piece as the parser made it, never joined (a copy less).
            while True:
                chunk, _ = await source.content.readchunk()
                if not chunk:
                    break
                await response.write(chunk)
                sent += len(chunk)
        except (TimeoutError, aiohttp.ClientError, asyncio.IncompleteReadError) as exc:
            log.warning("object store fetch broke after %s of %s bytes: %s", sent, length, exc)
            fetcher.fetches.labels("broken").inc()
            fetcher.bytes.inc(sent)
            if request.transport is not None:
                request.transport.close()
            return response
        fetcher.fetches.labels("streamed").inc()
        fetcher.bytes.inc(sent)
        await response.write_eof()
        return response
