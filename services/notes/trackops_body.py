"""Trackops case-update bodies: pydantic models, checked and sanitised (pure, no I/O).

``UpdateCreate`` (every field a new update needs) and ``UpdateChange`` (any
of them) are the ``update`` object of ``POST``/``PUT /api/v1/case/updates``.
Integers may come as JSON numbers or as digit strings (form fields), flags
as booleans, 0/1 or ``true/false/yes/no/on/off``; a blank or null optional
field reads as absent.

``body`` keeps the basic HTML the seed allows (bold, italic, underline,
lists, links, paragraphs, line breaks) through nh3 (ammonia); every other
tag and every attribute but a link's ``href``/``title`` is removed. Titles
and timeline notes are plain text: all tags are stripped.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import nh3
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    model_validator,
)

from casemesh.web.errors import plain_json_error
from services.notes import clock

BODY_TAGS = {"b", "strong", "i", "em", "u", "p", "br", "ul", "ol", "li", "a"}
BODY_ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = {"http", "https", "mailto"}
MAX_ID = 10**15 - 1
MAX_TITLE = 255
MAX_BODY = 65_536
MAX_DETAILS = 200
TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"
WHEN_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([ T][0-9]{2}:[0-9]{2}(:[0-9]{2})?(\.[0-9]+)?(Z|[+-][0-9]{2}:?[0-9]{2})?)?$"
)
TRUE_WORDS = ("true", "yes", "1", "on")
FALSE_WORDS = ("false", "no", "0", "off")


class Invalid(Exception):
    """Validation failed: ``errors`` maps each field to its messages (answered 422)."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items()))
        self.errors = errors

    def response(self):
        return plain_json_error(422, "the update is not valid", errors=self.errors)


def clean_body(html: str) -> str:
    return nh3.clean(
        html,
        tags=BODY_TAGS,
        attributes=BODY_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
    )


def plain(text: str) -> str:
    """Text with every tag removed (entities stay escaped)."""
    return nh3.clean(text, tags=set(), attributes={})


def parse_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        if value in TRUE_WORDS:
            return True
        if value in FALSE_WORDS:
            return False
    return None


def _title(value: str) -> str:
    text = plain(value).strip()
    if not text:
        raise ValueError(f"must be text of 1 to {MAX_TITLE} characters")
    return text


def _body(value: str) -> str:
    cleaned = clean_body(value)
    if not cleaned.strip():
        raise ValueError("has no content once unsafe HTML is removed")
    return cleaned


Id = Annotated[
    Annotated[int, Field(ge=1, le=MAX_ID, strict=True)]
    | Annotated[str, Field(pattern=r"^[1-9][0-9]{0,14}$")],
    AfterValidator(int),
]
Flag = Annotated[
    StrictBool | Literal[0, 1] | Literal["true", "false", "yes", "no", "on", "off", "1", "0"],
    AfterValidator(parse_bool),
]
Blank = Literal[""]
Title = Annotated[str, Field(min_length=1, max_length=MAX_TITLE), AfterValidator(_title)]
Body = Annotated[str, Field(min_length=1, max_length=MAX_BODY), AfterValidator(_body)]


def _moment(value: str) -> str:
    try:
        clock.read_timestamp(value)
    except ValueError:
        raise ValueError("must be YYYY-MM-DD or YYYY-MM-DD HH:MM:SS") from None
    return value


When = Annotated[
    str,
    Field(pattern=WHEN_PATTERN, description="YYYY-MM-DD[ HH:MM:SS], UTC."),
    AfterValidator(_moment),
]


class UpdateDetail(BaseModel):
    """One timed line of an update's details."""

    model_config = ConfigDict(extra="forbid")

    start_at: str = Field(pattern=TIME_PATTERN, description="HH:MM")
    notes: Annotated[str, Field(max_length=MAX_BODY), AfterValidator(plain)] = ""


class _Fields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject_id: Id | Blank | None = None
    event_id: Id | Blank | None = Field(None, description="A task (del_index) of the case.")
    behalf_of_id: Id | Blank | None = None
    thread_id: Id | Blank | None = Field(None, description="Any update of the thread answered.")
    is_allday: Flag | Blank | None = None
    is_validated: Flag | Blank | None = None
    activity_at: When | Blank | None = None
    update_details: Annotated[list[UpdateDetail], Field(max_length=MAX_DETAILS)] | None = None

    def given(self) -> dict[str, Any]:
        """The fields that were sent and not blank, as plain values."""
        values = self.model_dump(include=self.model_fields_set)  # nested defaults stay
        return {k: v for k, v in values.items() if v is not None and v != ""}


class UpdateCreate(_Fields):
    """A new case update: these four fields are required."""

    casefile_id: Id = Field(description="The case's number (app_number).")
    access_group_id: Id = Field(description="Who may see it (see access-groups).")
    title: Title
    body: Body = Field(description="Basic HTML; anything else is removed.")

    @model_validator(mode="before")
    @classmethod
    def _blank_is_missing(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        required = ("casefile_id", "access_group_id", "title", "body")
        return {k: v for k, v in data.items() if not (k in required and v in ("", None))}


class UpdateChange(_Fields):
    """Changes to a case update: any of its fields."""

    casefile_id: Id | Blank | None = None
    access_group_id: Id | Blank | None = None
    title: Title | Blank | None = None
    body: Body | Blank | None = None


class UpdateCreateBody(BaseModel):
    """``POST /api/v1/case/updates``: the fields nested under ``update``."""

    update: UpdateCreate


class UpdateChangeBody(BaseModel):
    """``PUT /api/v1/case/updates/{number}``: the changed fields under ``update``."""

    update: UpdateChange


_MESSAGES = {
    "subject_id": "must be a positive integer",
    "event_id": "must be a positive integer",
    "behalf_of_id": "must be a positive integer",
    "thread_id": "must be a positive integer",
    "casefile_id": "must be a positive integer",
    "access_group_id": "must be a positive integer",
    "is_allday": "must be true or false",
    "is_validated": "must be true or false",
    "title": f"must be text of 1 to {MAX_TITLE} characters",
    "body": f"must be text of at most {MAX_BODY} characters",
    "activity_at": "must be YYYY-MM-DD or YYYY-MM-DD HH:MM:SS",
    "update_details": f"must be a list of at most {MAX_DETAILS}",
    "start_at": "must be HH:MM",
    "notes": "must be text",
}


def _key(loc: tuple) -> str:
    if loc[:1] == ("update_details",) and len(loc) > 1 and isinstance(loc[1], int):
        if len(loc) > 2 and loc[2] in ("start_at", "notes"):
            return ".".join(str(p) for p in loc[:3])
        return f"update_details.{loc[1]}"
    return str(loc[0])


def _errors(exc: ValidationError) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        key = _key(loc[1:]) if len(loc) > 1 else "update"
        leaf = key.rsplit(".", 1)[-1]
        kind = err.get("type", "")
        if key == "update":
            message = "the fields must be nested under an 'update' object"
        elif kind == "missing":
            message = "is required"
        elif kind == "extra_forbidden":
            message = "is not a field of a case update"
        elif kind == "value_error":
            message = str(err.get("msg", "")).removeprefix("Value error, ")
        elif leaf.isdigit():
            message = "must be an object with start_at and notes"
        else:
            message = _MESSAGES.get(leaf, str(err.get("msg", "is not valid")))
        if message not in errors.setdefault(key[:80], []):  # one per union member
            errors[key[:80]].append(message)
    return errors


def read_body(body: Any, *, creating: bool) -> dict[str, Any]:
    """A request body (``UpdateCreateBody`` / ``UpdateChangeBody``) -> the checked fields."""
    model = UpdateCreateBody if creating else UpdateChangeBody
    try:
        return model.model_validate(body).update.given()
    except ValidationError as exc:
        raise Invalid(_errors(exc)) from None


def read_update(raw: Any, *, creating: bool) -> dict[str, Any]:
    """The ``update`` object alone -> checked, cleaned fields (only those given)."""
    return read_body({"update": raw}, creating=creating)
