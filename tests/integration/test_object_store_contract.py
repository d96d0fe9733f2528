"""The ObjectStore contract, run against the filesystem adapter and against S3
(the minio adapter on a real SeaweedFS server)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import os
import time
import tracemalloc
import uuid
from collections.abc import AsyncIterator

import pytest
import urllib3
import yarl

from casemesh.objects.filesystem import FilesystemObjectStore
from casemesh.objects.port import (
    CHUNK_SIZE,
    READ_SIZE,
    ObjectNotFound,
    ObjectStore,
    ObjectStoreError,
    ObjectStoreUnavailable,
)
from casemesh.objects.s3 import S3ObjectStore
from casemesh.settings import Settings

KiB = 1024
MiB = 1024 * KiB
PART = 5 * MiB


@pytest.fixture(params=["filesystem", pytest.param("s3", marks=pytest.mark.s3)])
async def store(request, tmp_path) -> AsyncIterator[ObjectStore]:
    if request.param == "filesystem":
        adapter: ObjectStore = FilesystemObjectStore(tmp_path / "objects")
    else:
        server = request.getfixturevalue("s3_server")
        adapter = S3ObjectStore(
            server.endpoint,
            server.access_key,
            server.secret_key,
            server.bucket,
            region=server.region,
            threads=4,
            part_size=PART,
        )
        await adapter.ensure_bucket()
    try:
        yield adapter
    finally:
        await adapter.close()


@pytest.fixture
def prefix() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


async def stream(data: bytes, size: int = 64 * KiB) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def pattern(total: int, size: int = 64 * KiB) -> AsyncIterator[bytes]:
    """``total`` pseudo-random bytes without holding them: a rolling window."""
    block = os.urandom(MiB + size)
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        start = sent % MiB
        yield block[start : start + n]
        sent += n
        await asyncio.sleep(0)  # like a network source: yields to the loop


async def read_all(store: ObjectStore, key: str, **kwargs) -> bytes:
    return b"".join([chunk async for chunk in store.get(key, **kwargs)])


async def sha256_of(store: ObjectStore, key: str) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    async for chunk in store.get(key):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_put_get_known_length(store, prefix):
    data = os.urandom(300 * KiB + 7)
    info = await store.put(f"{prefix}/doc.bin", stream(data), length=len(data))
    assert (info.key, info.size) == (f"{prefix}/doc.bin", len(data))
    assert await read_all(store, f"{prefix}/doc.bin") == data


async def test_put_unknown_length_spans_several_parts(store, prefix, request):
    data = os.urandom(12 * MiB + 123)
    key = f"{prefix}/big.bin"
    info = await store.put(key, stream(data), content_type="application/zip")
    assert info.size == len(data)
    assert await sha256_of(store, key) == (hashlib.sha256(data).hexdigest(), len(data))
    if isinstance(store, S3ObjectStore):
        # ETag "<md5>-3": really a three-part multipart upload of 5 MiB parts.
        server = request.getfixturevalue("s3_server")
        http = urllib3.PoolManager()
        try:
            etag = server.client(http).stat_object(server.bucket, key).etag
        finally:
            http.clear()
        assert etag.endswith("-3"), etag


@pytest.mark.parametrize("length", [0, None])
async def test_empty_object(store, prefix, length):
    info = await store.put(f"{prefix}/empty", stream(b""), length=length)
    assert info.size == 0
    assert (await store.stat(f"{prefix}/empty")).size == 0
    assert await read_all(store, f"{prefix}/empty") == b""


@pytest.mark.parametrize(
    ("offset", "length"),
    [
        (0, 10),
        (100, 1000),
        (CHUNK_SIZE - 3, 2 * CHUNK_SIZE + 5),  # crosses chunk boundaries
        (MiB - 5, None),
        (MiB - 5, 100),  # clipped at the end
        (17, None),
        (MiB, None),  # at the end: empty
        (10, 0),
    ],
)
async def test_ranged_get(store, prefix, offset, length):
    data = os.urandom(MiB)
    await store.put(f"{prefix}/r", stream(data), length=len(data))
    end = None if length is None else offset + length
    assert await read_all(store, f"{prefix}/r", offset=offset, length=length) == data[offset:end]


async def test_get_yields_read_size_pieces(store, prefix):
    # One thread hop per piece in both adapters: pieces as large as READ_SIZE.
    data = os.urandom(3 * READ_SIZE + 5)
    await store.put(f"{prefix}/p", stream(data), length=len(data))
    pieces = [piece async for piece in store.get(f"{prefix}/p")]
    assert [len(p) for p in pieces] == [READ_SIZE] * 3 + [5]
    assert b"".join(pieces) == data
    ranged = [p async for p in store.get(f"{prefix}/p", offset=READ_SIZE - 3, length=READ_SIZE + 9)]
    assert [len(p) for p in ranged] == [READ_SIZE, 9]
    assert b"".join(ranged) == data[READ_SIZE - 3 : 2 * READ_SIZE + 6]


async def test_stat_exists_and_content_type(store, prefix):
    key = f"{prefix}/report.pdf"
    assert await store.stat(key) is None
    assert not await store.exists(key)
    await store.put(key, stream(b"%PDF-1.7 ..."), content_type="application/pdf")
    info = await store.stat(key)
    assert (info.key, info.size, info.content_type) == (key, 12, "application/pdf")
    assert await store.exists(key)


async def test_default_content_type(store, prefix):
    await store.put(f"{prefix}/x", stream(b"x"))
    assert (await store.stat(f"{prefix}/x")).content_type == "application/octet-stream"


async def test_overwrite_replaces_bytes_and_type(store, prefix):
    key = f"{prefix}/v"
    await store.put(key, stream(b"first version"), content_type="text/plain")
    await store.put(key, stream(b"<p>2</p>"), content_type="text/html")
    assert await read_all(store, key) == b"<p>2</p>"
    info = await store.stat(key)
    assert (info.size, info.content_type) == (8, "text/html")


async def test_key_and_longer_key_coexist(store, prefix):
    await store.put(f"{prefix}/a", stream(b"short"))
    await store.put(f"{prefix}/a/b", stream(b"long"))
    assert await read_all(store, f"{prefix}/a") == b"short"
    assert await read_all(store, f"{prefix}/a/b") == b"long"


async def test_delete(store, prefix):
    key = f"{prefix}/gone"
    await store.put(key, stream(b"bye"))
    await store.delete(key)
    assert await store.stat(key) is None
    with pytest.raises(ObjectNotFound):
        await read_all(store, key)
    await store.delete(key)  # again: not an error
    await store.delete(f"{prefix}/never-existed")


async def test_get_missing_raises_object_not_found(store, prefix):
    with pytest.raises(ObjectNotFound):
        await read_all(store, f"{prefix}/missing")
    with pytest.raises(ObjectNotFound):
        await read_all(store, f"{prefix}/missing", offset=5, length=0)


@pytest.mark.parametrize(
    "key",
    ["", "/a", "a/", "a//b", "../x", "a/../b", "a b", "caf\u00e9", ".hidden", "a~b", "x" * 129],
)
async def test_invalid_key_rejected(store, key):
    with pytest.raises(ValueError):
        await store.put(key, stream(b"x"))
    with pytest.raises(ValueError):
        await read_all(store, key)
    with pytest.raises(ValueError):
        await store.stat(key)
    with pytest.raises(ValueError):
        await store.delete(key)


@pytest.mark.parametrize("declared", [10, 12])
async def test_length_mismatch_is_rejected_and_stores_nothing(store, prefix, declared):
    with pytest.raises(ValueError, match="length"):
        await store.put(f"{prefix}/m", stream(b"eleven byte"), length=declared)
    assert await store.stat(f"{prefix}/m") is None


@pytest.mark.parametrize("size", [100 * KiB, 7 * MiB], ids=["one-part", "multipart"])
async def test_failing_source_leaves_no_object(store, prefix, size):
    async def broken() -> AsyncIterator[bytes]:
        async for chunk in pattern(size):
            yield chunk
        raise RuntimeError("client went away")

    key = f"{prefix}/partial"
    with pytest.raises(RuntimeError, match="client went away"):
        await store.put(key, broken())
    assert await store.stat(key) is None
    # A failed overwrite keeps the previous version.
    await store.put(key, stream(b"previous"))
    with pytest.raises(RuntimeError, match="client went away"):
        await store.put(key, broken())
    assert await read_all(store, key) == b"previous"
    if isinstance(store, FilesystemObjectStore):
        leftovers = [p.name for p in store.root.rglob("*") if p.is_file()]
        assert sorted(leftovers) == ["partial~data", "partial~meta"]


async def test_cancelled_put_leaves_no_object(store, prefix):
    sent = asyncio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        async for chunk in pattern(6 * MiB):
            yield chunk
        sent.set()
        await asyncio.Event().wait()  # a client that stops sending
        yield b""

    task = asyncio.create_task(store.put(f"{prefix}/c", stalls()))
    await asyncio.wait_for(sent.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 30)
    assert await store.stat(f"{prefix}/c") is None
    await store.put(f"{prefix}/after", stream(b"still works"))
    assert await read_all(store, f"{prefix}/after") == b"still works"


async def test_early_stopped_gets_do_not_leak(store, prefix):
    data = os.urandom(2 * MiB)
    key = f"{prefix}/stream"
    await store.put(key, stream(data), length=len(data))
    await read_all(store, key, length=1)  # warm the connection pool
    before = open_fds()

    async def consume_forever() -> None:
        async for _ in store.get(key):
            await asyncio.Event().wait()  # a client that stops reading

    for i in range(45):
        if i % 3 == 0:
            async with contextlib.aclosing(store.get(key)) as chunks:
                async for first in chunks:
                    assert first == data[: len(first)]
                    break
        elif i % 3 == 1:
            async for _ in store.get(key):
                break  # abandoned: the loop's async-gen finaliser closes it
        else:
            task = asyncio.create_task(consume_forever())
            await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    deadline = time.monotonic() + 5
    while open_fds() > before + 4 and time.monotonic() < deadline:
        gc.collect()
        await asyncio.sleep(0.05)
    assert open_fds() <= before + 4, f"{open_fds() - before} descriptors leaked"
    assert await read_all(store, key) == data


async def test_concurrent_copies_through_get_and_put(store, prefix):
    # Each copy streams a get into a put; more copies than S3 pool threads
    # must not deadlock (uploads wait on their source, reads must still run).
    data = os.urandom(6 * MiB)
    await store.put(f"{prefix}/src", stream(data), length=len(data))

    async def copy(i: int) -> None:
        await store.put(f"{prefix}/copy{i}", store.get(f"{prefix}/src"))

    await asyncio.wait_for(asyncio.gather(*(copy(i) for i in range(6))), 120)
    for i in range(6):
        assert await sha256_of(store, f"{prefix}/copy{i}") == (
            hashlib.sha256(data).hexdigest(),
            len(data),
        )


async def test_large_put_does_not_block_event_loop(store, prefix):
    loop = asyncio.get_running_loop()
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = loop.time()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = loop.time()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    started = loop.time()
    await store.put(f"{prefix}/big", pattern(24 * MiB, size=256 * KiB))
    elapsed = loop.time() - started
    done.set()
    await tick
    assert (await store.stat(f"{prefix}/big")).size == 24 * MiB
    assert max(gaps) < 0.25, f"event loop stalled {max(gaps):.3f}s during put"
    assert len(gaps) >= 0.3 * elapsed / 0.005, f"only {len(gaps)} ticks in {elapsed:.2f}s"


async def test_put_memory_stays_bounded(store, prefix):
    # 40 MiB through the store while Python allocations stay far below it:
    # bytes are streamed, not accumulated (S3 holds about one 5 MiB part).
    tracemalloc.start()
    try:
        await store.put(f"{prefix}/huge", pattern(40 * MiB, size=256 * KiB))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (await store.stat(f"{prefix}/huge")).size == 40 * MiB
    assert peak < 20 * MiB, f"peak {peak / MiB:.1f} MiB"


async def test_ping(store):
    await store.ping()


async def test_direct_url_serves_ranges_and_expires(store, prefix, http):
    data = os.urandom(300 * KiB + 7)
    await store.put(f"{prefix}/doc.bin", stream(data))
    url = await store.direct_url(f"{prefix}/doc.bin", expires=60)
    if isinstance(store, FilesystemObjectStore):
        assert url is None  # nothing to hand over: the service streams the file itself
        return
    assert url is not None
    # Fetched as the gateway does: the query exactly as signed, a Range header.
    async with http.get(yarl.URL(url, encoded=True), headers={"Range": "bytes=1000-1999"}) as r:
        assert r.status == 206
        assert await r.read() == data[1000:2000]
    async with http.get(yarl.URL(url, encoded=True)) as r:
        assert r.status == 200 and await r.read() == data
    # The signature names the key: another key with the same query is refused.
    other = url.replace("/doc.bin?", "/other.bin?")
    await store.put(f"{prefix}/other.bin", stream(b"secret"))
    async with http.get(yarl.URL(other, encoded=True)) as r:
        assert r.status == 403
    expired = await store.direct_url(f"{prefix}/doc.bin", expires=1)
    await asyncio.sleep(2.5)
    async with http.get(yarl.URL(expired, encoded=True)) as r:
        assert r.status == 403
    # No round trip: a missing key gets a URL too, and fetching it says 404.
    missing = await store.direct_url(f"{prefix}/missing", expires=60)
    async with http.get(yarl.URL(missing, encoded=True)) as r:
        assert r.status == 404


@pytest.mark.s3
async def test_s3_from_settings(s3_server, prefix):
    settings = Settings(
        s3_endpoint=s3_server.endpoint,
        s3_access_key=s3_server.access_key,
        s3_secret_key=s3_server.secret_key,
        s3_bucket=s3_server.bucket,
        s3_part_size=PART,
    )
    s3 = S3ObjectStore.from_settings(settings)
    try:
        assert s3.part_size == PART
        await s3.ping()
        await s3.put(f"{prefix}/hello", stream(b"hello"), length=5)
        assert await read_all(s3, f"{prefix}/hello") == b"hello"
    finally:
        await s3.close()


@pytest.mark.s3
async def test_s3_ensure_bucket_creates_missing_bucket(s3_server):
    bucket = f"casemesh-new-{uuid.uuid4().hex[:8]}"
    s3 = S3ObjectStore(
        s3_server.endpoint, s3_server.access_key, s3_server.secret_key, bucket, part_size=PART
    )
    try:
        with pytest.raises(ObjectStoreUnavailable, match="does not exist"):
            await s3.ping()
        await s3.ensure_bucket()
        await s3.ensure_bucket()  # idempotent
        await s3.ping()
        await s3.put("k", stream(b"v"))
        assert await read_all(s3, "k") == b"v"
    finally:
        await s3.close()


@pytest.mark.s3
async def test_s3_wrong_credentials_is_an_error_not_an_outage(s3_server):
    s3 = S3ObjectStore(s3_server.endpoint, s3_server.access_key, "wrong-secret", s3_server.bucket)
    try:
        with pytest.raises(ObjectStoreError) as caught:
            await s3.stat("anything")
        assert not isinstance(caught.value, ObjectStoreUnavailable | ObjectNotFound)
    finally:
        await s3.close()


def test_s3_rejects_small_part_size():
    with pytest.raises(ValueError, match="5 MiB"):
        S3ObjectStore("127.0.0.1:1", "a", "b", "bucket", part_size=4 * MiB)


@pytest.mark.s3
@pytest.mark.slow
async def test_s3_outage_fails_fast_and_recovers(s3_server, prefix):
    s3 = S3ObjectStore(
        s3_server.endpoint,
        s3_server.access_key,
        s3_server.secret_key,
        s3_server.bucket,
        part_size=PART,
    )
    try:
        await s3.put(f"{prefix}/kept", stream(b"survives restarts"))
        await asyncio.to_thread(s3_server.stop, grace=1.0)
        try:
            for operation in (
                lambda: s3.ping(),
                lambda: s3.stat(f"{prefix}/kept"),
                lambda: read_all(s3, f"{prefix}/kept"),
                lambda: s3.put(f"{prefix}/new", stream(b"x")),
            ):
                started = time.monotonic()
                with pytest.raises(ObjectStoreUnavailable):
                    await operation()
                assert time.monotonic() - started < 10
        finally:
            await asyncio.to_thread(s3_server.start)
        await s3.ping()
        assert await read_all(s3, f"{prefix}/kept") == b"survives restarts"
    finally:
        await s3.close()
