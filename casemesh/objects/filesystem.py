"""Object store in a local folder: the embedded default.

Layout: key ``a/b/c`` lives at ``<root>/a/b/c~data`` with its content type in
``c~meta`` (JSON). ``~`` cannot occur in a key, so object files never clash
with the folders of longer keys (``a/b`` and ``a/b/c`` may both exist, as on
S3) nor with the temp files of uploads in progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from casemesh.objects.port import (
    CHUNK_SIZE,
    READ_SIZE,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    ObjectStoreUnavailable,
    check_key,
)

if TYPE_CHECKING:
    from casemesh.settings import Settings

DEFAULT_CONTENT_TYPE = "application/octet-stream"
WRITE_BUFFER = 4 * CHUNK_SIZE  # batch small chunks into fewer thread hops


class FilesystemObjectStore(ObjectStore):
    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.root = Path(root)
        self.fsync = fsync
        self.root.mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_settings(cls, settings: Settings) -> FilesystemObjectStore:
        return cls(settings.data_dir / "objects")

    def _paths(self, key: str) -> tuple[Path, Path]:
        base = self.root.joinpath(*check_key(key).split("/"))
        return base.with_name(base.name + "~data"), base.with_name(base.name + "~meta")

    async def put(
        self,
        key: str,
        chunks: AsyncIterator[bytes],
        *,
        length: int | None = None,
        content_type: str = DEFAULT_CONTENT_TYPE,
    ) -> ObjectInfo:
        data_path, meta_path = self._paths(key)
        if length is not None and length < 0:
            raise ValueError("length must be >= 0")
        tmp_data = data_path.with_name(f".{data_path.name}.{uuid.uuid4().hex}.tmp")
        tmp_meta = meta_path.with_name(f".{meta_path.name}.{uuid.uuid4().hex}.tmp")
        await asyncio.to_thread(data_path.parent.mkdir, parents=True, exist_ok=True)
        file = await asyncio.to_thread(open, tmp_data, "xb")
        size = 0
        try:
            try:
                buffer: list[bytes] = []
                buffered = 0
                async for chunk in chunks:
                    size += len(chunk)
                    if length is not None and size > length:
                        raise ValueError(f"source yielded more than length={length} bytes")
                    buffer.append(bytes(chunk))
                    buffered += len(chunk)
                    if buffered >= WRITE_BUFFER:
                        await asyncio.to_thread(file.write, b"".join(buffer))
                        buffer, buffered = [], 0
                if length is not None and size != length:
                    raise ValueError(f"source ended after {size} of length={length} bytes")
                await asyncio.to_thread(self._finish_file, file, b"".join(buffer))
            finally:
                await asyncio.to_thread(file.close)
            meta = json.dumps({"content_type": content_type}).encode()
            await asyncio.to_thread(self._write_small, tmp_meta, meta)
            # Meta first, data last: the data file's appearance is the commit.
            await asyncio.to_thread(os.replace, tmp_meta, meta_path)
            await asyncio.to_thread(os.replace, tmp_data, data_path)
        except BaseException:
            # Also on cancellation: never leave a partial object or temp file.
            for tmp in (tmp_data, tmp_meta):
                with contextlib.suppress(OSError):
                    tmp.unlink()
            raise
        if self.fsync:
            await asyncio.to_thread(_fsync_dir, data_path.parent)
        return ObjectInfo(key=key, size=size, content_type=content_type)

    def _finish_file(self, file: BinaryIO, tail: bytes) -> None:
        file.write(tail)
        file.flush()
        if self.fsync:
            os.fsync(file.fileno())

    def _write_small(self, path: Path, data: bytes) -> None:
        with open(path, "xb") as f:
            self._finish_file(f, data)

    async def get(
        self, key: str, *, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        data_path, _ = self._paths(key)
        if offset < 0 or (length is not None and length < 0):
            raise ValueError("offset and length must be >= 0")
        try:
            file = await asyncio.to_thread(open, data_path, "rb")
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(key) from None
        try:
            await asyncio.to_thread(file.seek, offset)
            remaining = length
            while remaining is None or remaining > 0:
                size = READ_SIZE if remaining is None else min(READ_SIZE, remaining)
                chunk = await asyncio.to_thread(file.read, size)
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        finally:
            file.close()  # read-only close: no flush, cheap enough on the loop

    async def stat(self, key: str) -> ObjectInfo | None:
        data_path, meta_path = self._paths(key)
        return await asyncio.to_thread(self._stat, key, data_path, meta_path)

    @staticmethod
    def _stat(key: str, data_path: Path, meta_path: Path) -> ObjectInfo | None:
        try:
            size = data_path.stat().st_size
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            content_type = json.loads(meta_path.read_bytes())["content_type"]
        except (OSError, ValueError, KeyError):
            content_type = DEFAULT_CONTENT_TYPE
        return ObjectInfo(key=key, size=size, content_type=content_type)

    async def delete(self, key: str) -> None:
        data_path, meta_path = self._paths(key)

        def remove() -> None:
            # Data first, so the object disappears before its metadata. Empty
            # folders stay: pruning them would race with concurrent puts.
            for path in (data_path, meta_path):
                with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                    path.unlink()

        await asyncio.to_thread(remove)

    async def ping(self) -> None:
        ok = await asyncio.to_thread(os.access, self.root, os.W_OK | os.X_OK)
        if not ok:
            raise ObjectStoreUnavailable(f"object folder {self.root} is not writable")

    async def close(self) -> None:
        return None


def _fsync_dir(path: Path) -> None:
    # Make the renames durable too (POSIX only; Windows cannot open folders).
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
