"""The bare baseline: an aiohttp hello-world with one ``/healthz`` route.

No middlewares, no logging, no metrics: the same body shape as Casemesh's
``/healthz``, so the difference from a Casemesh process is Casemesh's own cost.

    python -m bench.hello_server PORT      (from the repository root)

Run it as a module, not as ``python bench/hello_server.py``: as a script,
``bench/`` would come first on ``sys.path`` and ``bench/platform.py`` would
shadow the standard library's ``platform``.
"""

from __future__ import annotations

import sys

from aiohttp import web


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "process": "hello"})


def main() -> None:
    port = int(sys.argv[1])
    app = web.Application()
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
