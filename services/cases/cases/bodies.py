"""Request bodies of the case endpoints, validated the way ProcessMaker words its errors."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from casemesh.web.errors import ApiError

UidText = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class NewCase(_Body):
    pro_uid: str = UidText
    tas_uid: str = UidText
    variables: Any = None


class NewCaseImpersonate(NewCase):
    usr_uid: str = UidText


class Reassign(_Body):
    usr_uid_source: str = UidText
    usr_uid_target: str = UidText
    del_index: int | None = Field(None, ge=1)


class RouteCase(_Body):
    del_index: int | None = Field(None, ge=1)
    # Casemesh extensions: the chosen target of a SELECT route, and the users
    # chosen for MANUAL assignment (task uid -> user uid).
    selection: list[str] = Field(default_factory=list, max_length=50)
    next_users: dict[str, str] = Field(default_factory=dict, max_length=50)

    @field_validator("selection", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class Pause(_Body):
    unpaused_date: str = Field("", max_length=19)


class Claim(_Body):
    del_index: int | None = Field(None, ge=1)


def parse(model: type[_Body], fields: dict[str, Any]) -> Any:
    """Validate ``fields``; a missing field reads "`name` is required but missing."."""
    if not isinstance(fields, dict):
        raise ApiError(400, "the request body must be an object")
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first.get("loc", ())) or "body"
        if first.get("type") == "missing":
            raise ApiError(400, f"`{name}` is required but missing.") from None
        raise ApiError(400, f"Invalid value for ${name}: {first.get('msg', 'invalid')}") from None
