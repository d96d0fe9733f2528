"""Streaming a stored file out: Range, ETag (the sha256), RFC 5987 Content-Disposition.

The first chunk is fetched before the answer starts, so an object store that
is down gives a clean 503 rather than a cut-off 200. When the gateway offers
to fetch the bytes itself (``casemesh.direct_fetch``) and the object store
can give a URL, the answer goes out complete but for its body, and the
gateway fetches (and checks) the bytes instead.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from aiohttp import web

from casemesh.direct_fetch import (
    OFFER_HEADER,
    RANGE_HEADER,
    URL_HEADER,
    URL_LIFETIME,
    format_range,
)
from casemesh.objects.port import ObjectNotFound, ObjectStore, ObjectStoreError
from casemesh.web.errors import ApiError

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def content_disposition(filename: str, kind: str = "attachment") -> str:
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, length) of a single satisfiable range, None for the whole file; 416 if bad."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None  # several ranges or another unit: send the whole file
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        length = min(int(last), size)
        if length == 0:
            raise _unsatisfiable(size)
        return size - length, length
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise _unsatisfiable(size)
    return start, end - start + 1


def _unsatisfiable(size: int) -> ApiError:
    return ApiError(
        416, "the requested range is not satisfiable", headers={"Content-Range": f"bytes */{size}"}
    )


async def send_file(
    request: web.Request, objects: ObjectStore, file: dict, *, filename: str | None = None
) -> web.StreamResponse:
    """Stream ``file`` (a record's file entry) honouring Range, If-None-Match and If-Range."""
    size, etag = file["size"], f'"{file["sha256"]}"'
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Content-Disposition": content_disposition(filename or file["filename"]),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-cache",
    }
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    wanted = None
    if_range = request.headers.get("If-Range")
    if if_range is None or if_range == etag:
        wanted = byte_range(request.headers.get("Range"), size)
    offset, length = wanted if wanted else (0, size)
    if length and request.method == "GET" and OFFER_HEADER in request.headers:
        url = await _direct_url(objects, file["key"])
        if url is not None:
            return _handed_over(file, headers, wanted, size, url, offset, length)
    # A HEAD answers from the record alone: its answer has no body to read.
    reading = length and request.method != "HEAD"
    body = objects.get(file["key"], offset=offset, length=length) if reading else None
    first = b""
    if body is not None:
        try:
            first = await anext(body, b"")
        except ObjectNotFound:
            raise ApiError(404, "the file's content is missing from the object store") from None
        except ObjectStoreError:
            raise ApiError(
                503, "the object store is unavailable", headers={"Retry-After": "5"}
            ) from None
    response = web.StreamResponse(status=206 if wanted else 200, headers=headers)
    response.content_type = file["content_type"]
    response.content_length = length
    if wanted:
        response.headers["Content-Range"] = _content_range(offset, length, size)
    await response.prepare(request)
    if first:
        await response.write(first)
    if body is not None:
        async for chunk in body:
            await response.write(chunk)
    await response.write_eof()
    return response


def _content_range(offset: int, length: int, size: int) -> str:
    return f"bytes {offset}-{offset + length - 1}/{size}"


async def _direct_url(objects: ObjectStore, key: str) -> str | None:
    try:
        return await objects.direct_url(key, expires=URL_LIFETIME)
    except ObjectStoreError:
        return None  # stream it ourselves, which reports the store's state properly


def _handed_over(
    file: dict,
    headers: dict[str, str],
    wanted: tuple[int, int] | None,
    size: int,
    url: str,
    offset: int,
    length: int,
) -> web.Response:
    """The final answer without its body: the gateway fetches the bytes from ``url``.

    The wire Content-Length is 0 (the body is empty); the gateway sets the
    real one from ``RANGE_HEADER``.
    """
    response = web.Response(status=206 if wanted else 200, headers=headers)
    response.content_type = file["content_type"]
    if wanted:
        response.headers["Content-Range"] = _content_range(offset, length, size)
    response.headers[URL_HEADER] = url
    response.headers[RANGE_HEADER] = format_range(offset, length)
    return response
