"""The cases service's public contract: every route it serves through the gateway.

Each operation points at the pydantic model its handler validates with
(``bodies``, ``lists``, ``directory.schemas``, ``definitions.model``,
``pings``) and at the models describing its answers (``cases.responses``,
``directory.responses``, ``definitions.responses``). Served as an OpenAPI
fragment at ``GET /openapi.json``; the gateway merges it with the others.

The directory accepts ProcessMaker's singular and plural spellings of every
path (``user/{usr_uid}`` and ``users/{usr_uid}``); the contract names the
spelling ProcessMaker documents.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from casemesh.web.openapi import (
    FORM,
    JSON,
    MULTIPART,
    PROXY_ERRORS,
    CasemeshError,
    Operation,
    ProcessMakerError,
    Response,
)
from services.cases import pings
from services.cases.cases import bodies, lists
from services.cases.cases import responses as cases
from services.cases.definitions import responses as processes
from services.cases.definitions.model import ProcessDefinition
from services.cases.directory import responses as directory
from services.cases.directory import schemas

NAME = "cases"
FIELDS = (JSON, FORM, MULTIPART)  # what casemesh.web.forms.read_fields reads
WORKSPACE = {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,64}$", "examples": ["workflow"]}
DONE = Response(description="done; ProcessMaker answers with no body")
CREATED = Response(description="created; no body")
BODY_ERRORS = (400, 401, 403, 404, 413, 415)


def _list(model: Any) -> TypeAdapter:
    return TypeAdapter(list[model])


def _pm(method: str, path: str, summary: str, tag: str, **kw: Any) -> Operation:
    """A ProcessMaker-dialect operation under ``/api/1.0/{workspace}``."""
    kw.setdefault("errors", (400, 401, 403, 404))
    return Operation(
        method,
        "/api/1.0/{workspace}" + path,
        summary,
        (tag,),
        path_params={"workspace": WORKSPACE, **kw.pop("path_params", {})},
        **kw,
    )


# -- sign-in and pings ----------------------------------------------------------------


def _sign_in() -> list[Operation]:
    pm_proxy_errors = {s: Response(ProcessMakerError) for s in PROXY_ERRORS}
    return [
        Operation(
            "POST",
            "/{workspace}/oauth2/token",
            "Get an access token (OAuth2 password or refresh-token grant)",
            ("Sign-in",),
            responses={
                200: Response(
                    directory.Token,
                    headers={"Cache-Control": "no-store"},
                ),
                **pm_proxy_errors,
            },
            body=schemas.TokenRequest,
            body_media=FIELDS,
            error=directory.OAuthError,
            errors=(400, 401),
            security=(),
            path_params={"workspace": WORKSPACE},
            description=(
                "ProcessMaker's token endpoint. `grant_type=password` with `username` and "
                "`password`, or `grant_type=refresh_token` with `refresh_token` (used once). "
                "The client (`client_id`, `client_secret`) comes in the body or as HTTP Basic."
            ),
        ),
    ]


def _pings() -> list[Operation]:
    common: dict[str, Any] = {"tags": ("Casemesh: pings",), "error": CasemeshError}
    return [
        Operation(
            "POST",
            "/casemesh/v1/pings",
            "Record a ping and publish it; every other service answers over the bus",
            responses={201: pings.Ping},
            body=pings.PingCreate,
            body_required=False,
            errors=(400, 413),
            **common,
        ),
        Operation(
            "GET",
            "/casemesh/v1/pings/{ping_id}",
            "A ping and the services that answered it",
            responses={200: pings.Ping},
            errors=(404,),
            **common,
        ),
    ]


# -- cases ------------------------------------------------------------------------------

CASE_TAG = "ProcessMaker: cases"
LIST_NAMES = {
    "": "To do: the caller's open tasks",
    "/draft": "Draft: cases the caller started and has not routed",
    "/participated": "Participated: cases the caller took part in",
    "/unassigned": "Unassigned: self-service tasks the caller may claim",
    "/paused": "Paused: the caller's paused tasks",
    "/advanced-search": "Advanced search over every case the caller may see",
}


def _case_lists() -> list[Operation]:
    ops = []
    for suffix, summary in LIST_NAMES.items():
        advanced = suffix == "/advanced-search"
        query = lists.AdvancedListQuery if advanced else lists.ListQuery
        page = cases.AdvancedCasePage if advanced else cases.CasePage
        path = "/cases" + suffix
        ops.append(
            _pm("GET", path, summary, CASE_TAG, query=query, responses={200: _list(cases.CaseRow)})
        )
        ops.append(
            _pm(
                "GET",
                path + "/paged",
                summary + " (paged)",
                CASE_TAG,
                query=query,
                responses={200: page},
            )
        )
    return ops


def _case_actions() -> list[Operation]:
    case = "/cases/{app_uid}"
    body: dict[str, Any] = {"body_media": FIELDS, "errors": BODY_ERRORS}
    optional: dict[str, Any] = {**body, "body_required": False}
    return [
        _pm("POST", "/cases", "Start a case", CASE_TAG, responses={200: cases.CaseCreated},
            body=bodies.NewCase, **body),
        _pm("POST", "/cases/impersonate", "Start a case on behalf of another user", CASE_TAG,
            responses={200: cases.CaseCreated}, body=bodies.NewCaseImpersonate, **body),
        _pm("GET", case, "A case and its current task(s)", CASE_TAG,
            responses={200: cases.CaseInfo}),
        _pm("DELETE", case, "Delete a draft case", CASE_TAG, responses={200: DONE}),
        _pm("GET", case + "/current-task", "The case's open tasks", CASE_TAG,
            responses={200: _list(cases.CurrentTaskRef)}),
        _pm("GET", case + "/tasks", "Every task of the process and what happened in it", CASE_TAG,
            responses={200: _list(cases.CaseTask)}),
        _pm("GET", case + "/variables", "The case's variables (system @@ variables included)",
            CASE_TAG, responses={200: Response({"type": "object"}, "variable name -> value")}),
        _pm("PUT", case + "/variable", "Set case variables", CASE_TAG, responses={200: DONE},
            body=bodies.Variables, **body),
        _pm("PUT", case + "/route-case", "Route the caller's task to the next one(s)", CASE_TAG,
            responses={200: DONE}, body=bodies.RouteCase, **optional),
        _pm("PUT", case + "/reassign-case", "Give a task to another user", CASE_TAG,
            responses={200: DONE}, body=bodies.Reassign, **body),
        _pm("PUT", case + "/claim", "Take an unassigned self-service task", CASE_TAG,
            responses={200: DONE}, body=bodies.Claim, **optional),
        _pm("PUT", case + "/cancel", "Cancel the case", CASE_TAG, responses={200: DONE}),
        _pm("PUT", case + "/pause", "Pause the case, optionally until a date", CASE_TAG,
            responses={200: DONE}, body=bodies.Pause, **optional),
        _pm("PUT", case + "/unpause", "Unpause the case", CASE_TAG, responses={200: DONE},
            body=bodies.Pause, **optional),
        _pm("PUT", case + "/execute-trigger/{tri_uid}", "Run one of the process's triggers",
            CASE_TAG, responses={200: DONE}),
    ]  # fmt: skip


# -- process definitions ------------------------------------------------------------------

PROCESS_TAG = "Casemesh: process definitions"
ETAG = {"ETag": 'the revision, as "N"; send it back in If-Match'}


def _processes() -> list[Operation]:
    one = "/processes/{pro_uid}"
    definition: dict[str, Any] = {
        "body": ProcessDefinition,
        "body_media": (JSON, "application/yaml"),
        "errors": (400, 401, 403, 404, 409, 413, 415),
    }
    return [
        _pm("GET", "/processes", "The workspace's processes (without their definitions)",
            PROCESS_TAG, responses={200: _list(processes.ProcessSummary)}),
        _pm("POST", "/processes", "Create a process from a definition (JSON or YAML)",
            PROCESS_TAG, responses={201: Response(processes.Process, headers=ETAG)},
            **definition),
        _pm("GET", one, "A process and its definition", PROCESS_TAG,
            responses={200: Response(processes.Process, headers=ETAG)}),
        _pm("PUT", one, "Replace a process's definition", PROCESS_TAG,
            responses={200: Response(processes.Process, headers=ETAG)},
            headers={"If-Match": False}, **definition),
        _pm("DELETE", one, "Delete a process no case uses", PROCESS_TAG,
            responses={200: DONE}, headers={"If-Match": False}, errors=(400, 401, 403, 404, 409)),
    ]  # fmt: skip


# -- directory ------------------------------------------------------------------------------

DIRECTORY_TAG = "ProcessMaker: directory"


def _users() -> list[Operation]:
    one = "/user/{usr_uid}"
    body: dict[str, Any] = {"body_media": FIELDS, "errors": BODY_ERRORS}
    return [
        _pm("GET", "/users", "Users of the workspace", DIRECTORY_TAG, query=schemas.UserQuery,
            responses={200: _list(directory.User)}),
        _pm("POST", "/user", "Create a user", DIRECTORY_TAG, responses={201: directory.User},
            body=schemas.UserCreate, **body),
        _pm("GET", one, "A user", DIRECTORY_TAG, responses={200: directory.User}),
        _pm("PUT", one, "Change a user", DIRECTORY_TAG, responses={200: DONE},
            body=schemas.UserUpdate, **body),
        _pm("DELETE", one, "Delete a user", DIRECTORY_TAG, responses={200: DONE}),
        _pm("GET", one + "/api-keys", "A user's API keys (never the keys themselves)",
            DIRECTORY_TAG, responses={200: _list(directory.ApiKey)}),
        _pm("POST", one + "/api-keys", "Create an API key (shown once)", DIRECTORY_TAG,
            responses={201: directory.NewApiKey}, body=schemas.ApiKeyCreate,
            body_required=False, **body),
        _pm("DELETE", one + "/api-keys/{key_id}", "Revoke an API key", DIRECTORY_TAG,
            responses={200: DONE}),
    ]  # fmt: skip


def _groups() -> list[Operation]:
    one = "/group/{grp_uid}"
    body: dict[str, Any] = {"body_media": FIELDS, "errors": BODY_ERRORS}
    page = schemas.PageQuery
    return [
        _pm("GET", "/groups", "Groups of the workspace", DIRECTORY_TAG, query=page,
            responses={200: _list(directory.Group)}),
        _pm("POST", "/group", "Create a group", DIRECTORY_TAG, responses={201: directory.Group},
            body=schemas.GroupCreate, **body),
        _pm("GET", one, "A group", DIRECTORY_TAG, responses={200: directory.Group}),
        _pm("PUT", one, "Change a group", DIRECTORY_TAG, responses={200: DONE},
            body=schemas.GroupUpdate, **body),
        _pm("DELETE", one, "Delete a group", DIRECTORY_TAG, responses={200: DONE}),
        _pm("GET", one + "/users", "Members of a group", DIRECTORY_TAG, query=page,
            responses={200: _list(directory.Member)}),
        _pm("GET", one + "/available-users", "Users who are not members of a group",
            DIRECTORY_TAG, query=page, responses={200: _list(directory.Member)}),
        _pm("POST", one + "/user", "Add a member to a group", DIRECTORY_TAG,
            responses={201: CREATED}, body=schemas.MemberAdd, **body),
        _pm("DELETE", one + "/user/{usr_uid}", "Remove a member from a group", DIRECTORY_TAG,
            responses={200: DONE}),
    ]  # fmt: skip


def _roles() -> list[Operation]:
    one = "/role/{rol_uid}"
    body: dict[str, Any] = {"body_media": FIELDS, "errors": (*BODY_ERRORS, 409)}
    permissions = _list(directory.Permission)
    return [
        _pm("GET", "/roles", "Roles of the workspace", DIRECTORY_TAG, query=schemas.PageQuery,
            responses={200: _list(directory.Role)}),
        _pm("POST", "/role", "Create a role", DIRECTORY_TAG, responses={201: directory.Role},
            body=schemas.RoleCreate, **body),
        _pm("GET", one, "A role", DIRECTORY_TAG, responses={200: directory.Role}),
        _pm("PUT", one, "Change a role", DIRECTORY_TAG, responses={200: DONE},
            body=schemas.RoleUpdate, **body),
        _pm("DELETE", one, "Delete a role no user holds", DIRECTORY_TAG, responses={200: DONE}),
        _pm("GET", one + "/permissions", "Permissions the role holds", DIRECTORY_TAG,
            responses={200: permissions}),
        _pm("GET", one + "/available-permissions", "Permissions the role does not hold",
            DIRECTORY_TAG, responses={200: permissions}),
        _pm("POST", one + "/permission", "Give the role a permission", DIRECTORY_TAG,
            responses={201: CREATED}, body=schemas.PermissionAssign, **body),
        _pm("DELETE", one + "/permission/{per_uid}", "Take a permission from the role",
            DIRECTORY_TAG, responses={200: DONE}, errors=(400, 401, 403, 404, 409)),
        _pm("GET", one + "/users", "Users holding the role", DIRECTORY_TAG,
            responses={200: _list(directory.Member)}),
        _pm("POST", one + "/user", "Give a user the role", DIRECTORY_TAG,
            responses={201: CREATED}, body=schemas.MemberAdd, **body),
    ]  # fmt: skip


def operations() -> list[Operation]:
    """Every public route of the cases service, as the gateway serves it."""
    return [
        *_sign_in(),
        *_pings(),
        *_case_lists(),
        *_case_actions(),
        *_processes(),
        *_users(),
        *_groups(),
        *_roles(),
    ]
