"""A password-protected zip written as the bytes come: one entry, AES-256 (WinZip AE-2).

pyzipper writes to an unseekable sink with data descriptors, so the zip
leaves as it is built and never sits whole in memory.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import pyzipper


class _Sink(io.RawIOBase):
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        self.parts.append(bytes(data))
        return len(data)

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        raise OSError("unseekable")

    def take(self) -> bytes:
        out, self.parts = b"".join(self.parts), []
        return out


async def encrypted_zip(
    name: str, chunks: AsyncIterator[bytes], password: bytes
) -> AsyncIterator[bytes]:
    sink = _Sink()
    archive = pyzipper.AESZipFile(
        sink, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
    )
    archive.setpassword(password)
    with archive.open(name, "w", force_zip64=True) as entry:
        async for chunk in chunks:
            entry.write(chunk)
            if out := sink.take():
                yield out
    archive.close()
    yield sink.take()
