"""One raw-parts process of ``bench cases``: ``python -m bench.cases_parts_server ROLE ...``.

Roles: ``gateway`` (bench/cases_parts_gateway.py), ``cases``
(bench/cases_parts_cases.py), ``notes`` and ``notifications``
(bench/cases_parts_consumer.py). bench/cases_parts.py starts the four and
stops them with SIGTERM. Nothing here imports services/ or gateway/: these
processes model the platform from its raw components only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from aiohttp import web

ROLES = ("gateway", "cases", "notes", "notifications")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cases_parts_server")
    parser.add_argument("role", choices=ROLES)
    parser.add_argument("--port", type=int, help="gateway, cases: the HTTP port")
    parser.add_argument("--cases-url", help="gateway: where the cases process listens")
    parser.add_argument("--db", type=Path, help="cases, consumers: the SQLite file")
    parser.add_argument("--states", type=Path, help="cases: the process's RoutingStates (JSON)")
    parser.add_argument("--amqp-url", help="cases, consumers: the broker")
    parser.add_argument("--exchange", help="cases, consumers: the topic exchange")
    parser.add_argument("--queue", help="consumers: the queue")
    parser.add_argument("--prefetch", type=int, default=16, help="consumers: unacked deliveries")
    args = parser.parse_args(argv)
    if args.role == "gateway":
        from bench.cases_parts_gateway import build_app

        serve(build_app(args.cases_url), args.port)
    elif args.role == "cases":
        from bench.cases_parts_cases import build_app as build_cases
        from bench.cases_parts_documents import RoutingStates

        states = RoutingStates.from_json(json.loads(args.states.read_text()))
        serve(build_cases(args.db, states, args.amqp_url, args.exchange), args.port)
    else:
        from bench.cases_parts_consumer import consume

        asyncio.run(
            consume(args.role, args.db, args.amqp_url, args.exchange, args.queue, args.prefetch)
        )


def serve(app: web.Application, port: int) -> None:
    # No access log; SIGTERM ends run_app cleanly (exit code 0).
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
