"""Who a credential belongs to: the identity the gateway passes to every service.

Credentials: an OAuth2 access token or an API key as a Bearer token; HTTP
Basic with a username and password, or with ``<username>/token`` and an API
key. Users who may not sign in (INACTIVE, or past their due date) are refused
whatever they present.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from casemesh.identity import Identity
from casemesh.store.port import Document
from services.cases.directory import clock, repository, token_repository
from services.cases.directory.catalogue import SIGN_IN_STATUSES
from services.cases.directory.context import Directory
from services.cases.directory.credentials import api_key_id, digest, is_api_key, same_digest
from services.cases.directory.schemas import AuthenticateRequest

TOKEN_SUFFIX = "/token"  # noqa: S105 - Trackops: Basic "<username>/token" and the API key


@dataclass(frozen=True)
class Authenticated:
    identity: Identity
    # How long the answer may be trusted, in seconds (None: the caller's own limit).
    valid_for: float | None = None


def may_sign_in(user: Document, today: date | None = None) -> bool:
    if user.get("usr_status") not in SIGN_IN_STATUSES:
        return False
    due = user.get("usr_due_date") or ""
    return not due or date.fromisoformat(due) >= (today or clock.now().date())


async def identity_of(d: Directory, user: Document, via: str) -> Identity | None:
    """The identity of a user who may sign in, with the role's permissions and the groups."""
    if not may_sign_in(user):
        return None
    workspace = user["workspace"]
    role = await repository.find_role_by_code(d.store, workspace, user["usr_role"])
    permissions = role["permissions"] if role and role["rol_status"] == "ACTIVE" else []
    groups = await repository.groups_of(d.store, workspace, user["usr_uid"])
    return Identity(
        workspace=workspace,
        user_uid=user["usr_uid"],
        username=user["usr_username"],
        first_name=user.get("usr_firstname", ""),
        last_name=user.get("usr_lastname", ""),
        email=user.get("usr_email", ""),
        role=user["usr_role"],
        permissions=frozenset(permissions),
        groups=tuple(sorted(g["grp_uid"] for g in groups if g["grp_status"] == "ACTIVE")),
        via=via,  # type: ignore[arg-type]
    )


async def check_password(
    d: Directory, workspace: str, username: str, password: str
) -> Document | None:
    """The user if the password is theirs and they may sign in; as slow either way."""
    user = await repository.find_user_by_username(d.store, workspace, username)
    if user is None or not user.get("password_hash"):
        await d.passwords.spend_time(password)
        return None
    if not await d.passwords.verify(user["password_hash"], password):
        return None
    if d.passwords.needs_rehash(user["password_hash"]):
        new_hash = await d.passwords.hash(password)
        await repository.update_user(
            d.store, workspace, user["usr_uid"], {"password_hash": new_hash}
        )
    return user if may_sign_in(user) else None


async def authenticate(d: Directory, request: AuthenticateRequest) -> Authenticated | None:
    if request.scheme == "bearer":
        if is_api_key(request.token):
            return await _by_api_key(d, request.token)
        return await _by_access_token(d, request.token)
    if request.username.endswith(TOKEN_SUFFIX):
        username = request.username.removesuffix(TOKEN_SUFFIX)
        return await _by_api_key(d, request.password, username=username)
    workspace = request.workspace or d.settings.default_workspace
    user = await check_password(d, workspace, request.username, request.password)
    return await _authenticated(d, user, "basic")


async def _by_access_token(d: Directory, token: str) -> Authenticated | None:
    if not token:
        return None
    stored = await token_repository.get_access_token(d.store, digest(token))
    if stored is None:
        return None
    remaining = (clock.parse(stored["expires_at"]) - clock.now()).total_seconds()
    if remaining <= 0:
        await token_repository.delete_access_token(d.store, stored["id"])
        return None
    user = await repository.get_user(d.store, stored["workspace"], stored["usr_uid"])
    return await _authenticated(d, user, "token", valid_for=remaining)


async def _by_api_key(
    d: Directory, value: str, *, username: str | None = None
) -> Authenticated | None:
    key_id = api_key_id(value)
    if key_id is None:
        return None
    stored = await token_repository.get_api_key(d.store, key_id)
    if stored is None or not same_digest(value, stored["key_hash"]):
        return None
    user = await repository.get_user(d.store, stored["workspace"], stored["usr_uid"])
    if user is not None and username is not None and user["usr_username"] != username:
        return None
    return await _authenticated(d, user, "api_key")


async def _authenticated(
    d: Directory, user: Document | None, via: str, valid_for: float | None = None
) -> Authenticated | None:
    if user is None:
        return None
    identity = await identity_of(d, user, via)
    return Authenticated(identity, valid_for) if identity is not None else None
