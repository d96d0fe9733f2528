"""Size and time limits on what clients send the gateway (docs/limits.md).

- The request head: URL and header sizes are checked before anything else
  (414 / 431 in the dialect's shape). aiohttp's own parser limits, at least
  twice as high (``casemesh.processes.server_options``), stop only what is
  too big to read at all.
- Request bodies: JSON and form routes take ``max_body_size``; the upload
  routes (ProcessMaker input documents, TheHive task logs with an attachment,
  Kibana case files) take the workspace's upload limit plus ``max_body_size``
  for the multipart envelope. A declared ``Content-Length`` over the limit is
  refused with 413 before the body is read (and before ``100 Continue`` is
  sent); a chunked body is counted while it streams.
- Slow bodies: while the proxy streams a body it allows at most
  ``client_body_idle_timeout`` between two pieces and ``client_body_timeout``
  in all; past either the client gets 408 and the connection is closed. (A
  request head that never finishes is cut by the server's keep-alive timer,
  ``client_header_timeout``.)
"""

from __future__ import annotations

import asyncio
import hashlib
import re

from aiohttp import web
from aiohttp.http import HttpVersion11
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from casemesh.settings import Settings
from casemesh.web.errors import ApiError
from casemesh.web.keys import ERROR_FORMATTER, SETTINGS

# Routes whose bodies carry files (they are all POSTs).
UPLOAD_PATHS = re.compile(
    r"^/api/1\.0/[^/]+/cases/[^/]+/input-document/?$"  # ProcessMaker input documents
    r"|^/api/case/task/[^/]+/log$"  # TheHive task logs (multipart with an attachment)
    r"|^(/s/[^/]+)?/api/cases/[^/]+/files$"  # Kibana case files
)
MIB = 1024 * 1024


def is_upload(path: str) -> bool:
    return UPLOAD_PATHS.match(path) is not None


def body_limit(settings: Settings, path: str, workspace: str | None = None) -> int:
    """The largest body (bytes) ``path`` takes; ``workspace`` None: the caller is not known yet."""
    if is_upload(path):
        return settings.upload_limit(workspace) + settings.max_body_size
    return settings.max_body_size


def too_large(limit: int) -> ApiError:
    return ApiError(413, f"the request body is too large: at most {_size(limit)} on this route")


def _size(n: int) -> str:
    return f"{n / MIB:g} MiB ({n} bytes)" if n >= MIB else f"{n} bytes"


def check_declared_length(request: web.Request, limit: int) -> None:
    """413 at once when the declared ``Content-Length`` is over ``limit``."""
    if request.content_length is not None and request.content_length > limit:
        raise too_large(limit)


def refusal(request: web.Request, error: ApiError, *, close: bool = True) -> web.Response:
    """``error`` as the dialect's answer; ``close``: drop the connection after it."""
    response = request.app[ERROR_FORMATTER](request, error.status, error.message)
    response.headers.update(error.headers)
    if close:
        response.force_close()
    return response


async def expect_continue(request: web.Request) -> web.StreamResponse | None:
    """The proxy's ``Expect: 100-continue`` handler: refuse an over-size body before it is sent."""
    limit = body_limit(request.app[SETTINGS], request.path)
    if request.content_length is not None and request.content_length > limit:
        return refusal(request, too_large(limit))
    expect = request.headers.get("Expect", "")
    if request.version == HttpVersion11:
        if expect.lower() != "100-continue":
            return refusal(request, ApiError(417, f"unknown Expect: {expect[:64]}"))
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # the answer's body has not started
    return None


def head_error(settings: Settings, request: web.Request) -> ApiError | None:
    """414 or 431 when the request line or headers are over the configured sizes."""
    url = len(request.raw_path)
    if url > settings.max_url_size:
        return ApiError(
            414, f"the URL is too long: {url} bytes, at most {settings.max_url_size} are accepted"
        )
    headers = request.raw_headers
    if len(headers) > settings.max_headers:
        return ApiError(
            431, f"too many request headers: {len(headers)}, at most {settings.max_headers}"
        )
    total = 0
    for name, value in headers:
        line = len(name) + len(value) + 2
        total += line + 2
        if line > settings.max_header_size:
            shown = name[:64].decode("ascii", "replace")
            return ApiError(
                431,
                f"the request header {shown!r} is too large: {line} bytes, "
                f"at most {settings.max_header_size} per header",
            )
    if total > settings.max_headers_size:
        return ApiError(
            431,
            f"the request headers are too large: {total} bytes, "
            f"at most {settings.max_headers_size} in all",
        )
    return None


@web.middleware
async def check_head(request: web.Request, handler):
    error = head_error(request.app[SETTINGS], request)
    if error is not None:
        return refusal(request, error)
    return await handler(request)


class BodyFailed(Exception):
    """The client's body broke a limit or could not be read; ``error`` says how."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.message)
        self.error = error


class RequestBody:
    """A request's body as the gateway streams it: counted, timed and (on demand) hashed.

    An async iterator of chunks (hand it to the client session as ``data``).
    The first broken limit is kept in ``failure`` and every later read raises
    ``BodyFailed`` with it; reads are serialised, so ``drain`` may finish
    what an abandoned upstream write left.
    """

    def __init__(self, request: web.Request, limit: int, settings: Settings) -> None:
        self._content = request.content
        self._exists = request.body_exists
        self.limit = limit
        self.received = 0
        self.complete = not self._exists
        self.failure: ApiError | None = None
        self._hash: hashlib._Hash | None = None
        self._lock = asyncio.Lock()
        self._idle = settings.client_body_idle_timeout
        self._total = settings.client_body_timeout
        self._deadline = asyncio.get_running_loop().time() + self._total

    @property
    def exists(self) -> bool:
        return self._exists

    def hash_from_start(self) -> None:
        """Hash what is read from now on; only before the first read (Idempotency-Key)."""
        if self.received:
            raise RuntimeError("the body is being read already")
        self._hash = hashlib.sha256()

    def digest(self) -> str:
        """SHA-256 of what has been read so far (the whole body once ``complete``)."""
        if self._hash is None:
            raise RuntimeError("the body is not being hashed")
        return self._hash.hexdigest()

    def __aiter__(self) -> RequestBody:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self.read()
        if not chunk:
            raise StopAsyncIteration
        return chunk

    async def read(self) -> bytes:
        """The next piece of the body; b"" at its end."""
        async with self._lock:
            if self.failure is not None:
                raise BodyFailed(self.failure)
            if self.complete:
                return b""
            chunk = await self._next_chunk()
            if not chunk:
                self.complete = True
                return b""
            self.received += len(chunk)
            if self.received > self.limit:
                raise self._fail(too_large(self.limit))
            if self._hash is not None:
                self._hash.update(chunk)
            return chunk

    async def _next_chunk(self) -> bytes:
        remaining = self._deadline - asyncio.get_running_loop().time()
        try:
            if remaining <= 0:
                raise TimeoutError
            async with asyncio.timeout(min(self._idle, remaining)):
                return await self._content.readany()
        except TimeoutError:
            raise self._fail(
                ApiError(
                    408,
                    "the request body arrived too slowly: at most "
                    f"{self._idle:g} s between two pieces and {self._total:g} s in all",
                )
            ) from None
        except (OSError, HttpProcessingError, RequestPayloadError) as exc:
            raise self._fail(ApiError(400, f"the request body could not be read: {exc}")) from None

    def _fail(self, error: ApiError) -> BodyFailed:
        self.failure = error
        return BodyFailed(error)

    async def drain(self) -> None:
        """Read (and hash) the rest of the body; raises BodyFailed past a limit."""
        while await self.read():
            pass
