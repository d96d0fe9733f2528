"""Who is calling: the identity the gateway vouches for, passed to services.

The gateway authenticates the caller, then sends the identity to the service
in ``X-Casemesh-Identity`` (base64url JSON) with an HMAC-SHA256 signature in
``X-Casemesh-Signature`` keyed by the shared ``CASEMESH_INTERNAL_SECRET``. The
gateway strips any such header a client sends; a service trusts an identity
only if its signature verifies, so a caller reaching a service directly
cannot forge one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from casemesh.web.errors import ApiError

IDENTITY_HEADER = "X-Casemesh-Identity"
SIGNATURE_HEADER = "X-Casemesh-Signature"

# Permission codes (ProcessMaker's names).
PM_CASES = "PM_CASES"
PM_ALLCASES = "PM_ALLCASES"
PM_REASSIGNCASE = "PM_REASSIGNCASE"
PM_CANCELCASE = "PM_CANCELCASE"
PM_SUPERVISOR = "PM_SUPERVISOR"
PM_USERS = "PM_USERS"
PM_SETUP = "PM_SETUP"
PM_FACTORY = "PM_FACTORY"
ALL_PERMISSIONS = (
    PM_CASES,
    PM_ALLCASES,
    PM_REASSIGNCASE,
    PM_CANCELCASE,
    PM_SUPERVISOR,
    PM_USERS,
    PM_SETUP,
    PM_FACTORY,
)


class Identity(BaseModel):
    """An authenticated user of one workspace."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    workspace: str
    user_uid: str
    username: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    role: str = ""
    permissions: frozenset[str] = Field(default_factory=frozenset)
    groups: tuple[str, ...] = ()
    via: Literal["token", "api_key", "basic"] = "token"

    @property
    def is_admin(self) -> bool:
        """Administrators hold every permission (ProcessMaker's PROCESSMAKER_ADMIN)."""
        return set(ALL_PERMISSIONS) <= self.permissions

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.username


def _sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def identity_headers(identity: Identity, secret: str) -> dict[str, str]:
    """The headers the gateway adds to vouch for ``identity``."""
    payload = base64.urlsafe_b64encode(identity.model_dump_json().encode()).decode()
    return {IDENTITY_HEADER: payload, SIGNATURE_HEADER: _sign(secret, payload)}


def read_identity(headers: dict[str, str] | web.Request, secret: str) -> Identity | None:
    """The identity in these headers if its signature verifies, else None."""
    source = headers.headers if isinstance(headers, web.Request) else headers
    payload = source.get(IDENTITY_HEADER)
    signature = source.get(SIGNATURE_HEADER)
    if not payload or not signature or not secret:
        return None
    if not hmac.compare_digest(_sign(secret, payload), signature):
        return None
    try:
        return Identity.model_validate_json(base64.urlsafe_b64decode(payload.encode()))
    except (ValueError, ValidationError):
        return None


IDENTITY: web.RequestKey[Identity | None] = web.RequestKey("identity", object)  # type: ignore[arg-type]


def caller(request: web.Request) -> Identity:
    """The verified caller of this request, or a 401 in the dialect's shape."""
    from casemesh.web.keys import SETTINGS

    if IDENTITY not in request:
        secret = request.app[SETTINGS].internal_secret.get_secret_value()
        request[IDENTITY] = read_identity(request, secret)
    identity = request[IDENTITY]
    if identity is None:
        raise ApiError(401, "Unauthorized")
    return identity
