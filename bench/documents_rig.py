"""The ``documents`` benchmark's rig: the bytes, the meter, the S3 server, the API client.

Used by ``bench_documents`` (large file) and ``documents_small`` (4 KiB
uploads); see ``bench_documents`` for what is measured.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import urllib3
from minio import Minio

from bench.rss import current_rss_kib, peak_rss_kib
from casemesh.identity import Identity, identity_headers
from gateway.auth import AUTHENTICATE_PATH, INTERNAL_HEADER
from tests.fixtures.seaweedfs import PORT_NAMES, SeaweedFS, find_weed, free_ports

MIB = 1024 * 1024
MB = 1_000_000
WORKSPACE = "workflow"
BUCKET = "casemesh-bench"
SEED = 20261122
BASE_SPAN = 8 * MIB
STRIDE = 1_048_583  # prime, a little over 1 MiB: successive chunks are different windows


# --- the bytes ---------------------------------------------------------------


class Pattern:
    """``size`` bytes of a fixed pseudo-random pattern, produced piece by piece.

    Chunk ``i`` (of ``chunk`` bytes) is the window of a random 8 MiB block
    starting at ``i * STRIDE mod 8 MiB``: nothing repeats at a short period
    and nothing but the block (8 MiB + one chunk) is ever held.
    """

    def __init__(self, size: int, seed: int, chunk: int = MIB) -> None:
        self.size, self.chunk = size, chunk
        self.base = random.Random(seed).randbytes(BASE_SPAN + chunk)

    def piece(self, pos: int, n: int) -> bytes:
        """Up to ``n`` bytes from ``pos``, not crossing a chunk boundary."""
        index, offset = divmod(pos, self.chunk)
        start = (index * STRIDE) % BASE_SPAN + offset
        n = min(n, self.chunk - offset, self.size - pos)
        return self.base[start : start + n]

    async def chunks(self, digest: hashlib._Hash) -> AsyncIterator[bytes]:
        pos = 0
        while pos < self.size:
            data = self.piece(pos, self.chunk)
            digest.update(data)
            pos += len(data)
            yield data

    def reader(self, digest: hashlib._Hash) -> PatternReader:
        return PatternReader(self, digest)


class PatternReader:
    """A file-like of a ``Pattern`` for minio: ``read(n)``, hashing what it hands out."""

    def __init__(self, pattern: Pattern, digest: hashlib._Hash) -> None:
        self.pattern, self.digest, self.pos = pattern, digest, 0

    def read(self, n: int = -1) -> bytes:
        left = self.pattern.size - self.pos
        n = left if n is None or n < 0 else min(n, left)
        pieces = []
        while n > 0:
            data = self.pattern.piece(self.pos, n)
            pieces.append(data)
            self.pos += len(data)
            n -= len(data)
        data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        self.digest.update(data)
        return data


def multipart(fields: dict[str, str], filename: str) -> tuple[str, bytes, bytes]:
    """(content type, bytes before the file, bytes after it) of a form-data body."""
    boundary = f"casemesh-bench-{uuid.uuid4().hex}"
    head = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    )
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="form"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    )
    return (
        f"multipart/form-data; boundary={boundary}",
        head.encode(),
        f"\r\n--{boundary}--\r\n".encode(),
    )


# --- measuring ---------------------------------------------------------------


def cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM to the current RSS (``echo 5 > /proc/PID/clear_refs``, Linux >= 4.0)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class Meter:
    """Wall time, CPU of every watched process, peak RSS growth of some of them."""

    def __init__(self, cpu_pids: dict[str, int], rss_pids: dict[str, int]) -> None:
        self.cpu_pids, self.rss_pids = cpu_pids, rss_pids
        self.max_peak_kib: dict[str, int] = {}
        self.baseline_kib: dict[str, int | None] = {}

    def mark_baseline(self) -> None:
        """RSS now: ``over_baseline`` is every later peak against it."""
        self.baseline_kib = {name: current_rss_kib(pid) for name, pid in self.rss_pids.items()}
        self.max_peak_kib = {}

    def over_baseline(self) -> dict[str, float | None]:
        """Highest peak RSS seen by ``stop`` since ``mark_baseline``, minus that baseline (MiB)."""
        out = {}
        for name in self.rss_pids:
            peak, base = self.max_peak_kib.get(name), self.baseline_kib.get(name)
            out[name] = None if peak is None or base is None else round((peak - base) / 1024, 1)
        return out

    def start(self) -> None:
        self.reset = {name: reset_peak_rss(pid) for name, pid in self.rss_pids.items()}
        self.rss_before = {name: current_rss_kib(pid) for name, pid in self.rss_pids.items()}
        self.cpu_before = {name: cpu_seconds(pid) for name, pid in self.cpu_pids.items()}
        self.harness_before = time.process_time()
        self.started = time.perf_counter()

    def stop(self) -> dict:
        seconds = time.perf_counter() - self.started
        cpu = {"harness": time.process_time() - self.harness_before}
        for name, pid in self.cpu_pids.items():
            now, before = cpu_seconds(pid), self.cpu_before[name]
            cpu[name] = None if now is None or before is None else now - before
        growth = {}
        for name, pid in self.rss_pids.items():
            peak, before = peak_rss_kib(pid), self.rss_before[name]
            if peak is not None:
                self.max_peak_kib[name] = max(peak, self.max_peak_kib.get(name, 0))
            growth[name] = None if peak is None or before is None else (peak - before) / 1024
        return {
            "seconds": seconds,
            "cpu_s": {k: None if v is None else round(v, 2) for k, v in cpu.items()},
            "rss_growth_mib": {k: None if v is None else round(v, 1) for k, v in growth.items()},
            "rss_before_mib": {
                k: None if v is None else round(v / 1024, 1) for k, v in self.rss_before.items()
            },
            "peak_reset": all(self.reset.values()),
        }


# --- S3 ----------------------------------------------------------------------


class BenchSeaweedFS(SeaweedFS):
    """The tests' SeaweedFS with room for gigabytes (the tests cap it at 100 x 64 MB volumes)."""

    def command(self) -> list[str]:
        replace = {
            "-master.volumeSizeLimitMB=": "-master.volumeSizeLimitMB=1024",
            "-volume.max=": "-volume.max=0",  # 0: as many as the free disk allows
        }
        out = []
        for word in super().command():
            prefix = next((p for p in replace if word.startswith(p)), None)
            out.append(replace[prefix] if prefix else word)
        return out


@contextlib.contextmanager
def seaweedfs(keep: bool):
    binary = find_weed()
    if binary is None:
        raise SystemExit("documents: the SeaweedFS binary 'weed' is not installed (`uv sync`)")
    data_dir = Path(tempfile.mkdtemp(prefix="casemesh-bench-weed-"))
    server = BenchSeaweedFS(
        binary=binary,
        data_dir=data_dir,
        ports=dict(zip(PORT_NAMES, free_ports(len(PORT_NAMES)), strict=True)),
        access_key="casemesh-bench",
        bucket=BUCKET,
    )
    failed = False
    try:
        started = time.monotonic()
        server.start(timeout=90)
        print(
            f"seaweedfs: S3 at {server.endpoint} ready in {time.monotonic() - started:.1f}s "
            f"(pid {server.process.pid}, data {data_dir})",
            flush=True,
        )
        yield server
    except BaseException:
        failed = True
        raise
    finally:
        server.stop(grace=2)
        if failed or keep:
            print(f"  seaweedfs data and log kept in {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


def minio_client(server: SeaweedFS, connections: int) -> tuple[Minio, urllib3.PoolManager]:
    http = urllib3.PoolManager(
        maxsize=connections,
        timeout=urllib3.Timeout(connect=5.0, read=120.0),
        retries=urllib3.Retry(total=0),
    )
    client = Minio(
        server.endpoint,
        server.access_key,
        server.secret_key,
        secure=False,
        region=server.region,
        http_client=http,
    )
    return client, http


# --- the API -----------------------------------------------------------------


class Api:
    """The ProcessMaker API of the gateway (Bearer token), or of the documents service itself."""

    def __init__(self, url: str, session: aiohttp.ClientSession, auth: dict[str, str]) -> None:
        self.url, self.session, self.auth = url, session, auth
        self.api = f"{self.url}/api/1.0/{WORKSPACE}"

    async def new_case(self, process: str, task: str) -> str:
        body = {"pro_uid": process, "tas_uid": task}
        async with self.session.post(f"{self.api}/cases", json=body, headers=self.auth) as r:
            if r.status != 200:
                raise RuntimeError(f"starting a case failed: HTTP {r.status} {await r.text()}")
            return (await r.json())["app_uid"]

    async def upload(
        self,
        app_uid: str,
        fields: dict[str, str],
        filename: str,
        body: AsyncIterator[bytes] | bytes,
        size: int,
    ) -> dict:
        content_type, head, tail = multipart(fields, filename)

        async def stream() -> AsyncIterator[bytes]:
            yield head
            async for data in body:  # type: ignore[union-attr]
                yield data
            yield tail

        data = head + body + tail if isinstance(body, bytes) else stream()
        headers = {
            **self.auth,
            "Content-Type": content_type,
            "Content-Length": str(len(head) + size + len(tail)),
        }
        url = f"{self.api}/cases/{app_uid}/input-document"
        async with self.session.post(url, data=data, headers=headers) as r:
            text = await r.text()
            if r.status != 200:
                raise UploadFailed(r.status, text[:300])
        return json.loads(text)

    async def download(self, link: str, digest: hashlib._Hash) -> tuple[int, str]:
        path = link[link.index("/api/1.0/") :]
        size = 0
        async with self.session.get(f"{self.url}{path}", headers=self.auth) as r:
            if r.status != 200:
                raise RuntimeError(f"download failed: HTTP {r.status} {await r.text()}")
            async for data in r.content.iter_any():
                digest.update(data)
                size += len(data)
            return size, r.headers.get("ETag", "").strip('"')


async def direct_fetches(session: aiohttp.ClientSession, gateway_url: str) -> dict[str, int]:
    """The gateway's count of downloads it fetched from S3 itself, by outcome (its /metrics)."""
    async with session.get(f"{gateway_url}/metrics") as r:
        text = await r.text()
    metric = r'^casemesh_gateway_direct_fetches_total\{outcome="(\w+)"\} (\S+)$'
    found = re.findall(metric, text, re.M)
    return {outcome: int(float(count)) for outcome, count in found}


async def identity_headers_for(
    session: aiohttp.ClientSession, urls: dict[str, str], token: str, secret: str
) -> dict[str, str]:
    """The signed identity the gateway would add for ``token``: to call a service directly."""
    url = urls["CASEMESH_CASES_URL"] + AUTHENTICATE_PATH
    question = {"scheme": "bearer", "token": token}
    async with session.post(url, json=question, headers={INTERNAL_HEADER: secret}) as r:
        if r.status != 200:
            raise RuntimeError(f"authenticate failed: HTTP {r.status} {await r.text()}")
        identity = Identity.model_validate_json(await r.read())
    return identity_headers(identity, secret)


class UploadFailed(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"HTTP {status}: {text}")
        self.status = status


# --- what a transfer costs ---------------------------------------------------


PATHS = {
    "gateway": ("harness", "gateway", "documents", "cases", "seaweedfs"),
    "documents": ("harness", "documents", "cases", "seaweedfs"),
    "direct": ("harness", "seaweedfs"),
}


def path_cpu(side: str, cpu: dict[str, float | None]) -> float:
    """CPU seconds of the processes a transfer goes through (the others' is background)."""
    return round(sum(cpu.get(name) or 0 for name in PATHS[side]), 2)


def mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(sum(known) / len(known), 2) if known else None
