"""HTTP endpoints for process definitions (Casemesh's own, under the PM prefix).

    GET    /api/1.0/{workspace}/processes             list (summaries)
    POST   /api/1.0/{workspace}/processes             create       201 + process
    GET    /api/1.0/{workspace}/processes/{pro_uid}   read         200 + process
    PUT    /api/1.0/{workspace}/processes/{pro_uid}   replace      200 + process
    DELETE /api/1.0/{workspace}/processes/{pro_uid}   delete       200, no body

Bodies are a definition in JSON (``application/json``, or no Content-Type) or
YAML (``application/yaml``, ``text/yaml``). Reading needs a user of the
workspace; writing also needs PM_FACTORY. ``ETag`` carries the revision;
``If-Match: "N"`` on PUT or DELETE refuses the write (409) unless the process
is still at revision N. Errors are ProcessMaker's
``{"error": {"code", "message"}}``. See docs/process-definitions.md.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from casemesh.identity import PM_FACTORY, Identity, caller
from casemesh.store.port import Document
from casemesh.web.errors import ApiError
from casemesh.web.forms import JSON, read_body
from casemesh.web.keys import RUNTIME
from services.cases.definitions.errors import DefinitionError, not_found
from services.cases.definitions.model import UID_PATTERN, ProcessDefinition
from services.cases.definitions.parsing import MAX_SIZE, Format, parse_definition
from services.cases.definitions.service import ProcessDefinitions

BASE = "/api/1.0/{workspace}/processes"
YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"})
_UID = re.compile(UID_PATTERN)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_routes(app: web.Application) -> None:
    app.router.add_get(BASE, list_processes)
    app.router.add_post(BASE, create_process)
    app.router.add_get(BASE + "/{pro_uid}", get_process)
    app.router.add_put(BASE + "/{pro_uid}", update_process)
    app.router.add_delete(BASE + "/{pro_uid}", delete_process)


def _definition_errors(handler: Handler) -> Handler:
    """Answer a DefinitionError as the ApiError of its status."""

    @functools.wraps(handler)
    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except DefinitionError as exc:
            raise ApiError(exc.status, exc.message) from None

    return handle


@_definition_errors
async def list_processes(request: web.Request) -> web.Response:
    workspace, _ = _user_of_workspace(request)
    docs = await _service(request).list(workspace)
    return web.json_response([summary(doc) for doc in docs])


@_definition_errors
async def create_process(request: web.Request) -> web.Response:
    workspace, identity = _designer(request)
    definition = await _read_definition(request)
    doc = await _service(request).create(workspace, definition, user_uid=identity.user_uid)
    return _process_response(doc, status=201)


@_definition_errors
async def get_process(request: web.Request) -> web.Response:
    workspace, _ = _user_of_workspace(request)
    doc = await _service(request).get(workspace, _pro_uid(request))
    return _process_response(doc)


@_definition_errors
async def update_process(request: web.Request) -> web.Response:
    workspace, identity = _designer(request)
    pro_uid = _pro_uid(request)
    revision = _if_match(request)
    definition = await _read_definition(request)
    doc = await _service(request).update(
        workspace, pro_uid, definition, user_uid=identity.user_uid, expected_revision=revision
    )
    return _process_response(doc)


@_definition_errors
async def delete_process(request: web.Request) -> web.Response:
    workspace, _ = _designer(request)
    pro_uid = _pro_uid(request)
    revision = _if_match(request)
    await _service(request).delete(workspace, pro_uid, expected_revision=revision)
    return web.Response(status=200)


# -- response shapes ---------------------------------------------------------------


def summary(doc: Document) -> dict:
    """A process without its definition, as the list shows it."""
    definition = doc["definition"]
    return {
        "pro_uid": doc["pro_uid"],
        "workspace": doc["workspace"],
        "title": definition["title"],
        "description": definition.get("description", ""),
        "revision": doc["revision"],
        "created_at": doc["created_at"],
        "created_by": doc["created_by"],
        "updated_at": doc["updated_at"],
        "updated_by": doc["updated_by"],
    }


def process_view(doc: Document) -> dict:
    """The summary plus the definition, as GET, POST and PUT answer."""
    return {**summary(doc), "definition": doc["definition"]}


def _process_response(doc: Document, *, status: int = 200) -> web.Response:
    response = web.json_response(process_view(doc), status=status)
    response.headers["ETag"] = f'"{doc["revision"]}"'
    return response


# -- request parts -----------------------------------------------------------------


def _service(request: web.Request) -> ProcessDefinitions:
    return ProcessDefinitions.over(request.app[RUNTIME].store)


def _user_of_workspace(request: web.Request) -> tuple[str, Identity]:
    identity = caller(request)
    workspace = request.match_info["workspace"]
    if identity.workspace != workspace:
        raise ApiError(401, f"the caller is not a user of workspace {workspace!r}")
    return workspace, identity


def _designer(request: web.Request) -> tuple[str, Identity]:
    workspace, identity = _user_of_workspace(request)
    if not identity.can(PM_FACTORY):
        raise ApiError(403, "designing processes needs the PM_FACTORY permission")
    return workspace, identity


def _pro_uid(request: web.Request) -> str:
    pro_uid = request.match_info["pro_uid"]
    if not _UID.match(pro_uid):
        raise not_found(request.match_info["workspace"], pro_uid)
    return pro_uid


def _if_match(request: web.Request) -> int | None:
    value = request.headers.get("If-Match", "").strip()
    if value in ("", "*"):
        return None
    text = value.removeprefix("W/").strip('"')
    if not text.isdigit():
        raise ApiError(400, f'If-Match must be a revision such as "3", not {value!r}')
    return int(text)


async def _read_definition(request: web.Request) -> ProcessDefinition:
    fmt = _body_format(request)
    return parse_definition(await read_body(request, MAX_SIZE), fmt)


def _body_format(request: web.Request) -> Format:
    if not request.headers.get("Content-Type", "").strip():
        return Format.JSON
    ctype = request.content_type
    if ctype in YAML_TYPES:
        return Format.YAML
    if ctype == JSON or (ctype.startswith("application/") and ctype.endswith("+json")):
        return Format.JSON
    raise ApiError(415, f"send the definition as {JSON} or application/yaml, not {ctype}")
