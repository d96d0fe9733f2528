"""The gateway's API contract: ``GET /openapi.json`` and the page that renders it, ``/docs``.

The document is the merge of every service's fragment (each serves its own at
``GET /openapi.json``, built from the pydantic models its handlers validate
with) and the gateway's own operations below. It is built on first request and
kept once every service has answered; while one cannot answer, the document
lists what the others declare, names the missing services in
``x-casemesh-unavailable`` and is rebuilt on the next request.

``/docs`` is Swagger UI from the ``swagger-ui-bundle-v2`` wheel, served by the
gateway itself under ``/docs/assets/``: the page loads nothing from the
internet.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ConfigDict
from swagger_ui_bundle import swagger_ui_path

from casemesh.settings import SERVICE_NAMES
from casemesh.web.context import REQUEST_ID_HEADER, current_request_id
from casemesh.web.errors import ApiError
from casemesh.web.keys import SETTINGS
from casemesh.web.openapi import (
    JSON,
    CasemeshError,
    Operation,
    Response,
    build_fragment,
    merge_fragments,
)
from gateway import idempotency

log = logging.getLogger("casemesh.gateway.openapi")

TITLE = "Casemesh"
DESCRIPTION = (
    "Every route the Casemesh gateway serves: ProcessMaker 3 (cases, directory, "
    "process definitions, notes, documents), Trackops case updates, TheHive task logs, "
    "Kibana case files and Casemesh's own endpoints. Sign in with the OAuth2 password "
    "grant at `POST /{workspace}/oauth2/token`, an API key as a Bearer token, or HTTP Basic."
)
FETCH_TIMEOUT = 5.0
ASSETS_DIR = Path(swagger_ui_path)
# The Swagger UI files the page needs; nothing else in the bundle is served.
ASSETS = {
    "swagger-ui.css": "text/css",
    "index.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
}
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <title>Casemesh API</title>
  <link rel="stylesheet" type="text/css" href="docs/assets/swagger-ui.css">
  <link rel="stylesheet" type="text/css" href="docs/assets/index.css">
  <link rel="icon" type="image/png" href="docs/assets/favicon-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="docs/assets/swagger-ui-bundle.js" charset="UTF-8"></script>
  <script src="docs/assets/swagger-ui-standalone-preset.js" charset="UTF-8"></script>
  <script>
    window.onload = function () {
      window.ui = SwaggerUIBundle({
        url: "openapi.json",
        dom_id: "#swagger-ui",
        deepLinking: true,
        validatorUrl: null,
        persistAuthorization: true,
        presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
        plugins: [SwaggerUIBundle.plugins.DownloadUrl],
        layout: "StandaloneLayout"
      });
    };
  </script>
</body>
</html>
"""


# -- the gateway's own answers ---------------------------------------------------


class Health(BaseModel):
    status: Literal["ok"]
    process: str


class ServiceProbe(BaseModel):
    """A service's ``/healthz`` or ``/readyz``, or the gateway's note that it did not answer."""

    model_config = ConfigDict(extra="allow")

    status: str
    process: str
    checks: dict[str, str] | None = None
    error: str | None = None


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    process: Literal["gateway"]
    services: dict[str, ServiceProbe]


OPEN: tuple[str, ...] = ()
TAGS = ("gateway",)
SERVICE_PARAMS = {
    "service": {"type": "string", "enum": list(SERVICE_NAMES)},
    "probe": {"type": "string", "enum": ["healthz", "readyz"]},
}


def operations() -> list[Operation]:
    """The routes the gateway answers itself (everything else is proxied)."""
    common: dict[str, Any] = {"tags": TAGS, "security": OPEN, "error": CasemeshError}
    return [
        Operation(
            "GET", "/healthz", "The gateway is alive", responses={200: Health}, errors=(), **common
        ),
        Operation(
            "GET",
            "/readyz",
            "Every service is ready",
            responses={
                200: Response(Readiness, "every service is ready"),
                503: Response(Readiness, "at least one service is not ready"),
            },
            errors=(),
            **common,
        ),
        Operation(
            "GET",
            "/services/{service}/{probe}",
            "One service's own liveness or readiness probe",
            responses={
                200: Response(ServiceProbe, "the service's answer"),
                503: Response(ServiceProbe, "the service is not ready or did not answer"),
            },
            errors=(404,),
            path_params=SERVICE_PARAMS,
            **common,
        ),
        Operation(
            "GET",
            "/metrics",
            "Prometheus metrics of the gateway",
            responses={200: Response({"type": "string"}, media_type="text/plain")},
            errors=(),
            **common,
        ),
        Operation(
            "GET",
            "/openapi.json",
            "This document",
            responses={200: Response({"type": "object"}, "OpenAPI 3.1")},
            errors=(),
            **common,
        ),
        Operation(
            "GET",
            "/asyncapi.yaml",
            "The event catalogue (AsyncAPI 3) for services that subscribe from outside",
            responses={200: Response({"type": "object"}, "AsyncAPI 3", "application/yaml")},
            errors=(),
            **common,
        ),
        Operation(
            "GET",
            "/asyncapi.json",
            "The event catalogue (AsyncAPI 3), as JSON",
            responses={200: Response({"type": "object"}, "AsyncAPI 3")},
            errors=(),
            **common,
        ),
        Operation(
            "GET",
            "/docs",
            "This document, rendered by Swagger UI (served locally)",
            responses={200: Response({"type": "string"}, media_type="text/html")},
            errors=(),
            **common,
        ),
        Operation(
            "GET",
            "/docs/assets/{asset}",
            "A Swagger UI file the documentation page loads",
            responses={200: Response({"type": "string"}, media_type="*/*")},
            errors=(404,),
            path_params={"asset": {"type": "string", "enum": sorted(ASSETS)}},
            **common,
        ),
    ]


# -- what the gateway adds to every route it proxies ---------------------------------

# Refusals of gateway/limits.py and gateway/ratelimit.py, in the dialect of the path.
HEAD_ERRORS = {414: "the URL is too long", 431: "the request headers are too large"}
PROXY_GUARDS = {
    **HEAD_ERRORS,
    # The gateway's catch-all does not match a path holding CR/LF: no route.
    404: "no route matches this path (e.g. it holds a control character)",
    408: "the body arrived too slowly",
    413: "the body is larger than this route accepts",
    429: "too many requests for this credential or client; retry after Retry-After seconds",
}
RETRY_AFTER = frozenset({429})
_CASEMESH_ERROR_REF = {"$ref": "#/components/schemas/gateway.CasemeshError"}
IDEMPOTENCY_KEY = {
    "name": idempotency.HEADER,
    "in": "header",
    "required": False,
    "description": (
        "Send the same key again to get the first answer back (marked "
        f"`{idempotency.REPLAYED_HEADER}: true`) without repeating the change."
    ),
    "schema": {"type": "string", "pattern": r"^[\x21-\x7e]{1,255}$"},
}


def _refusal(like: dict[str, Any], status: int, description: str) -> dict[str, Any]:
    entry = {**like, "description": description}
    if status in RETRY_AFTER:
        entry["headers"] = {"Retry-After": {"schema": {"type": "string"}}}
    return entry


def _declare(responses: dict[str, Any], status: int, like: dict[str, Any], text: str) -> None:
    """Add the gateway's refusal; where the service declares the status with another body,
    the answer is either (``anyOf``)."""
    entry = responses.get(str(status))
    if entry is None:
        responses[str(status)] = _refusal(like, status, text)
        return
    mine = like.get("content", {}).get(JSON, {}).get("schema")
    theirs = entry.get("content", {}).get(JSON, {}).get("schema")
    if mine is None or theirs is None or mine == theirs:
        return
    options = theirs["anyOf"] if set(theirs) == {"anyOf"} else [theirs]
    if mine in options:
        return
    content = {
        **entry["content"],
        JSON: {**entry["content"][JSON], "schema": {"anyOf": [*options, mine]}},
    }
    responses[str(status)] = {
        **entry,
        "description": f"{entry.get('description', '')}; or the gateway's refusal: {text}",
        "content": content,
    }


def add_gateway_answers(document: dict[str, Any], own_paths: set[str]) -> None:
    """Declare, on every operation, what the gateway itself may answer before any service.

    Each refusal takes the error shape the service declared for the same path (its
    502, in the path's dialect); the gateway's own routes answer in Casemesh's.
    """
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            responses = op["responses"]
            own = path in own_paths
            like = responses.get("404") if own else responses.get("502")
            if like is None:
                like = {"content": {"application/json": {"schema": _CASEMESH_ERROR_REF}}}
            for status, text in (HEAD_ERRORS if own else PROXY_GUARDS).items():
                _declare(responses, status, like, text)
            if not own and op.get("security") and method.upper() in idempotency.METHODS:
                _accept_idempotency_key(path, op, like)
            op["responses"] = dict(sorted(responses.items()))


def _accept_idempotency_key(path: str, op: dict[str, Any], like: dict[str, Any]) -> None:
    if all(p.get("name") != idempotency.HEADER for p in op.get("parameters", ())):
        op.setdefault("parameters", []).append(dict(IDEMPOTENCY_KEY))
    responses = op["responses"]
    _declare(responses, 400, like, "the Idempotency-Key is not 1 to 255 visible ASCII characters")
    _declare(responses, 409, like, "a request with this Idempotency-Key is in progress")
    if not idempotency.ALL_400_PATHS.match(path):
        _declare(responses, 422, like, "this Idempotency-Key was used for another request")


# -- building and serving the document --------------------------------------------


class ContractCache:
    """The merged document, kept once every service has given its fragment."""

    def __init__(self, session: Callable[[], aiohttp.ClientSession]) -> None:
        self._session = session
        self._document: dict[str, Any] | None = None
        self._lock = asyncio.Lock()

    async def document(self, app: web.Application) -> dict[str, Any]:
        if self._document is not None:
            return self._document
        async with self._lock:
            if self._document is not None:
                return self._document
            names = list(SERVICE_NAMES)
            answers = await asyncio.gather(*(self._fragment(app, name) for name in names))
            own = build_fragment("gateway", operations(), always=())
            fragments = [own, *(f for f in answers if f is not None)]
            merged = merge_fragments(
                fragments, title=TITLE, version=_version(), description=DESCRIPTION
            )
            add_gateway_answers(merged, set(own["paths"]))
            missing = [name for name, f in zip(names, answers, strict=True) if f is None]
            if missing:
                merged["x-casemesh-unavailable"] = missing
                return merged
            self._document = merged
            return merged

    async def _fragment(self, app: web.Application, service: str) -> dict[str, Any] | None:
        url = app[SETTINGS].service_url(service).rstrip("/") + "/openapi.json"
        try:
            async with self._session().get(
                url,
                headers={REQUEST_ID_HEADER: current_request_id(), "Accept-Encoding": "identity"},
                timeout=aiohttp.ClientTimeout(total=FETCH_TIMEOUT),
            ) as response:
                if response.status != 200:
                    log.warning("%s answered %s for its OpenAPI fragment", service, response.status)
                    return None
                fragment = await response.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("cannot fetch %s's OpenAPI fragment: %s", service, exc or "timeout")
            return None
        return fragment if isinstance(fragment, dict) else None


def _version() -> str:
    try:
        return importlib.metadata.version("casemesh")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


CONTRACT: web.AppKey[ContractCache] = web.AppKey("contract", ContractCache)


def add_routes(app: web.Application, session: Callable[[], aiohttp.ClientSession]) -> None:
    """``/openapi.json``, ``/docs`` and its assets; add them before the proxy's catch-all."""
    app[CONTRACT] = ContractCache(session)
    app.router.add_get("/openapi.json", openapi_json)
    app.router.add_get("/docs", docs_page)
    app.router.add_get("/docs/assets/{asset}", docs_asset)


async def openapi_json(request: web.Request) -> web.Response:
    document = await request.app[CONTRACT].document(request.app)
    return web.json_response(document)


async def docs_page(request: web.Request) -> web.Response:
    return web.Response(text=PAGE, content_type="text/html")


async def docs_asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["asset"]
    if name not in ASSETS:
        raise ApiError(404, f"no documentation asset {name!r}")
    return web.FileResponse(
        ASSETS_DIR / name,
        headers={"Content-Type": ASSETS[name], "Cache-Control": "public, max-age=86400"},
    )
