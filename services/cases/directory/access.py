"""Who may do what in the directory.

Reading users, groups and roles needs PM_USERS or PM_FACTORY and changing
them needs PM_USERS, as in ProcessMaker's Administration API. A user may
always read their own record and manage their own API keys.

A caller without the right gets 403 with the message of ProcessMaker's
AccessControl policy. (ProcessMaker 3 answers a missing permission with 403,
401 or 400 depending on the endpoint; 403 is the one that does not tell the
client to sign in again.)
"""

from __future__ import annotations

from casemesh.identity import PM_FACTORY, PM_USERS, Identity
from casemesh.web.errors import ApiError

FORBIDDEN = "You don't have permission to access this endpoint or resource on this server."
READ = (PM_USERS, PM_FACTORY)
MANAGE = (PM_USERS,)


def check_workspace(identity: Identity, workspace: str) -> None:
    """A caller only ever acts inside the workspace it signed in to."""
    if identity.workspace != workspace:
        raise ApiError(401, f"the credentials are not valid for workspace {workspace!r}")


def require(identity: Identity, workspace: str, permissions: tuple[str, ...]) -> None:
    check_workspace(identity, workspace)
    if not any(identity.can(p) for p in permissions):
        raise ApiError(403, FORBIDDEN)


def require_self_or(
    identity: Identity, workspace: str, usr_uid: str, permissions: tuple[str, ...]
) -> None:
    check_workspace(identity, workspace)
    if identity.user_uid != usr_uid and not any(identity.can(p) for p in permissions):
        raise ApiError(403, FORBIDDEN)
