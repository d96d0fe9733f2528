"""HTTP handlers of the directory API (ProcessMaker REST 1.0 shapes): parse, call, answer."""

from __future__ import annotations

from aiohttp import web

from casemesh.identity import Identity, caller
from casemesh.web.forms import read_fields
from services.cases.directory import access, api_keys, groups, roles, users
from services.cases.directory.context import DIRECTORY, Directory
from services.cases.directory.schemas import (
    ApiKeyCreate,
    GroupCreate,
    GroupUpdate,
    MemberAdd,
    PageQuery,
    PermissionAssign,
    RoleCreate,
    RoleUpdate,
    UserCreate,
    UserQuery,
    UserUpdate,
)


def _context(request: web.Request) -> tuple[Directory, Identity, str]:
    return request.app[DIRECTORY], caller(request), request.match_info["workspace"]


def _done() -> web.Response:
    """ProcessMaker's answer to an update or delete: 200 and no body."""
    return web.Response(status=200)


# -- users ------------------------------------------------------------------------


async def list_users(request: web.Request) -> web.Response:
    d, who, ws = _context(request)
    access.require(who, ws, access.READ)
    query = UserQuery.model_validate(dict(request.query))
    return web.json_response(await users.list_users(d, ws, query))


async def create_user(request: web.Request) -> web.Response:
    d, who, ws = _context(request)
    access.require(who, ws, access.MANAGE)
    body = UserCreate.model_validate(await read_fields(request))
    return web.json_response(await users.create_user(d, ws, body), status=201)


async def get_user(request: web.Request) -> web.Response:
    d, who, ws = _context(request)
    usr_uid = request.match_info["usr_uid"]
    access.require_self_or(who, ws, usr_uid, access.READ)
    return web.json_response(await users.get_user(d, ws, usr_uid))


async def update_user(request: web.Request) -> web.Response:
    d, who, ws = _context(request)
    access.require(who, ws, access.MANAGE)
    body = UserUpdate.model_validate(await read_fields(request))
    await users.update_user(d, ws, request.match_info["usr_uid"], body, who)
    return _done()


async def delete_user(request: web.Request) -> web.Response:
    d, who, ws = _context(request)
    access.require(who, ws, access.MANAGE)
    await users.delete_user(d, ws, request.match_info["usr_uid"], who)
    return _done()


# -- API keys ---------------------------------------------------------------------


async def create_api_key(request: web.Request) -> web.Response:
    d, who, ws = _context(request)
    usr_uid = request.match_info["usr_uid"]
    access.require_self_or(who, ws, usr_uid, access.MANAGE)
    body = ApiKeyCreate.model_validate(await read_fields(request))
    return web.json_response(await api_keys.create_key(d, ws, usr_uid, body), status=201)


async def list_api_keys(request: web.Request) -> web.Response:
    d, who, ws = _context(request)
    usr_uid = request.match_info["usr_uid"]
    access.require_self_or(who, ws, usr_uid, access.MANAGE)
    return web.json_response(await api_keys.list_keys(d, ws, usr_uid))


async def revoke_api_key(request: web.Request) -> web.Response:
    d, who, ws = _context(request)
    usr_uid = request.match_info["usr_uid"]
    access.require_self_or(who, ws, usr_uid, access.MANAGE)
    await api_keys.revoke_key(d, ws, usr_uid, request.match_info["key_id"])
    return _done()


# -- groups -----------------------------------------------------------------------


async def list_groups(request: web.Request) -> web.Response:
    d, who, ws = _context(request)
    access.require(who, ws, access.READ)
    query = PageQuery.model_validate(dict(request.query))
    return web.json_response(await groups.list_groups(d, ws, query))


async def create_group(request: web.Request) -> web.Response:
    d, who, ws = _context(request)
    access.require(who, ws, access.MANAGE)
    body = GroupCreate.model_validate(await read_fields(request))
    return web.json_response(await groups.create_group(d, ws, body), status=201)


async def get_group(request: web.Request) -> web.Response:
    d, who, ws = _context(request)
    access.require(who, ws, access.READ)
    return web.json_response(await groups.get_group(d, ws, request.match_info["grp_uid"]))


async def update_group(request: web.Request) -> web.Response:
    d, who, ws = _context(request)
    access.require(who, ws, access.MANAGE)
    body = GroupUpdate.model_validate(await read_fields(request))
    await groups.update_group(d, ws, request.match_info["grp_uid"], body)
    return _done()


async def delete_group(request: web.Request) -> web.Response:
    d, who, ws = _context(request)
    access.require(who, ws, access.MANAGE)
    await groups.delete_group(d, ws, request.match_info["grp_uid"])
    return _done()


async def list_members(request: web.Request) -> web.Response:
    d, who, ws = _context(request)
    access.require(who, ws, access.READ)
    query = PageQuery.model_validate(dict(request.query))
    return web.json_response(await groups.members(d, ws, request.match_info["grp_uid"], query))


async def list_available_members(request: web.Request) -> web.Response:
    d, who, ws = _context(request)
    access.require(who, ws, access.READ)
    query = PageQuery.model_validate(dict(request.query))
    grp_uid = request.match_info["grp_uid"]
    return web.json_response(await groups.available_users(d, ws, grp_uid, query))


async def add_member(request: web.Request) -> web.Response:
    d, who, ws = _context(request)
    access.require(who, ws, access.MANAGE)
    body = MemberAdd.model_validate(await read_fields(request))
    await groups.add_member(d, ws, request.match_info["grp_uid"], body)
    return web.Response(status=201)


async def remove_member(request: web.Request) -> web.Response:
    d, who, ws = _context(request)
    access.require(who, ws, access.MANAGE)
    info = request.match_info
    await groups.remove_member(d, ws, info["grp_uid"], info["usr_uid"])
    return _done()


# -- roles ------------------------------------------------------------------------


async def list_roles(request: web.Request) -> web.Response:
    d, who, ws = _context(request)
    access.require(who, ws, access.READ)
    query = PageQuery.model_validate(dict(request.query))
    return web.json_response(await roles.list_roles(d, ws, query))


async def create_role(request: web.Request) -> web.Response:
    d, who, ws = _context(request)
    access.require(who, ws, access.MANAGE)
    body = RoleCreate.model_validate(await read_fields(request))
    return web.json_response(await roles.create_role(d, ws, body), status=201)


async def get_role(request: web.Request) -> web.Response:
    d, who, ws = _context(request)
    access.require(who, ws, access.READ)
    return web.json_response(await roles.get_role(d, ws, request.match_info["rol_uid"]))


async def update_role(request: web.Request) -> web.Response:
    d, who, ws = _context(request)
    access.require(who, ws, access.MANAGE)
    body = RoleUpdate.model_validate(await read_fields(request))
    await roles.update_role(d, ws, request.match_info["rol_uid"], body)
    return _done()


async def delete_role(request: web.Request) -> web.Response:
    d, who, ws = _context(request)
    access.require(who, ws, access.MANAGE)
    await roles.delete_role(d, ws, request.match_info["rol_uid"])
    return _done()


async def list_role_permissions(request: web.Request) -> web.Response:
    d, who, ws = _context(request)
    access.require(who, ws, access.READ)
    held = not request.path.endswith("/available-permissions")
    found = await roles.permissions(d, ws, request.match_info["rol_uid"], held=held)
    return web.json_response(found)


async def grant_role_permission(request: web.Request) -> web.Response:
    d, who, ws = _context(request)
    access.require(who, ws, access.MANAGE)
    body = PermissionAssign.model_validate(await read_fields(request))
    await roles.grant_permission(d, ws, request.match_info["rol_uid"], body)
    return web.Response(status=201)


async def deny_role_permission(request: web.Request) -> web.Response:
    d, who, ws = _context(request)
    access.require(who, ws, access.MANAGE)
    info = request.match_info
    await roles.deny_permission(d, ws, info["rol_uid"], info["per_uid"])
    return _done()


async def list_role_users(request: web.Request) -> web.Response:
    d, who, ws = _context(request)
    access.require(who, ws, access.READ)
    return web.json_response(await roles.users(d, ws, request.match_info["rol_uid"]))


async def assign_role_user(request: web.Request) -> web.Response:
    d, who, ws = _context(request)
    access.require(who, ws, access.MANAGE)
    body = MemberAdd.model_validate(await read_fields(request))
    await roles.assign_user(d, ws, request.match_info["rol_uid"], body, who.user_uid)
    return web.Response(status=201)
