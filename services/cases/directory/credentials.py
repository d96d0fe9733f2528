"""Secrets handed to clients: access and refresh tokens, API keys, client secrets.

Only a SHA-256 digest of each secret is stored. These secrets are long and
random, so a fast digest is enough (unlike passwords, which go through
Argon2); the digest doubles as the lookup key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

API_KEY_PREFIX = "cmk_"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def same_digest(secret: str, expected_digest: str) -> bool:
    """Constant-time check that ``secret`` hashes to ``expected_digest``."""
    return hmac.compare_digest(digest(secret), expected_digest)


def new_uid() -> str:
    """A 32-character hex uid, the shape of ProcessMaker's ``*_uid`` fields."""
    return uuid.uuid4().hex


def new_token() -> str:
    """An access or refresh token: 40 hex characters, as ProcessMaker issues."""
    return secrets.token_hex(20)


def new_password() -> str:
    return secrets.token_urlsafe(18)


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    secret: str

    @property
    def value(self) -> str:
        """What the client sends: ``cmk_<key_id>_<secret>``."""
        return f"{API_KEY_PREFIX}{self.key_id}_{self.secret}"


def new_api_key() -> ApiKey:
    return ApiKey(key_id=secrets.token_hex(8), secret=secrets.token_urlsafe(32))


def is_api_key(value: str) -> bool:
    return value.startswith(API_KEY_PREFIX)


def api_key_id(value: str) -> str | None:
    """The key id inside an API key, or None if ``value`` is not shaped like one."""
    if not is_api_key(value):
        return None
    key_id, sep, secret = value.removeprefix(API_KEY_PREFIX).partition("_")
    if not sep or not secret or len(key_id) != 16:
        return None
    try:
        int(key_id, 16)
    except ValueError:
        return None
    return key_id
