"""OpenAPI 3.1 from the pydantic models the handlers validate with.

Each service lists its public operations as ``Operation`` values, pointing at
the very models its handlers use to parse queries and bodies and to shape
answers, and serves the resulting fragment at ``GET /openapi.json``. The
gateway fetches the four fragments and merges them into the one document it
publishes (see ``merge_fragments``). Component names carry the service's name
(``cases.CaseInfo``) so two services' models never collide.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, TypeAdapter
from pydantic.json_schema import models_json_schema

OPENAPI_VERSION = "3.1.0"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
_PATH_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")

# The credentials the gateway accepts; names used in ``Operation.security``.
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "oauth2": {
        "type": "oauth2",
        "description": "ProcessMaker's OAuth2 password grant; the token is sent as a Bearer token.",
        "flows": {
            "password": {
                "tokenUrl": "/workflow/oauth2/token",
                "refreshUrl": "/workflow/oauth2/token",
                "scopes": {"*": "everything the user's roles allow"},
            }
        },
    },
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "An OAuth2 access token or a Casemesh API key.",
    },
    "basic": {"type": "http", "scheme": "basic", "description": "Username and password."},
}
AUTHENTICATED: tuple[str, ...] = ("oauth2", "bearer", "basic")


# -- each API family's error body, as casemesh.web.dialects writes it ---------


class _ErrorDetail(BaseModel):
    code: int
    message: str


class ProcessMakerError(BaseModel):
    """ProcessMaker 3 (and Casemesh's own endpoints): ``{"error": {"code", "message"}}``."""

    error: _ErrorDetail


class TheHiveError(BaseModel):
    type: str
    message: str


class KibanaError(BaseModel):
    statusCode: int
    error: str
    message: str


class PlainError(BaseModel):
    model_config = ConfigDict(extra="allow")
    error: Any


Schema = type[BaseModel] | TypeAdapter | Mapping[str, Any] | None


@dataclass(frozen=True)
class Response:
    """One declared answer: a model (or adapter, or raw JSON schema) and its media type."""

    schema: Schema = None
    description: str = ""
    media_type: str = JSON


@dataclass(frozen=True)
class Operation:
    """One public route as the gateway serves it (path in OpenAPI template form)."""

    method: str
    path: str
    summary: str
    tags: tuple[str, ...]
    responses: Mapping[int, Response | Schema]
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    # Media types the body may come in; the same model describes each.
    body_media: tuple[str, ...] = (JSON,)
    body_required: bool = True
    # Raw schemas for bodies no pydantic model covers (e.g. a multipart file part).
    body_schemas: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    headers: Mapping[str, bool] = field(default_factory=dict)  # header name -> required
    error: type[BaseModel] = ProcessMakerError
    errors: tuple[int, ...] = (400, 401, 404)
    security: tuple[str, ...] = AUTHENTICATED
    description: str = ""
    operation_id: str = ""


def _models(operations: Iterable[Operation]) -> list[type[BaseModel]]:
    """Every pydantic model the operations mention, once each."""
    seen: dict[type[BaseModel], None] = {}
    for op in operations:
        candidates: list[Any] = [op.body, op.error]
        for answer in op.responses.values():
            candidates.append(answer.schema if isinstance(answer, Response) else answer)
        for c in candidates:
            if isinstance(c, type) and issubclass(c, BaseModel):
                seen.setdefault(c, None)
    return list(seen)


def _query_parameters(model: type[BaseModel], prefix: str) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=prefix + "{model}")
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema.get("properties", {}).items():
        description = prop.pop("description", None)
        param: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": prop,
        }
        if description:
            param["description"] = description
        params.append(param)
    return params


class FragmentBuilder:
    """Turns a service's operations into its OpenAPI fragment."""

    def __init__(self, service: str, operations: Sequence[Operation]) -> None:
        self.service = service
        self.operations = operations
        self.prefix = f"#/components/schemas/{service}."
        self.schemas: dict[str, Any] = {}
        self._refs: dict[type[BaseModel], dict[str, Any]] = {}

    def build(self) -> dict[str, Any]:
        models = _models(self.operations)
        if models:
            refs, defs = models_json_schema(
                [(m, "validation") for m in models], ref_template=self.prefix + "{model}"
            )
            self._refs = {model: ref for (model, _), ref in refs.items()}
            for name, schema in defs.get("$defs", {}).items():
                self.schemas[f"{self.service}.{name}"] = schema
        paths: dict[str, dict[str, Any]] = {}
        for op in self.operations:
            paths.setdefault(op.path, {})[op.method.lower()] = self._operation(op)
        return {"paths": paths, "components": {"schemas": self.schemas}}

    def _schema(self, schema: Schema) -> dict[str, Any] | None:
        if schema is None:
            return None
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            return dict(self._refs[schema])
        if isinstance(schema, TypeAdapter):
            built = schema.json_schema(ref_template=self.prefix + "{model}")
            for name, sub in built.pop("$defs", {}).items():
                self.schemas.setdefault(f"{self.service}.{name}", sub)
            return built
        return dict(schema)

    def _operation(self, op: Operation) -> dict[str, Any]:
        params: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PATH_PARAM.findall(op.path)
        ]
        if op.query is not None:
            params += _query_parameters(op.query, self.prefix)
        params += [
            {"name": name, "in": "header", "required": required, "schema": {"type": "string"}}
            for name, required in op.headers.items()
        ]
        out: dict[str, Any] = {
            "operationId": op.operation_id or _operation_id(self.service, op),
            "summary": op.summary,
            "tags": list(op.tags),
            "parameters": params,
            "responses": self._responses(op),
        }
        if op.description:
            out["description"] = op.description
        out["security"] = [{name: []} for name in op.security]
        content: dict[str, Any] = {}
        if op.body is not None:
            for media in op.body_media:
                content[media] = {"schema": self._schema(op.body)}
        for media, schema in op.body_schemas.items():
            content[media] = {"schema": dict(schema)}
        if content:
            out["requestBody"] = {"required": op.body_required, "content": content}
        return out

    def _responses(self, op: Operation) -> dict[str, Any]:
        answers: dict[str, Any] = {}
        for status, given in op.responses.items():
            answer = given if isinstance(given, Response) else Response(given)
            entry: dict[str, Any] = {"description": answer.description or _reason(status)}
            schema = self._schema(answer.schema)
            if schema is not None:
                entry["content"] = {answer.media_type: {"schema": schema}}
            answers[str(status)] = entry
        for status in op.errors:
            answers.setdefault(
                str(status),
                {
                    "description": _reason(status),
                    "content": {JSON: {"schema": self._schema(op.error)}},
                },
            )
        return answers


def _operation_id(service: str, op: Operation) -> str:
    words = re.sub(r"[{}]", "", op.path).replace("/", " ").replace("-", " ").replace(".", " ")
    return f"{service}_{op.method.lower()}_" + "_".join(w for w in words.split() if w)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return str(status)


def build_fragment(service: str, operations: Sequence[Operation]) -> dict[str, Any]:
    return FragmentBuilder(service, operations).build()


def fragment_handler(
    service: str, operations: Callable[[], Sequence[Operation]]
) -> Callable[[web.Request], Any]:
    """``GET /openapi.json`` of a service: its fragment, built once."""
    built: dict[str, Any] = {}

    async def handler(request: web.Request) -> web.Response:
        if not built:
            built.update(build_fragment(service, operations()))
        return web.json_response(built)

    return handler


def merge_fragments(
    fragments: Iterable[Mapping[str, Any]], *, title: str, version: str, description: str = ""
) -> dict[str, Any]:
    """One OpenAPI 3.1 document from the services' fragments (and the gateway's own)."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    tags: dict[str, None] = {}
    for fragment in fragments:
        for path, methods in fragment.get("paths", {}).items():
            for method, operation in methods.items():
                if method in paths.get(path, {}):
                    raise ValueError(f"two services declare {method.upper()} {path}")
                paths.setdefault(path, {})[method] = operation
                tags.update(dict.fromkeys(operation.get("tags", ())))
        schemas.update(fragment.get("components", {}).get("schemas", {}))
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version, "description": description},
        "paths": dict(sorted(paths.items())),
        "tags": [{"name": name} for name in tags],
        "components": {"schemas": schemas, "securitySchemes": SECURITY_SCHEMES},
    }
