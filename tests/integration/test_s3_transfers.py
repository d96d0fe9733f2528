"""How the S3 adapter uploads (on a real SeaweedFS): parts sent whole, a
bounded number at a time, small objects in one PUT, aborted uploads cleaned
up on the server, a bounded number of parts in memory. What every adapter does, downloads in
``READ_SIZE`` pieces included, is in ``test_object_store_contract.py``."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import tracemalloc
import uuid
from collections.abc import AsyncIterator

import pytest
import urllib3

from casemesh.objects.s3 import S3ObjectStore

pytestmark = pytest.mark.s3

KiB = 1024
MiB = 1024 * KiB
PART = 5 * MiB


@pytest.fixture
async def s3(s3_server) -> AsyncIterator[S3ObjectStore]:
    store = S3ObjectStore(
        s3_server.endpoint,
        s3_server.access_key,
        s3_server.secret_key,
        s3_server.bucket,
        region=s3_server.region,
        threads=4,
        part_size=PART,
    )
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def prefix() -> str:
    return f"x-{uuid.uuid4().hex[:12]}"


class Spy:
    """Records the SDK calls the adapter makes, and how many parts are sent at once."""

    def __init__(
        self, store: S3ObjectStore, monkeypatch: pytest.MonkeyPatch, part_delay: float = 0
    ) -> None:
        self.calls: list[str] = []
        self.parts: dict[int, int] = {}  # part number -> size
        self.most_parts_at_once = 0
        self._now = 0
        self._delay = part_delay
        self._lock = threading.Lock()
        for client, name in (
            (store._client, "put_object"),
            (store._client, "_create_multipart_upload"),
            (store._part_client, "_upload_part"),
        ):
            monkeypatch.setattr(client, name, self._wrap(name, getattr(client, name)))

    def _wrap(self, name, method):
        def call(*args, **kwargs):
            with self._lock:
                self.calls.append(name)
            if name != "_upload_part":
                return method(*args, **kwargs)
            with self._lock:
                self.parts[args[5]] = len(args[2])
                self._now += 1
                self.most_parts_at_once = max(self.most_parts_at_once, self._now)
            try:
                time.sleep(self._delay)  # a slow server: the next part is ready meanwhile
                return method(*args, **kwargs)
            finally:
                with self._lock:
                    self._now -= 1

        return call


async def chunks(data: bytes, size: int = 64 * KiB) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]
        await asyncio.sleep(0)


def pending_uploads(s3_server, key: str) -> list[str]:
    http = urllib3.PoolManager()
    try:
        result = s3_server.client(http)._list_multipart_uploads(s3_server.bucket, prefix=key)
        return [upload.upload_id for upload in result.uploads]
    finally:
        http.clear()


async def read_pieces(store: S3ObjectStore, key: str, **kwargs) -> list[bytes]:
    return [piece async for piece in store.get(key, **kwargs)]


async def test_parts_go_whole_and_a_few_at_a_time(s3, prefix, monkeypatch):
    assert s3.parallel_parts >= 2
    spy = Spy(s3, monkeypatch, part_delay=0.3)
    data = os.urandom(4 * PART + 123)
    await s3.put(f"{prefix}/five", chunks(data, 100 * KiB + 1))
    assert spy.calls == ["_create_multipart_upload"] + ["_upload_part"] * 5
    assert spy.parts == {1: PART, 2: PART, 3: PART, 4: PART, 5: 123}
    assert spy.most_parts_at_once == s3.parallel_parts
    assert b"".join(await read_pieces(s3, f"{prefix}/five")) == data


async def test_one_part_at_a_time_when_asked(s3_server, prefix, monkeypatch):
    store = S3ObjectStore(
        s3_server.endpoint,
        s3_server.access_key,
        s3_server.secret_key,
        s3_server.bucket,
        region=s3_server.region,
        part_size=PART,
        parallel_parts=1,
    )
    try:
        spy = Spy(store, monkeypatch, part_delay=0.1)
        data = os.urandom(3 * PART + 1)
        await store.put(f"{prefix}/serial", chunks(data))
        assert spy.most_parts_at_once == 1
        assert spy.parts == {1: PART, 2: PART, 3: PART, 4: 1}
        assert b"".join(await read_pieces(store, f"{prefix}/serial")) == data
    finally:
        await store.close()


async def test_parts_are_sent_unsigned_and_the_rest_signed(s3, prefix, monkeypatch):
    sent: list[tuple[str, str, dict]] = []
    urlopen = s3._http.urlopen  # the adapter's own connection pool, to the real server

    def recording(method, url, *args, **kwargs):
        sent.append((method, url, dict(kwargs.get("headers") or {})))
        return urlopen(method, url, *args, **kwargs)

    monkeypatch.setattr(s3._http, "urlopen", recording)
    data = os.urandom(2 * PART + 5)
    await s3.put(f"{prefix}/two", chunks(data))
    parts = [h for m, url, h in sent if m == "PUT" and "partNumber=" in url]
    assert len(parts) == 3
    for headers in parts:
        assert headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
        assert "Content-MD5" not in headers
        assert "Authorization" in headers  # the request itself stays signed
    assert sorted(int(h["Content-Length"]) for h in parts) == [5, PART, PART]
    others = [h for m, url, h in sent if "partNumber=" not in url]
    assert others and all(len(h["x-amz-content-sha256"]) == 64 for h in others)  # sha256 hex
    assert b"".join(await read_pieces(s3, f"{prefix}/two")) == data


@pytest.mark.parametrize("size", [0, 4 * KiB, PART], ids=["empty", "small", "exactly-a-part"])
async def test_up_to_one_part_is_one_put(s3, prefix, monkeypatch, size):
    spy = Spy(s3, monkeypatch)
    data = os.urandom(size)
    info = await s3.put(f"{prefix}/one", chunks(data), content_type="text/plain")
    assert spy.calls == ["put_object"]
    assert info.size == size
    assert b"".join(await read_pieces(s3, f"{prefix}/one")) == data
    assert (await s3.stat(f"{prefix}/one")).content_type == "text/plain"


async def test_failed_source_aborts_the_multipart_upload(s3, s3_server, prefix):
    key = f"{prefix}/broken"

    async def broken() -> AsyncIterator[bytes]:
        async for chunk in chunks(os.urandom(2 * PART + 10)):
            yield chunk
        raise RuntimeError("client went away")

    with pytest.raises(RuntimeError, match="went away"):
        await s3.put(key, broken())
    assert await s3.stat(key) is None
    assert pending_uploads(s3_server, key) == []


async def test_cancelled_upload_is_aborted_on_the_server(s3, s3_server, prefix):
    key = f"{prefix}/cancelled"
    sent = asyncio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        async for chunk in chunks(os.urandom(PART + 1)):
            yield chunk  # the byte past the first part sends it
        sent.set()
        await asyncio.Event().wait()
        yield b""

    task = asyncio.create_task(s3.put(key, stalls()))
    await asyncio.wait_for(sent.wait(), 30)
    await asyncio.sleep(0.2)  # the first part is on its way (or stored)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 30)
    assert await s3.stat(key) is None
    assert pending_uploads(s3_server, key) == []


async def test_upload_holds_a_bounded_number_of_parts(s3, prefix):
    async def source() -> AsyncIterator[bytes]:
        block = os.urandom(MiB)
        for _ in range(40):
            for i in range(0, MiB, 256 * KiB):
                yield block[i : i + 256 * KiB]
            await asyncio.sleep(0)

    tracemalloc.start()
    try:
        await s3.put(f"{prefix}/forty", source())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (await s3.stat(f"{prefix}/forty")).size == 40 * MiB
    # The parts being sent and the one being filled (~17 MiB with the source's
    # 1.25 MiB and the first part's headroom), not the 40 MiB nor a part more.
    assert peak < (s3.parallel_parts + 2) * PART, f"peak {peak / MiB:.1f} MiB"
