"""``python -m bench NAME [options]`` runs one benchmark; ``python -m bench --list`` lists them.

Every benchmark is a module with ``DESCRIPTION``, ``add_arguments(parser)``
and ``run(args) -> dict``: it prints its own table and returns the figures,
which ``--json PATH`` writes out together with a description of the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path

# name -> module: add a row here to register a benchmark.
BENCHMARKS: dict[str, str] = {
    "healthz": "bench.bench_healthz",
    "bus": "bench.bench_bus",
    "cases": "bench.bench_cases",
    "case-search": "bench.bench_case_search",
    "notifications": "bench.bench_notifications",
    "notes": "bench.bench_notes",
    "documents": "bench.bench_documents",
}


def machine() -> dict:
    """What the figures were measured on."""
    cpu = "unknown"
    memory_kib = None
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kib = int(line.split()[1])
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gib": round(memory_kib / 1024 / 1024, 1) if memory_kib else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        # Anything else running skews the figures: say how busy the box was.
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    names = parser.add_subparsers(dest="name", metavar="NAME")
    modules = {name: import_module(module) for name, module in BENCHMARKS.items()}
    for name, module in modules.items():
        sub = names.add_parser(name, help=module.DESCRIPTION, description=module.__doc__)
        sub.formatter_class = argparse.RawDescriptionHelpFormatter
        sub.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
        module.add_arguments(sub)
    args = parser.parse_args(argv)
    if args.list or args.name is None:
        for name, module in modules.items():
            print(f"{name:<10} {module.DESCRIPTION}")
        return 0 if args.list else 2
    started = datetime.now(UTC)
    about = machine()
    print(
        f"{args.name}: {about['cpus']} CPUs ({about['cpu_model']}), Python {about['python']}, "
        f"load average {' '.join(map(str, about['load_average_at_start']))}",
        flush=True,
    )
    figures = modules[args.name].run(args)
    if args.json:
        document = {
            "benchmark": args.name,
            "started": started.isoformat(timespec="seconds"),
            "command": " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
            "machine": about,
            **figures,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        print(f"\nfigures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
