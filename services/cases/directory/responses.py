"""What the directory endpoints answer (``views.py`` builds these dicts), as pydantic models.

They describe the answers in the OpenAPI document and the contract tests
validate real answers against them; ``extra="forbid"`` keeps ``views.py`` and
these in step.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class User(_Answer):
    usr_uid: str
    usr_username: str
    usr_firstname: str
    usr_lastname: str
    usr_email: str
    usr_due_date: str
    usr_create_date: str
    usr_update_date: str
    usr_status: str
    usr_role: str
    usr_reports_to: str
    usr_replaced_by: str
    usr_position: str
    usr_phone: str
    usr_cellular: str
    usr_address: str
    usr_zip_code: str
    usr_time_zone: str


class Member(_Answer):
    """A user as group and role member lists show one."""

    usr_uid: str
    usr_username: str
    usr_firstname: str
    usr_lastname: str
    usr_email: str
    usr_status: str


class Group(_Answer):
    grp_uid: str
    grp_title: str
    grp_status: Literal["ACTIVE", "INACTIVE"]
    grp_users: int = Field(0, description="members; absent in the answer to a creation")


class Role(_Answer):
    rol_uid: str
    rol_code: str
    rol_name: str
    rol_status: Literal["ACTIVE", "INACTIVE"]
    rol_system: str
    rol_create_date: str
    rol_update_date: str
    rol_total_users: int


class Permission(_Answer):
    per_uid: str
    per_code: str
    per_name: str


class ApiKey(_Answer):
    key_id: str
    usr_uid: str
    name: str
    prefix: str
    created_at: str


class NewApiKey(ApiKey):
    key: str = Field(description="the key itself, shown this once")


class Token(_Answer):
    """The token endpoint's answer (RFC 6749 §5.1)."""

    access_token: str
    expires_in: int
    token_type: Literal["bearer"]
    scope: str
    refresh_token: str


class OAuthError(_Answer):
    """The token endpoint's errors (RFC 6749 §5.2)."""

    error: Literal[
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
    ]
    error_description: str
