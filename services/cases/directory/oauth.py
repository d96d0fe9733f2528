"""ProcessMaker's OAuth2 token endpoint: the password and refresh-token grants.

Errors follow RFC 6749 §5.2 with the statuses and descriptions of the OAuth2
server ProcessMaker uses (bshaffer/oauth2-server-php): a bad client is 401
``invalid_client``, a wrong password 401 ``invalid_grant``, a bad refresh
token 400 ``invalid_grant``. A refresh token works once: using it issues a new
pair and retires it.
"""

from __future__ import annotations

from datetime import timedelta

from casemesh.store.port import NotFound
from services.cases.directory import authentication, clock, repository, token_repository
from services.cases.directory.context import Directory
from services.cases.directory.credentials import digest, new_token, same_digest
from services.cases.directory.schemas import TokenRequest

REFRESH_TTL = timedelta(days=14)  # the OAuth2 server's default refresh token lifetime
SCOPES = frozenset({"*", "view_processes", "edit_processes"})
DEFAULT_SCOPE = "*"


class OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str):
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description

    def body(self) -> dict:
        return {"error": self.error, "error_description": self.description}


async def issue(
    d: Directory, workspace: str, request: TokenRequest, basic: tuple[str, str] | None
) -> dict:
    grant = request.grant_type
    if not grant:
        raise OAuthError(400, "invalid_request", "The grant type was not specified in the request")
    if grant not in ("password", "refresh_token"):
        raise OAuthError(400, "unsupported_grant_type", f'Grant type "{grant}" not supported')
    client_id = await _check_client(d, workspace, request, basic)
    scope = _scope(request.scope)
    if grant == "password":
        usr_uid = await _password_grant(d, workspace, request)
        replaces = None
    else:
        usr_uid, replaces, scope = await _refresh_grant(d, workspace, request, client_id)
    return await _new_pair(d, workspace, usr_uid, client_id, scope, replaces)


async def _check_client(
    d: Directory, workspace: str, request: TokenRequest, basic: tuple[str, str] | None
) -> str:
    client_id, secret = basic if basic is not None else (request.client_id, request.client_secret)
    if not client_id or not secret:
        raise OAuthError(
            400,
            "invalid_client",
            "Invalid REST API credentials, please send a valid client_id and client_secret.",
        )
    client = await token_repository.get_client(d.store, workspace, client_id)
    if client is None or not same_digest(secret, client["secret_hash"]):
        raise OAuthError(401, "invalid_client", "The client credentials are invalid")
    return client_id


def _scope(requested: str) -> str:
    if not requested:
        return DEFAULT_SCOPE
    if not set(requested.split()) <= SCOPES:
        raise OAuthError(400, "invalid_scope", "An unsupported scope was requested")
    return requested


async def _password_grant(d: Directory, workspace: str, request: TokenRequest) -> str:
    if not request.username or not request.password:
        raise OAuthError(
            400, "invalid_request", 'Missing parameters: "username" and "password" required'
        )
    user = await authentication.check_password(d, workspace, request.username, request.password)
    if user is None:
        raise OAuthError(401, "invalid_grant", "Invalid username and password combination")
    return user["usr_uid"]


async def _refresh_grant(
    d: Directory, workspace: str, request: TokenRequest, client_id: str
) -> tuple[str, str, str]:
    if not request.refresh_token:
        raise OAuthError(400, "invalid_request", 'Missing parameter: "refresh_token" is required')
    stored = await token_repository.get_refresh_token(d.store, digest(request.refresh_token))
    if stored is None or stored["workspace"] != workspace or stored["client_id"] != client_id:
        raise OAuthError(400, "invalid_grant", "Invalid refresh token")
    if clock.parse(stored["expires_at"]) <= clock.now():
        raise OAuthError(400, "invalid_grant", "Refresh token has expired")
    user = await repository.get_user(d.store, workspace, stored["usr_uid"])
    if user is None or not authentication.may_sign_in(user):
        raise OAuthError(400, "invalid_grant", "Invalid refresh token")
    scope = _scope(request.scope) if request.scope else stored["scope"]
    return stored["usr_uid"], stored["id"], scope


async def _new_pair(
    d: Directory, workspace: str, usr_uid: str, client_id: str, scope: str, replaces: str | None
) -> dict:
    access, refresh = new_token(), new_token()
    moment = clock.now()
    ttl = d.settings.token_ttl
    common = {"workspace": workspace, "usr_uid": usr_uid, "client_id": client_id, "scope": scope}
    access_doc = {
        "id": digest(access),
        **common,
        "created_at": clock.stamp(moment),
        "expires_at": clock.stamp(moment + timedelta(seconds=ttl)),
    }
    refresh_doc = {
        "id": digest(refresh),
        **common,
        "access_token_id": access_doc["id"],
        "created_at": clock.stamp(moment),
        "expires_at": clock.stamp(moment + REFRESH_TTL),
    }
    try:
        await token_repository.save_token_pair(d.store, access_doc, refresh_doc, replaces=replaces)
    except NotFound:  # the refresh token was used by a concurrent request
        raise OAuthError(400, "invalid_grant", "Invalid refresh token") from None
    await token_repository.delete_expired_tokens(d.store, workspace, usr_uid, clock.stamp(moment))
    return {
        "access_token": access,
        "expires_in": ttl,
        "token_type": "bearer",
        "scope": scope,
        "refresh_token": refresh,
    }
