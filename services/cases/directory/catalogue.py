"""Fixed vocabulary of the directory: permissions, built-in roles, statuses.

Permission and built-in role uids are fixed 32-character ids, the same in
every workspace, so clients can hard-code them as they do with ProcessMaker
(whose built-in roles PROCESSMAKER_ADMIN and PROCESSMAKER_OPERATOR have these
uids). Custom roles get random uids.
"""

from __future__ import annotations

from dataclasses import dataclass

from casemesh.identity import (
    ALL_PERMISSIONS,
    PM_ALLCASES,
    PM_CANCELCASE,
    PM_CASES,
    PM_FACTORY,
    PM_REASSIGNCASE,
    PM_SETUP,
    PM_SUPERVISOR,
    PM_USERS,
)

# Who may sign in (users are ACTIVE, INACTIVE or VACATION): INACTIVE users may not.
SIGN_IN_STATUSES = frozenset({"ACTIVE", "VACATION"})

ADMIN_ROLE = "PROCESSMAKER_ADMIN"
OPERATOR_ROLE = "PROCESSMAKER_OPERATOR"
# ProcessMaker's administrator is always this uid.
ADMIN_USER_UID = "00000000000000000000000000000001"
ADMIN_USERNAME = "admin"
SYSTEM_UID = "00000000000000000000000000000002"  # rol_system of every role


@dataclass(frozen=True)
class Permission:
    uid: str
    code: str
    name: str


PERMISSIONS: tuple[Permission, ...] = (
    Permission("00000000000000000000000000000002", PM_SETUP, "Setup"),
    Permission("00000000000000000000000000000003", PM_USERS, "Users"),
    Permission("00000000000000000000000000000004", PM_FACTORY, "Designer"),
    Permission("00000000000000000000000000000005", PM_CASES, "Cases"),
    Permission("00000000000000000000000000000006", PM_ALLCASES, "All cases"),
    Permission("00000000000000000000000000000007", PM_REASSIGNCASE, "Reassign cases"),
    Permission("00000000000000000000000000000009", PM_SUPERVISOR, "Supervisor"),
    Permission("00000000000000000000000000000016", PM_CANCELCASE, "Cancel cases"),
)
_BY_KEY = {p.uid: p for p in PERMISSIONS} | {p.code: p for p in PERMISSIONS}


def find_permission(key: str) -> Permission | None:
    """A permission by its uid or its code."""
    return _BY_KEY.get(key) or _BY_KEY.get(key.upper())


@dataclass(frozen=True)
class BuiltInRole:
    uid: str
    code: str
    name: str
    permissions: tuple[str, ...]


BUILT_IN_ROLES: tuple[BuiltInRole, ...] = (
    BuiltInRole(
        "00000000000000000000000000000002", ADMIN_ROLE, "System Administrator", ALL_PERMISSIONS
    ),
    BuiltInRole("00000000000000000000000000000003", OPERATOR_ROLE, "Operator", (PM_CASES,)),
)
