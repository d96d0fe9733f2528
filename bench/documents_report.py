"""The ``documents`` benchmark's tables (see ``bench_documents``)."""

from __future__ import annotations

import argparse

from bench import format_table
from bench.documents_rig import MIB

RSS_GOAL_MIB = 64
RATIO_GOAL = 0.7


def _cpu(cpu: dict) -> str:
    return ", ".join(f"{k} {v:.1f}" for k, v in cpu.items() if v is not None)


def print_report(report: dict, args: argparse.Namespace) -> None:
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
        fetched = large.get("gateway_direct_fetches")
        if fetched is not None:
            print(
                "downloads the gateway fetched from S3 itself (warm-up included): "
                + (", ".join(f"{k} {v}" for k, v in fetched.items()) or "none")
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
