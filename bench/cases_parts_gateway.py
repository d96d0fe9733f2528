"""The raw-parts "gateway" process: a bare aiohttp proxy in front of the "cases" process.

Every request, whatever its path, goes to the cases process through one
``ClientSession`` (keep-alive connections), its body read whole; the answer's
bytes come back with its status and content type. No authentication,
logging or middleware: the least a gateway hop costs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web


def build_app(cases_url: str) -> web.Application:
    session: aiohttp.ClientSession | None = None
    app = web.Application()

    async def forward(request: web.Request) -> web.Response:
        assert session is not None
        body = await request.read()
        sent_type = request.headers.get("Content-Type")
        headers = {"Content-Type": sent_type} if sent_type else None
        async with session.request(
            request.method, cases_url + request.path_qs, data=body or None, headers=headers
        ) as answer:
            payload = await answer.read()
            answer_type = answer.headers.get("Content-Type")
            kept = {"Content-Type": answer_type} if answer_type else None
            return web.Response(body=payload, status=answer.status, headers=kept)

    async def client(app: web.Application) -> AsyncIterator[None]:
        nonlocal session
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        yield
        await session.close()

    app.cleanup_ctx.append(client)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app
