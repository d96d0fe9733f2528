"""OpenAPI 3.1 from the pydantic models the handlers validate with.

Each service lists its public operations as ``Operation`` values, pointing at
the very models its handlers use to parse queries and bodies and to shape
answers, and serves the resulting fragment at ``GET /openapi.json``. The
gateway fetches the four fragments and merges them into the one document it
publishes (see ``merge_fragments``). Component names carry the service's name
(``cases.CaseInfo``) so two services' models never collide.

Request models (bodies, queries) are described in pydantic's validation mode
and answers in its serialization mode, so a model used both ways is described
as each side really sees it (``cases.X-Input`` / ``cases.X-Output`` when the
two differ).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, TypeAdapter
from pydantic.json_schema import models_json_schema

OPENAPI_VERSION = "3.1.0"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
_PATH_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")
Mode = Literal["validation", "serialization"]

# The credentials the gateway accepts (gateway/auth.py); names used in ``Operation.security``.
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "oauth2": {
        "type": "oauth2",
        "description": (
            "ProcessMaker's OAuth2 password grant (and refresh-token grant) at "
            "`POST /{workspace}/oauth2/token`; the default workspace is `workflow`. "
            "The client id and secret go in the form or as HTTP Basic. The access token "
            "is then sent as `Authorization: Bearer <token>`."
        ),
        "flows": {
            "password": {
                "tokenUrl": "/workflow/oauth2/token",
                "refreshUrl": "/workflow/oauth2/token",
                "scopes": {
                    "*": "everything the user's roles allow",
                    "view_processes": "ProcessMaker's view_processes scope",
                    "edit_processes": "ProcessMaker's edit_processes scope",
                },
            }
        },
    },
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": (
            "`Authorization: Bearer <access token or API key>`. API keys are created at "
            "`POST /api/1.0/{workspace}/user/{usr_uid}/api-keys` and shown once."
        ),
    },
    "basic": {
        "type": "http",
        "scheme": "basic",
        "description": (
            "`username:password`, or Trackops's `<username>/token:<API key>`. On paths "
            "without a workspace, the user signs in to the default workspace (`workflow`)."
        ),
    },
}
AUTHENTICATED: tuple[str, ...] = ("oauth2", "bearer", "basic")
# What any proxied route may answer whatever it does: the gateway cannot reach the
# service (502), the service or the credential check is not ready (503), the
# service is too slow (504).
PROXY_ERRORS: tuple[int, ...] = (502, 503, 504)


# -- each API family's error body, as casemesh.web.dialects writes it ---------


class _ErrorDetail(BaseModel):
    code: int
    message: str


class ProcessMakerError(BaseModel):
    """ProcessMaker 3: ``{"error": {"code", "message"}}``."""

    error: _ErrorDetail


class TheHiveError(BaseModel):
    type: str
    message: str


class KibanaError(BaseModel):
    statusCode: int
    error: str
    message: str


class CasemeshError(BaseModel):
    """Casemesh's own endpoints (``/casemesh/v1/…``, the gateway's).

    ``{"status", "error", "message"}``.
    """

    status: int
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
    headers: Mapping[str, str] = field(default_factory=dict)  # header name -> description


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
    # Path parameter name -> JSON schema (default: any non-empty string).
    path_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def _is_model(candidate: Any) -> bool:
    return isinstance(candidate, type) and issubclass(candidate, BaseModel)


def _answer(given: Response | Schema) -> Response:
    return given if isinstance(given, Response) else Response(given)


def _models(operations: Iterable[Operation]) -> list[tuple[type[BaseModel], Mode]]:
    """Every (model, mode) the operations mention, once each."""
    seen: dict[tuple[type[BaseModel], Mode], None] = {}
    for op in operations:
        if _is_model(op.body):
            seen.setdefault((op.body, "validation"), None)
        for candidate in (op.error, *(_answer(a).schema for a in op.responses.values())):
            if _is_model(candidate):
                seen.setdefault((candidate, "serialization"), None)
    return list(seen)


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or a string, never JSON null: drop the null branch."""
    branches = schema.get("anyOf")
    if isinstance(branches, list) and any(b == {"type": "null"} for b in branches):
        rest = [b for b in branches if b != {"type": "null"}]
        schema = {k: v for k, v in schema.items() if k != "anyOf"}
        schema.update(rest[0] if len(rest) == 1 else {"anyOf": rest})
    if schema.get("default", ...) is None:
        schema = {k: v for k, v in schema.items() if k != "default"}
    return schema


def _drop_impossible_null_defaults(node: Any) -> None:
    """``default: null`` on a schema that does not admit null (a field declared with
    ``SkipJsonSchema[None]``, absent rather than null) is not a valid default: drop it."""
    if isinstance(node, dict):
        kind = node.get("type")
        admits_null = kind is None or kind == "null" or (isinstance(kind, list) and "null" in kind)
        if "default" in node and node["default"] is None and not admits_null:
            del node["default"]
        for value in node.values():
            _drop_impossible_null_defaults(value)
    elif isinstance(node, list):
        for value in node:
            _drop_impossible_null_defaults(value)


class FragmentBuilder:
    """Turns a service's operations into its OpenAPI fragment."""

    def __init__(
        self,
        service: str,
        operations: Sequence[Operation],
        *,
        always: tuple[int, ...] = PROXY_ERRORS,
    ) -> None:
        self.service = service
        self.operations = operations
        self.always = always
        self.prefix = f"#/components/schemas/{service}."
        self.schemas: dict[str, Any] = {}
        self._refs: dict[tuple[type[BaseModel], Mode], dict[str, Any]] = {}

    def build(self) -> dict[str, Any]:
        models = _models(self.operations)
        if models:
            refs, defs = models_json_schema(models, ref_template=self.prefix + "{model}")
            self._refs = dict(refs)
            for name, schema in defs.get("$defs", {}).items():
                self.schemas[f"{self.service}.{name}"] = schema
        paths: dict[str, dict[str, Any]] = {}
        for op in self.operations:
            paths.setdefault(op.path, {})[op.method.lower()] = self._operation(op)
        fragment = {"paths": paths, "components": {"schemas": self.schemas}}
        _drop_impossible_null_defaults(fragment)
        return fragment

    def _schema(self, schema: Schema, mode: Mode = "serialization") -> dict[str, Any] | None:
        if schema is None:
            return None
        if _is_model(schema):
            return dict(self._refs[(schema, mode)])
        if isinstance(schema, TypeAdapter):
            built = schema.json_schema(ref_template=self.prefix + "{model}", mode=mode)
            self._keep_defs(built)
            return built
        return dict(schema)

    def _keep_defs(self, built: dict[str, Any]) -> None:
        for name, sub in built.pop("$defs", {}).items():
            self.schemas.setdefault(f"{self.service}.{name}", sub)

    def _query_parameters(self, model: type[BaseModel]) -> list[dict[str, Any]]:
        schema = model.model_json_schema(ref_template=self.prefix + "{model}")
        self._keep_defs(schema)
        required = set(schema.get("required", ()))
        params = []
        for name, prop in schema.get("properties", {}).items():
            prop = _without_null(dict(prop))
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

    def _operation(self, op: Operation) -> dict[str, Any]:
        params: list[dict[str, Any]] = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": dict(op.path_params.get(name, {"type": "string", "minLength": 1})),
            }
            for name in _PATH_PARAM.findall(op.path)
        ]
        if op.query is not None:
            params += self._query_parameters(op.query)
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
                content[media] = {"schema": self._schema(op.body, "validation")}
        for media, schema in op.body_schemas.items():
            content[media] = {"schema": dict(schema)}
        if content:
            out["requestBody"] = {"required": op.body_required, "content": content}
        return out

    def _responses(self, op: Operation) -> dict[str, Any]:
        answers: dict[str, Any] = {}
        for status, given in op.responses.items():
            answer = _answer(given)
            entry: dict[str, Any] = {"description": answer.description or _reason(status)}
            schema = self._schema(answer.schema)
            if schema is not None:
                entry["content"] = {answer.media_type: {"schema": schema}}
            if answer.headers:
                entry["headers"] = {
                    name: {"description": text, "schema": {"type": "string"}}
                    for name, text in answer.headers.items()
                }
            answers[str(status)] = entry
        errors = list(op.errors)
        if op.security:
            errors.append(401)
        for status in (*errors, *self.always):
            answers.setdefault(
                str(status),
                {
                    "description": _reason(status),
                    "content": {JSON: {"schema": self._schema(op.error)}},
                },
            )
        return dict(sorted(answers.items()))


def _operation_id(service: str, op: Operation) -> str:
    words = re.sub(r"[{}]", "", op.path).replace("/", " ").replace("-", " ").replace(".", " ")
    return f"{service}_{op.method.lower()}_" + "_".join(w for w in words.split() if w)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return str(status)


def build_fragment(
    service: str, operations: Sequence[Operation], *, always: tuple[int, ...] = PROXY_ERRORS
) -> dict[str, Any]:
    """``always``: statuses every operation may answer (by default the proxy's failures)."""
    return FragmentBuilder(service, operations, always=always).build()


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
        for name, schema in fragment.get("components", {}).get("schemas", {}).items():
            if name in schemas and schemas[name] != schema:
                raise ValueError(f"two fragments describe the schema {name} differently")
            schemas[name] = schema
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version, "description": description},
        "paths": dict(sorted(paths.items())),
        "tags": [{"name": name} for name in tags],
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": SECURITY_SCHEMES,
        },
    }
