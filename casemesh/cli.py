"""The ``casemesh`` command: ``up`` (everything, embedded) and ``serve NAME`` (one process)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from aiohttp import web

from casemesh.settings import PROCESS_NAMES, Settings
from casemesh.web.logs import configure_logging


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="casemesh", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="run the gateway and all four services, embedded")
    up.add_argument("--data-dir", type=Path, default=None, help="default ./.casemesh")
    up.add_argument("--port", type=int, default=None, help="gateway port, default 8080")
    up.add_argument("--host", default=None, help="listen address, default 127.0.0.1")

    serve = commands.add_parser("serve", help="run one process with production adapters")
    serve.add_argument("name", choices=PROCESS_NAMES)

    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging("casemesh" if args.command == "up" else args.name, settings.log_level)
    if args.command == "up":
        overrides: dict[str, object] = {"mode": "embedded"}
        for key in ("port", "host"):
            if getattr(args, key) is not None:
                overrides[key] = getattr(args, key)
        data_dir = (args.data_dir or settings.data_dir).resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        overrides["data_dir"] = data_dir
        from casemesh.embedded import run_until_signalled

        asyncio.run(run_until_signalled(settings.model_copy(update=overrides)))
    else:
        from casemesh.processes import app_factory, server_options

        app = app_factory(args.name)(settings)
        web.run_app(
            app,
            host=settings.host,
            port=settings.port,
            access_log=None,
            print=None,
            shutdown_timeout=10.0,
            **server_options(args.name, settings),
        )


if __name__ == "__main__":
    main()
