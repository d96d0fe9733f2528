"""Request bodies of the case endpoints, validated the way ProcessMaker words its errors."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError, field_validator

from casemesh.web.errors import ApiError

UidText = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
MAX_INDEX = 1_000_000  # more delegations than any case has; keeps numbers in store range


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


# Case variables as ProcessMaker sends them: an object, or an array holding one object
# (PHP's ``array(array(...))``); empty (``""`` from a form, ``[]``, null) means none.
# services/cases/variables.py then checks names, depth and size.
VariableValues = dict[str, Any] | list[dict[str, Any]] | Literal[""] | None


def _variables_shape(value: Any) -> Any:
    """Say what is wrong in ProcessMaker's words before the union's own messages."""
    if isinstance(value, list) and not all(isinstance(item, dict) for item in value):
        raise ValueError("`variables` must be an array holding one object")
    if value not in ("", None) and not isinstance(value, (dict, list)):
        raise ValueError("`variables` must be an object of case variables")
    return value


class NewCase(_Body):
    pro_uid: str = UidText
    tas_uid: str = UidText
    variables: VariableValues = None

    _shape = field_validator("variables", mode="before")(_variables_shape)


class Variables(RootModel[dict[str, Any] | list[dict[str, Any]]]):
    """``PUT /cases/{app_uid}/variable``: the variables to set."""

    _shape = field_validator("root", mode="before")(_variables_shape)


class NewCaseImpersonate(NewCase):
    usr_uid: str = UidText


class Reassign(_Body):
    usr_uid_source: str = UidText
    usr_uid_target: str = UidText
    del_index: int | None = Field(None, ge=1, le=MAX_INDEX)


class RouteCase(_Body):
    del_index: int | None = Field(None, ge=1, le=MAX_INDEX)
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
    del_index: int | None = Field(None, ge=1, le=MAX_INDEX)


def parse(model: type[BaseModel], fields: dict[str, Any] | list[Any]) -> Any:
    """Validate ``fields``; a missing field reads "`name` is required but missing."."""
    if not isinstance(fields, dict) and not issubclass(model, RootModel):
        raise ApiError(400, "the request body must be an object")
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first.get("loc", ())) or "body"
        if first.get("type") == "missing":
            raise ApiError(400, f"`{name}` is required but missing.") from None
        message = first.get("msg", "invalid").removeprefix("Value error, ")
        raise ApiError(400, f"Invalid value for ${name}: {message}") from None
