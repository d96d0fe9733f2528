"""S3 object store on the synchronous ``minio`` SDK.

Every blocking SDK call runs in a bounded thread pool so the event loop never
waits on the network. Bodies are streamed both ways:

- **put**: the event loop gathers the source's chunks into parts of
  ``part_size`` bytes (one copy); a source that ends within the first part
  is stored with one PUT, a longer one as a multipart upload whose parts go
  to the pool whole (one thread hop per part, not per chunk),
  ``parallel_parts`` at a time, while the loop fills the next part. An
  upload holds ``parallel_parts + 1`` part buffers at most, and reuses them.
  The multipart calls are the SDK's own (``_create_multipart_upload``,
  ``_upload_part``, ...; minio 7.2, pinned in ``uv.lock``): its public
  ``put_object`` reads a stream of unknown length a byte ahead, copies every
  part twice more and needs a thread blocked on the source for the whole
  upload. A failed, cancelled or over-long upload is aborted, so S3 keeps
  nothing of it. Parts go with ``UNSIGNED-PAYLOAD`` (``_UnsignedPayloadMinio``:
  the trade-off is there).
- **get**: ``READ_SIZE`` (1 MiB) per thread hop, one read ahead of the
  consumer, so reading from S3 overlaps with whatever the consumer does.
- **direct_url**: a presigned GET, so that the gateway can fetch a download
  itself (``casemesh.direct_fetch``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import io
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import urllib3
from minio import Minio
from minio.datatypes import Part
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError

from casemesh.objects.port import (
    READ_SIZE,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    ObjectStoreError,
    ObjectStoreUnavailable,
    check_key,
)

if TYPE_CHECKING:
    from casemesh.settings import Settings

T = TypeVar("T")

MIN_PART_SIZE = 5 * 1024 * 1024
DEFAULT_PART_SIZE = 8 * 1024 * 1024
# Parts of one upload in flight at once (the SDK's put_object sends 3): the
# server stores them in parallel, which is most of an upload's cost.
PARALLEL_PARTS = 2
_MISSING_CODES = {"NoSuchKey", "NoSuchObject", "NotFound"}


def _http_client(*, connect: float, read: float, retries: int) -> urllib3.PoolManager:
    # Short connect timeout and few retries: a dead server must fail in
    # seconds, not after minio's default 5 minutes x 5 retries.
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=connect, read=read),
        maxsize=16,
        retries=urllib3.Retry(
            total=retries,
            connect=retries,
            read=retries,
            backoff_factor=0.2,
            status_forcelist=[500, 502, 503, 504],
        ),
    )


@contextlib.contextmanager
def _mapped_errors(key: str | None = None) -> Iterator[None]:
    """Translate SDK/transport errors into the port's exceptions."""
    try:
        yield
    except S3Error as exc:
        if exc.code in _MISSING_CODES and key is not None:
            raise ObjectNotFound(key) from exc
        status = exc.response.status if exc.response is not None else 0
        if status >= 500:
            raise ObjectStoreUnavailable(f"S3 error {exc.code}: {exc.message}") from exc
        raise ObjectStoreError(f"S3 error {exc.code}: {exc.message}") from exc
    except ServerError as exc:
        raise ObjectStoreUnavailable(str(exc)) from exc
    except InvalidResponseError as exc:
        raise ObjectStoreUnavailable(str(exc)) from exc
    except MinioException as exc:
        raise ObjectStoreError(str(exc)) from exc
    except (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError) as exc:
        raise ObjectStoreUnavailable(f"S3 endpoint unreachable: {exc}") from exc


class _UnsignedPayloadMinio(Minio):
    """The SDK for upload parts: their bytes are not hashed into the request's signature.

    On plain HTTP minio signs a SHA-256 of every body; S3 also takes
    ``x-amz-content-sha256: UNSIGNED-PAYLOAD``, which minio itself sends on
    HTTPS (adding a Content-MD5, which costs more than the SHA-256: not sent
    here). The documents benchmark's upload went from 5.3-5.8 to 4.2-4.4
    CPU-s per GiB in the documents service, and from 0.69-0.74 to 0.76-0.78
    of a direct upload's throughput.

    The trade-off: S3 no longer checks that a part arrived as it was sent.
    The bytes rest on TCP's checksum on plain HTTP (TLS on HTTPS); the
    sha256 the documents service records is of what it sent, not of what was
    stored. The request itself (headers, key, upload id) stays signed. A
    cheaper check exists: SeaweedFS verifies ``x-amz-checksum-crc32`` on a
    part (BadDigest when wrong; zlib's CRC-32 costs ~0.25 CPU-s per GiB), but
    AWS then wants ``x-amz-checksum-algorithm`` on the create call and each
    part's checksum in the complete call, which minio 7.2's
    ``_complete_multipart_upload`` cannot send.
    """

    def _build_headers(self, host, headers=None, body=None, creds=None):
        built, date = super()._build_headers(host, headers, None, creds)
        if body is not None:
            built["Content-Length"] = str(len(body))
        if creds:
            built["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
        return built, date


class S3ObjectStore(ObjectStore):
    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        *,
        secure: bool = False,
        region: str = "us-east-1",
        threads: int = 8,
        part_size: int = DEFAULT_PART_SIZE,
        parallel_parts: int = PARALLEL_PARTS,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError("part_size must be at least 5 MiB (S3 multipart minimum)")
        if parallel_parts < 1:
            raise ValueError("parallel_parts must be at least 1")
        self.bucket = bucket
        self.part_size = part_size
        self.parallel_parts = parallel_parts
        self._http = _http_client(connect=3.0, read=60.0, retries=2)
        # A separate client for health checks: tighter timeouts, no retries.
        self._ping_http = _http_client(connect=2.0, read=3.0, retries=0)
        # Passing the region avoids a GetBucketLocation round trip per bucket.
        self._client = Minio(
            endpoint, access_key, secret_key, secure=secure, region=region, http_client=self._http
        )
        self._part_client = _UnsignedPayloadMinio(
            endpoint, access_key, secret_key, secure=secure, region=region, http_client=self._http
        )
        self._ping_client = Minio(
            endpoint,
            access_key,
            secret_key,
            secure=secure,
            region=region,
            http_client=self._ping_http,
        )
        # Uploads get their own pool, so reads never queue behind parts being
        # sent (a thread is taken only once a whole part or object is ready).
        self._executor = concurrent.futures.ThreadPoolExecutor(threads, "s3")
        self._upload_executor = concurrent.futures.ThreadPoolExecutor(threads, "s3-put")

    @classmethod
    def from_settings(cls, settings: Settings) -> S3ObjectStore:
        return cls(
            settings.s3_endpoint,
            settings.s3_access_key,
            settings.s3_secret_key.get_secret_value(),
            settings.s3_bucket,
            secure=settings.s3_secure,
            region=settings.s3_region,
            threads=settings.s3_threads,
            part_size=settings.s3_part_size,
        )

    async def _run(
        self, func: Callable[..., T], *args: Any, key: str | None = None, upload: bool = False
    ) -> T:
        def call() -> T:
            with _mapped_errors(key):
                return func(*args)

        pool = self._upload_executor if upload else self._executor
        return await asyncio.get_running_loop().run_in_executor(pool, call)

    async def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (idempotent, race-safe)."""

        def ensure() -> None:
            if self._client.bucket_exists(self.bucket):
                return
            try:
                self._client.make_bucket(self.bucket)
            except S3Error as exc:
                if exc.code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                    raise

        await self._run(ensure)

    async def put(
        self,
        key: str,
        chunks: AsyncIterator[bytes],
        *,
        length: int | None = None,
        content_type: str = "application/octet-stream",
    ) -> ObjectInfo:
        check_key(key)
        if length is not None and length < 0:
            raise ValueError("length must be >= 0")
        upload = _MultipartUpload(self, key, content_type)
        # The first part grows (most objects are small); once an upload is
        # multipart, parts are filled into part-sized buffers send() recycles.
        part, filled, total = bytearray(), 0, 0
        try:
            async for chunk in chunks:
                total += len(chunk)
                if length is not None and total > length:
                    raise ValueError(f"source yielded more than length={length} bytes")
                view = memoryview(chunk)
                while view:
                    if filled == self.part_size:
                        # A byte beyond a full part: that part is not the last.
                        part, filled = await upload.send(part, filled), 0
                    take = min(self.part_size - filled, len(view))
                    if upload.started:
                        part[filled : filled + take] = view[:take]
                    else:
                        part += view[:take]
                    filled += take
                    view = view[take:]
            if length is not None and total < length:
                raise ValueError(f"source ended after {total} of length={length} bytes")
            if upload.started:
                await upload.send(part, filled)
                await upload.complete()
            else:
                await self._run(self._put_small, key, bytes(part), content_type, upload=True)
        except BaseException:
            # Also on cancellation: S3 must not keep a half-sent upload.
            await asyncio.shield(upload.abort())
            raise
        return ObjectInfo(key=key, size=total, content_type=content_type)

    def _put_small(self, key: str, data: bytes, content_type: str) -> None:
        self._client.put_object(
            self.bucket, key, io.BytesIO(data), len(data), content_type=content_type
        )

    async def get(
        self, key: str, *, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        check_key(key)
        if offset < 0 or (length is not None and length < 0):
            raise ValueError("offset and length must be >= 0")
        if length == 0:
            # minio treats length=0 as "to the end"; answer without a body.
            if await self.stat(key) is None:
                raise ObjectNotFound(key)
            return
        response = await self._run(self._open, key, offset, length or 0, key=key)
        if response is None:
            return  # offset at or past the end: empty range
        loop = asyncio.get_running_loop()
        finished = False

        def read() -> bytes:
            with _mapped_errors(key):
                return response.read(READ_SIZE, decode_content=False)

        # One read ahead in the pool: bounded, and a slow consumer does not
        # pin a pool thread while it is busy elsewhere.
        pending = loop.run_in_executor(self._executor, read)
        try:
            while True:
                # Shielded: a cancelled consumer must not orphan a read that
                # is still using the response we are about to close.
                chunk = await asyncio.shield(pending)
                if not chunk:
                    finished = True
                    break
                pending = loop.run_in_executor(self._executor, read)
                yield chunk
        finally:
            await asyncio.wait([pending])
            if not pending.cancelled():
                pending.exception()  # retrieved: no "exception never retrieved" noise
            await loop.run_in_executor(self._executor, self._release, response, finished)

    def _open(self, key: str, offset: int, length: int) -> Any:
        try:
            return self._client.get_object(self.bucket, key, offset=offset, length=length)
        except S3Error as exc:
            if exc.code == "InvalidRange":
                return None
            raise

    @staticmethod
    def _release(response: Any, finished: bool) -> None:
        # Fully read: return the connection to the pool. Stopped early: close
        # it, since draining a large body would cost more than reconnecting.
        if not finished:
            response.close()
        response.release_conn()

    async def direct_url(self, key: str, *, expires: float) -> str | None:
        check_key(key)
        # Signed locally with the static keys and the configured region: no
        # round trip, ~0.06 ms of CPU, so it runs on the loop.
        with _mapped_errors(key):
            return self._client.presigned_get_object(
                self.bucket, key, expires=timedelta(seconds=max(1, round(expires)))
            )

    async def stat(self, key: str) -> ObjectInfo | None:
        check_key(key)
        try:
            st = await self._run(self._client.stat_object, self.bucket, key, key=key)
        except ObjectNotFound:
            return None
        return ObjectInfo(
            key=key,
            size=st.size or 0,
            content_type=st.content_type or "application/octet-stream",
        )

    async def delete(self, key: str) -> None:
        check_key(key)
        await self._run(self._client.remove_object, self.bucket, key)

    async def ping(self) -> None:
        # Not on the main pool: a health check must not queue behind uploads.
        def probe() -> bool:
            with _mapped_errors():
                return self._ping_client.bucket_exists(self.bucket)

        try:
            exists = await asyncio.wait_for(asyncio.to_thread(probe), timeout=8.0)
        except TimeoutError as exc:
            raise ObjectStoreUnavailable("S3 ping timed out") from exc
        except ObjectStoreUnavailable:
            raise
        except ObjectStoreError as exc:
            raise ObjectStoreUnavailable(str(exc)) from exc
        if not exists:
            raise ObjectStoreUnavailable(f"bucket {self.bucket!r} does not exist")

    async def close(self) -> None:
        for executor in (self._upload_executor, self._executor):
            await asyncio.to_thread(executor.shutdown, wait=True)
        self._http.clear()
        self._ping_http.clear()


class _MultipartUpload:
    """One S3 multipart upload: whole parts sent by the upload pool, a few at a time.

    ``send`` hands a filled buffer over and returns a free one to fill next,
    so an upload holds ``parallel_parts + 1`` part buffers at most.
    """

    def __init__(self, store: S3ObjectStore, key: str, content_type: str) -> None:
        self._store, self._key, self._content_type = store, key, content_type
        self._client = store._client
        self._creating: asyncio.Future[str] | None = None
        self._sending: dict[asyncio.Future[Part], bytearray] = {}
        self._free: list[bytearray] = []
        self._parts: list[Part] = []
        self._number = 0
        self.started = False

    async def send(self, buffer: bytearray, size: int) -> bytearray:
        """Start sending ``buffer[:size]`` as the next part; a free buffer to fill next."""
        self.started = True
        loop = asyncio.get_running_loop()
        pool = self._store._upload_executor
        if self._creating is None:
            self._creating = loop.run_in_executor(pool, self._create)
        # Shielded throughout: if the caller is cancelled, abort() still
        # waits for what is in flight (and learns the upload id).
        upload_id = await asyncio.shield(self._creating)
        while len(self._sending) >= self._store.parallel_parts:
            await self._settle()
        self._number += 1
        data = buffer if size == len(buffer) else memoryview(buffer)[:size]
        sending = loop.run_in_executor(pool, self._send_part, upload_id, data, self._number)
        self._sending[sending] = buffer
        return self._free.pop() if self._free else bytearray(self._store.part_size)

    def _create(self) -> str:
        with _mapped_errors():
            return self._client._create_multipart_upload(
                self._store.bucket, self._key, {"Content-Type": self._content_type}
            )

    def _send_part(self, upload_id: str, data: bytearray | memoryview, number: int) -> Part:
        with _mapped_errors():
            etag = self._store._part_client._upload_part(
                self._store.bucket, self._key, data, None, upload_id, number
            )
        return Part(number, etag)

    async def _settle(self) -> None:
        """Wait until a part in flight is stored; its buffer becomes free."""
        done, _ = await asyncio.wait(list(self._sending), return_when=asyncio.FIRST_COMPLETED)
        for sending in done:
            self._free.append(self._sending.pop(sending))
            self._parts.append(sending.result())

    async def complete(self) -> None:
        while self._sending:
            await self._settle()
        assert self._creating is not None
        await self._store._run(
            self._client._complete_multipart_upload,
            self._store.bucket,
            self._key,
            self._creating.result(),
            sorted(self._parts, key=lambda part: part.part_number),
            upload=True,
        )

    async def abort(self) -> None:
        """Cancel the upload on the server (best effort: S3 expires what this misses)."""
        creating = self._creating
        pending = [*self._sending, *([creating] if creating else [])]
        if pending:
            await asyncio.wait(pending)
        for future in pending:
            if not future.cancelled():
                future.exception()  # retrieved: no "never retrieved" noise
        self._sending.clear()
        if creating is None or creating.cancelled() or creating.exception() is not None:
            return
        with contextlib.suppress(ObjectStoreError):
            await self._store._run(
                self._client._abort_multipart_upload,
                self._store.bucket,
                self._key,
                creating.result(),
                upload=True,
            )
