"""What clients may send, validated. Keys are case-insensitive, as in ProcessMaker.

Unknown fields are ignored (ProcessMaker clients send many this directory
does not keep); known ones are checked strictly.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

UID = r"^[0-9A-Za-z]{32}$"
USERNAME = r"^[A-Za-z0-9._@+-]{1,100}$"
EMAIL = r"^[^@\s]+@[^@\s]+$"
ROLE_CODE = r"^[A-Z0-9_]{1,64}$"
WORKSPACE = r"^[A-Za-z0-9_-]{1,64}$"
MIN_PASSWORD = 8
MAX_START = 100_000_000  # an offset past every record; a store cannot skip 2**63 rows
UserStatus = Literal["ACTIVE", "INACTIVE", "VACATION"]
Status = Literal["ACTIVE", "INACTIVE"]


class Body(BaseModel):
    """A request body whose field names may come in any case."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _lower_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k.lower() if isinstance(k, str) else k: v for k, v in data.items()}
        return data

    def given(self) -> dict[str, Any]:
        """Only the fields the client sent."""
        return self.model_dump(include=self.model_fields_set)


def _not_sent(schema: dict[str, Any]) -> None:
    """An update field's default only means "not sent" (see ``given``): no default to show."""
    schema.pop("default", None)


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _due_date(value: str) -> str:
    if value:
        date.fromisoformat(value)  # YYYY-MM-DD, else ValueError
    return value


class UserFields(Body):
    usr_firstname: str = Field("", max_length=100)
    usr_lastname: str = Field("", max_length=100)
    usr_email: str = Field("", pattern=EMAIL, max_length=254)
    usr_status: UserStatus = "ACTIVE"
    usr_role: str = Field("PROCESSMAKER_OPERATOR", pattern=ROLE_CODE)
    usr_due_date: str = Field("", max_length=10)
    usr_reports_to: str = Field("", pattern=r"^([0-9A-Za-z]{32})?$")
    usr_replaced_by: str = Field("", pattern=r"^([0-9A-Za-z]{32})?$")
    usr_position: str = Field("", max_length=100)
    usr_phone: str = Field("", max_length=50)
    usr_cellular: str = Field("", max_length=50)
    usr_address: str = Field("", max_length=200)
    usr_zip_code: str = Field("", max_length=20)
    usr_time_zone: str = Field("", max_length=64)

    _status = field_validator("usr_status", "usr_role", mode="before")(_upper)
    _date = field_validator("usr_due_date")(_due_date)


class UserCreate(UserFields):
    usr_username: str = Field(pattern=USERNAME)
    usr_firstname: str = Field(min_length=1, max_length=100)
    usr_lastname: str = Field(min_length=1, max_length=100)
    usr_email: str = Field(pattern=EMAIL, max_length=254)
    usr_new_pass: str = Field(min_length=MIN_PASSWORD, max_length=256)
    usr_cnf_pass: str | None = None

    @model_validator(mode="after")
    def _passwords_match(self) -> UserCreate:
        if self.usr_cnf_pass is not None and self.usr_cnf_pass != self.usr_new_pass:
            raise ValueError("usr_cnf_pass: the password confirmation does not match")
        return self


class UserUpdate(UserFields):
    usr_username: str = Field("", pattern=USERNAME, json_schema_extra=_not_sent)
    usr_email: str = Field("", pattern=EMAIL, max_length=254, json_schema_extra=_not_sent)
    usr_new_pass: str = Field(
        "", min_length=MIN_PASSWORD, max_length=256, json_schema_extra=_not_sent
    )
    usr_cnf_pass: str | None = None

    @model_validator(mode="after")
    def _passwords_match(self) -> UserUpdate:
        if self.usr_cnf_pass is not None and self.usr_cnf_pass != self.usr_new_pass:
            raise ValueError("usr_cnf_pass: the password confirmation does not match")
        return self


class UserQuery(Body):
    filter: str = Field("", max_length=100)
    start: int = Field(0, ge=0, le=MAX_START)
    limit: int | None = Field(None, ge=1, le=1000)
    status: Literal["ACTIVE", "INACTIVE", "VACATION", "ALL"] = "ACTIVE"

    _status = field_validator("status", mode="before")(_upper)


class PageQuery(Body):
    filter: str = Field("", max_length=100)
    start: int = Field(0, ge=0, le=MAX_START)
    limit: int | None = Field(None, ge=1, le=1000)


class GroupCreate(Body):
    grp_title: str = Field(min_length=1, max_length=150)
    grp_status: Status = "ACTIVE"

    _status = field_validator("grp_status", mode="before")(_upper)


class GroupUpdate(Body):
    grp_title: str = Field("", min_length=1, max_length=150, json_schema_extra=_not_sent)
    grp_status: Status = "ACTIVE"

    _status = field_validator("grp_status", mode="before")(_upper)


class MemberAdd(Body):
    usr_uid: str = Field(pattern=UID)


class RoleCreate(Body):
    rol_code: str = Field(pattern=ROLE_CODE)
    rol_name: str = Field(min_length=1, max_length=150)
    rol_status: Status = "ACTIVE"

    _upper = field_validator("rol_code", "rol_status", mode="before")(_upper)


class RoleUpdate(Body):
    rol_code: str = Field("", pattern=ROLE_CODE, json_schema_extra=_not_sent)
    rol_name: str = Field("", min_length=1, max_length=150, json_schema_extra=_not_sent)
    rol_status: Status = "ACTIVE"

    _upper = field_validator("rol_code", "rol_status", mode="before")(_upper)


class PermissionAssign(Body):
    per_uid: str = Field("", max_length=64)
    per_code: str = Field("", max_length=64)

    @model_validator(mode="after")
    def _one_of(self) -> PermissionAssign:
        if not (self.per_uid or self.per_code):
            raise ValueError("per_uid: give the permission's per_uid (or per_code)")
        return self


class ApiKeyCreate(Body):
    name: str = Field("", max_length=100)


class TokenRequest(Body):
    """``POST /{workspace}/oauth2/token``; checked by the grant, to answer in OAuth2 terms."""

    grant_type: str = ""
    client_id: str = ""
    client_secret: str = ""
    username: str = ""
    password: str = ""
    refresh_token: str = ""
    scope: str = ""

    model_config = ConfigDict(
        extra="ignore", str_strip_whitespace=False, coerce_numbers_to_str=True
    )


class AuthenticateRequest(BaseModel):
    """What the gateway asks ``/internal/v1/authenticate``."""

    model_config = ConfigDict(extra="forbid")

    scheme: Literal["bearer", "basic"]
    token: str = Field("", max_length=512)
    username: str = Field("", max_length=256)
    password: str = Field("", max_length=1024)
    workspace: str = Field("", pattern=r"^([A-Za-z0-9_-]{1,64})?$")
