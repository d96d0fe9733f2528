"""The event catalogue, published: ``GET /asyncapi.yaml`` and ``GET /asyncapi.json``.

Open routes (no credentials): the document describes how to subscribe, never
any data. It is generated from the kernel's event models on first request, for
this gateway's own broker address (without credentials) and exchange.
"""

from __future__ import annotations

import functools
import json

from aiohttp import web

from casemesh.events.asyncapi import Broker, build_document, render_yaml
from casemesh.web.keys import SETTINGS

YAML_TYPE = "application/yaml"
JSON_TYPE = "application/json"
PATHS = ("/asyncapi.yaml", "/asyncapi.json")


@functools.cache
def _rendered(broker: Broker, as_json: bool) -> bytes:
    document = build_document(broker)
    if as_json:
        return json.dumps(document, indent=2, ensure_ascii=False).encode()
    return render_yaml(document).encode()


def _serve(as_json: bool):
    content_type = JSON_TYPE if as_json else YAML_TYPE

    async def handler(request: web.Request) -> web.Response:
        broker = Broker.from_settings(request.app[SETTINGS])
        return web.Response(
            body=_rendered(broker, as_json),
            content_type=content_type,
            charset="utf-8",
            headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"},
        )

    return handler


def add_routes(router: web.UrlDispatcher) -> None:
    """Add the catalogue's routes; call before the gateway's catch-all proxy route."""
    router.add_get("/asyncapi.yaml", _serve(as_json=False))
    router.add_get("/asyncapi.json", _serve(as_json=True))
