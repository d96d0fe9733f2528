"""Plug the directory into the cases service: routes, indexes, start-up.

ProcessMaker names single resources in the singular (``user/{usr_uid}``,
``POST group``) and lists in the plural (``users``); both spellings are
accepted everywhere.
"""

from __future__ import annotations

from aiohttp import web

from casemesh.runtime import Runtime
from services.cases.directory import auth_handlers, handlers, repository, token_repository
from services.cases.directory.bootstrap import bootstrap
from services.cases.directory.context import DIRECTORY, Directory

API = "/api/1.0/{workspace}"
USERS = API + "/{kind:users?}"
USER = USERS + "/{usr_uid}"
GROUPS = API + "/{kind:groups?}"
GROUP = GROUPS + "/{grp_uid}"
ROLES = API + "/{kind:roles?}"
ROLE = ROLES + "/{rol_uid}"


def install(app: web.Application, runtime: Runtime) -> Directory:
    """Add the directory to the cases service's app and runtime."""
    directory = Directory(runtime.store, runtime.settings)
    app[DIRECTORY] = directory
    runtime.indexes = {**runtime.indexes, **repository.INDEXES, **token_repository.INDEXES}
    runtime.startup = (*runtime.startup, lambda: bootstrap(directory))
    add_routes(app.router)
    return directory


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/{workspace}/oauth2/token", auth_handlers.token)
    router.add_post(auth_handlers.AUTHENTICATE_PATH, auth_handlers.authenticate)

    router.add_get(USERS, handlers.list_users)
    router.add_post(USERS, handlers.create_user)
    router.add_get(USER, handlers.get_user)
    router.add_put(USER, handlers.update_user)
    router.add_delete(USER, handlers.delete_user)
    router.add_get(USER + "/api-keys", handlers.list_api_keys)
    router.add_post(USER + "/api-keys", handlers.create_api_key)
    router.add_delete(USER + "/api-keys/{key_id}", handlers.revoke_api_key)

    router.add_get(GROUPS, handlers.list_groups)
    router.add_post(GROUPS, handlers.create_group)
    router.add_get(GROUP, handlers.get_group)
    router.add_put(GROUP, handlers.update_group)
    router.add_delete(GROUP, handlers.delete_group)
    router.add_get(GROUP + "/users", handlers.list_members)
    router.add_get(GROUP + "/available-users", handlers.list_available_members)
    router.add_post(GROUP + "/{member:users?}", handlers.add_member)
    router.add_delete(GROUP + "/{member:users?}/{usr_uid}", handlers.remove_member)

    router.add_get(ROLES, handlers.list_roles)
    router.add_post(ROLES, handlers.create_role)
    router.add_get(ROLE, handlers.get_role)
    router.add_put(ROLE, handlers.update_role)
    router.add_delete(ROLE, handlers.delete_role)
    router.add_get(ROLE + "/permissions", handlers.list_role_permissions)
    router.add_get(ROLE + "/available-permissions", handlers.list_role_permissions)
    router.add_post(ROLE + "/{grant:permissions?}", handlers.grant_role_permission)
    router.add_delete(ROLE + "/{grant:permissions?}/{per_uid}", handlers.deny_role_permission)
    router.add_get(ROLE + "/users", handlers.list_role_users)
    router.add_post(ROLE + "/{member:users?}", handlers.assign_role_user)
