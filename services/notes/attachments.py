"""TheHive log attachments: streamed to the documents service, which stores them.

The notes service keeps only TheHive's attachment object
``{name, hashes: [sha256, sha1, md5], size, contentType, id}``; the bytes go
straight from the client's multipart part to the documents service's internal
endpoint, chunk by chunk, never whole in memory here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import BodyPartReader, web

from casemesh.identity import IDENTITY_HEADER, SIGNATURE_HEADER
from casemesh.internal import internal_headers
from casemesh.settings import Settings

CHUNK = 256 * 1024
# Slow uploads are fine; a silent documents service is not.
TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=60)

# Documents' answer -> (TheHive error type) for the caller.
ERROR_TYPES = {
    401: "AuthenticationError",
    403: "AuthorizationError",
    404: "NotFoundError",
    413: "BadRequest",
}


class AttachmentRefused(Exception):
    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


class AttachmentsClient:
    def __init__(self, settings: Settings, session: aiohttp.ClientSession) -> None:
        self._url = settings.documents_url.rstrip("/") + "/internal/v1/attachments"
        self._internal = internal_headers(settings)
        self._session = session

    async def upload(
        self, request: web.Request, part: BodyPartReader, *, name: str, app_uid: str, task_id: str
    ) -> dict:
        """Stream ``part`` to the documents service; TheHive's attachment object back."""
        headers = {**self._internal, "Content-Type": "application/octet-stream"}
        for header in (IDENTITY_HEADER, SIGNATURE_HEADER):  # act as the caller
            if header in request.headers:
                headers[header] = request.headers[header]
        params = {"app_uid": app_uid, "task": task_id, "name": name}
        try:
            async with self._session.post(
                self._url, params=params, data=_chunks(part), headers=headers, timeout=TIMEOUT
            ) as response:
                body = await response.json(content_type=None)
                if response.status == 201:
                    return body
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise AttachmentRefused(
                503, "ServiceUnavailable", f"the documents service cannot store the file: {exc}"
            ) from None
        message = body.get("message", "the documents service refused the file")
        kind = ERROR_TYPES.get(response.status, "ServiceUnavailable")
        raise AttachmentRefused(response.status if response.status < 500 else 503, kind, message)


async def _chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(CHUNK):
        yield chunk


ATTACHMENTS: web.AppKey[AttachmentsClient] = web.AppKey("attachments", AttachmentsClient)


def client_context(settings: Settings):
    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            app[ATTACHMENTS] = AttachmentsClient(settings, session)
            yield

    return lifecycle
