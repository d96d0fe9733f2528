"""S3 object store on the synchronous ``minio`` SDK.

Every blocking SDK call runs in a bounded thread pool so the event loop never
waits on the network. Bodies are streamed both ways: an upload holds at most
one multipart part in memory, a download at most one chunk ahead.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import urllib3
from minio import Minio
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError

from casemesh.objects.port import (
    CHUNK_SIZE,
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


class _SourceReader:
    """File-like view of an async iterator, read from a worker thread.

    ``read(n)`` asks the event loop for one chunk at a time
    (``run_coroutine_threadsafe``), so at most one chunk is in flight and the
    only buffering is the part minio itself assembles.
    """

    def __init__(
        self, chunks: AsyncIterator[bytes], loop: asyncio.AbstractEventLoop, length: int | None
    ) -> None:
        self._iter = aiter(chunks)
        self._loop = loop
        self._length = length
        self._pending = b""
        self._eof = False
        # Guards _aborted/_inflight: abort() (loop thread) must see the
        # request the worker is about to block on, or the worker never wakes.
        self._lock = threading.Lock()
        self._aborted = False
        self._inflight: concurrent.futures.Future[bytes | None] | None = None
        self.total = 0

    async def _next_chunk(self) -> bytes | None:
        try:
            chunk = await anext(self._iter)
        except StopAsyncIteration:
            return None
        return bytes(chunk)

    def _fetch(self) -> bytes | None:
        with self._lock:
            if self._aborted:
                raise ObjectStoreError("upload aborted")
            inflight = asyncio.run_coroutine_threadsafe(self._next_chunk(), self._loop)
            self._inflight = inflight
        try:
            return inflight.result()
        except concurrent.futures.CancelledError:
            raise ObjectStoreError("upload aborted") from None

    def abort(self) -> None:
        """Called from the loop when put() is cancelled: unblock the thread."""
        with self._lock:
            self._aborted = True
            if self._inflight is not None:
                self._inflight.cancel()

    def read(self, size: int = -1) -> bytes:
        # Fill up to ``size`` bytes (minio asks for a whole part) so minio
        # gets one bytes object instead of concatenating 64 KiB pieces.
        if size is None or size < 0:
            size = CHUNK_SIZE
        parts: list[bytes] = []
        have = 0
        while have < size:
            if self._pending:
                piece, self._pending = self._pending[: size - have], self._pending[size - have :]
            else:
                if self._eof:
                    break
                chunk = self._fetch()
                if chunk is None:
                    self._eof = True
                    break
                piece, self._pending = chunk[: size - have], chunk[size - have :]
            parts.append(piece)
            have += len(piece)
        data = b"".join(parts)
        self.total += len(data)
        self._check_length()
        return data

    def _check_length(self) -> None:
        # A declared length must match exactly; raising here makes minio abort
        # the upload instead of storing a truncated or clipped object.
        if self._length is None:
            return
        too_long = ValueError(f"source yielded more than length={self._length} bytes")
        if self.total > self._length or (self.total == self._length and self._pending):
            raise too_long
        if self.total == self._length and not self._eof:
            while (chunk := self._fetch()) is not None:
                if chunk:
                    raise too_long
            self._eof = True
        if self._eof and self.total < self._length:
            raise ValueError(f"source ended after {self.total} of length={self._length} bytes")


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
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError("part_size must be at least 5 MiB (S3 multipart minimum)")
        self.bucket = bucket
        self.part_size = part_size
        self._http = _http_client(connect=3.0, read=60.0, retries=2)
        # A separate client for health checks: tighter timeouts, no retries.
        self._ping_http = _http_client(connect=2.0, read=3.0, retries=0)
        # Passing the region avoids a GetBucketLocation round trip per bucket.
        self._client = Minio(
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
        # Uploads get their own pool: an upload thread waits on its source,
        # and a source that reads this store (get -> put copy) must never
        # starve for the threads those waiting uploads hold.
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

    async def _run(self, func: Callable[..., T], *args: Any, key: str | None = None) -> T:
        def call() -> T:
            with _mapped_errors(key):
                return func(*args)

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

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
        loop = asyncio.get_running_loop()
        source = _SourceReader(chunks, loop, length)

        def upload() -> None:
            with _mapped_errors():
                if length == 0:
                    source.read(1)  # minio won't read at all; still verify EOF
                # num_parallel_uploads=1: one part in memory, no extra threads
                # outside our bounded pool.
                self._client.put_object(
                    self.bucket,
                    key,
                    source,  # type: ignore[arg-type]
                    -1 if length is None else length,
                    content_type=content_type,
                    part_size=self.part_size,
                    num_parallel_uploads=1,
                )

        future = loop.run_in_executor(self._upload_executor, upload)
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            # Let the worker abort the multipart upload before we give up.
            source.abort()
            with contextlib.suppress(Exception):
                await asyncio.shield(future)
            raise
        return ObjectInfo(key=key, size=source.total, content_type=content_type)

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
                return response.read(CHUNK_SIZE, decode_content=False)

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
