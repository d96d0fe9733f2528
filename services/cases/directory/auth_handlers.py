"""Signing in: ProcessMaker's OAuth2 token endpoint, and the gateway's internal check."""

from __future__ import annotations

import binascii

from aiohttp import BasicAuth, web
from pydantic import ValidationError

from casemesh.internal import INTERNAL_HEADER as INTERNAL_HEADER  # shared with the other side
from casemesh.internal import require_internal
from casemesh.web.errors import ApiError
from casemesh.web.forms import read_fields
from services.cases.directory import authentication, oauth
from services.cases.directory.context import DIRECTORY
from services.cases.directory.schemas import AuthenticateRequest, TokenRequest

# The gateway's question "whose credential is this?". Not routed by the gateway;
# it must carry the shared internal secret in this header.
AUTHENTICATE_PATH = "/internal/v1/authenticate"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


async def token(request: web.Request) -> web.Response:
    """``POST /{workspace}/oauth2/token``: answers and errors as RFC 6749 JSON."""
    d = request.app[DIRECTORY]
    try:
        body = TokenRequest.model_validate(await read_fields(request))
        basic = _basic_client(request)
        answer = await oauth.issue(d, request.match_info["workspace"], body, basic)
    except oauth.OAuthError as exc:
        return web.json_response(exc.body(), status=exc.status, headers=NO_STORE)
    except (ApiError, ValidationError) as exc:
        error = oauth.OAuthError(400, "invalid_request", f"The request is malformed: {exc}")
        return web.json_response(error.body(), status=400, headers=NO_STORE)
    return web.json_response(answer, headers=NO_STORE)


def _basic_client(request: web.Request) -> tuple[str, str] | None:
    """Client credentials sent as HTTP Basic (RFC 6749 §2.3.1), if any."""
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        auth = BasicAuth.decode(header)
    except (ValueError, binascii.Error):
        raise oauth.OAuthError(
            400, "invalid_client", "Client credentials were not found in the headers or body"
        ) from None
    return auth.login, auth.password


async def authenticate(request: web.Request) -> web.Response:
    """The identity behind a credential, or 401. Only callers with the internal secret."""
    require_internal(request)
    d = request.app[DIRECTORY]
    question = AuthenticateRequest.model_validate(await read_fields(request))
    found = await authentication.authenticate(d, question)
    if found is None:
        raise ApiError(401, "the credentials are not valid")
    # A token that expires soon must not outlive its expiry in the gateway's cache.
    headers = {}
    if found.valid_for is not None:
        headers["Cache-Control"] = f"private, max-age={int(found.valid_for)}"
    return web.Response(
        text=found.identity.model_dump_json(), content_type="application/json", headers=headers
    )
