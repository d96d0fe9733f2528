"""Reading uploads: multipart parts streamed chunk by chunk, never a whole file in memory.

``translating`` turns the storage failures of an upload into the dialect's
answer: over the size limit, 413 as soon as the limit is crossed (the rest
of the body is read and dropped, up to ``DRAIN_CAP``, so the client sees the
answer instead of a reset); object store down, 503.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from casemesh.settings import Settings
from casemesh.web.errors import ApiError
from casemesh.web.forms import MULTIPART, body_kind
from services.documents.blobs import StoreDown, TooLarge

READ_CHUNK = 256 * 1024
TEXT_LIMIT = 64 * 1024
DRAIN_CAP = 256 * 1024 * 1024
MALFORMED = "the multipart body is malformed"


def upload_limit(settings: Settings, workspace: str) -> int:
    return settings.documents_upload_limits.get(workspace, settings.documents_max_upload)


async def open_multipart(request: web.Request) -> MultipartReader:
    if body_kind(request) != MULTIPART:
        raise ApiError(400, "the body must be multipart/form-data")
    try:
        return await request.multipart()
    except (ValueError, AssertionError, HttpProcessingError):
        raise ApiError(400, MALFORMED) from None


async def parts(reader: MultipartReader) -> AsyncIterator[BodyPartReader]:
    while True:
        try:
            part = await reader.next()
        except (ValueError, AssertionError, HttpProcessingError):
            raise ApiError(400, MALFORMED) from None
        if part is None:
            return
        if not isinstance(part, BodyPartReader):
            raise ApiError(400, "nested multipart bodies are not supported")
        yield part


async def text(part: BodyPartReader) -> str:
    data = bytearray()
    try:
        while chunk := await part.read_chunk(READ_CHUNK):
            data += chunk
            if len(data) > TEXT_LIMIT:
                raise ApiError(400, f"the field {part.name!r} is too long")
    except (ValueError, HttpProcessingError):
        raise ApiError(400, MALFORMED) from None
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, f"the field {part.name!r} is not UTF-8 text") from None


async def chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(READ_CHUNK):
        yield chunk


async def drain(request: web.Request) -> None:
    """Read and drop what is left of the body (bounded), so the answer reaches the client."""
    seen = 0
    with contextlib.suppress(Exception):
        while seen < DRAIN_CAP and (chunk := await request.content.readany()):
            seen += len(chunk)


@contextlib.asynccontextmanager
async def translating(
    request: web.Request, too_large: Callable[[TooLarge], str] = str
) -> AsyncIterator[None]:
    try:
        yield
    except TooLarge as exc:
        await drain(request)
        raise ApiError(413, too_large(exc)) from None
    except StoreDown:
        await drain(request)
        raise ApiError(
            503,
            "the object store is unavailable, so the file was not stored; try again later",
            headers={"Retry-After": "5"},
        ) from None
    except (ValueError, HttpProcessingError) as exc:
        if isinstance(exc, ValueError) and "multipart" not in str(exc).lower():
            raise
        raise ApiError(400, MALFORMED) from None
