"""What clients send the notifications API, as pydantic models: bodies and queries.

The handlers (``routes``) validate with these and the OpenAPI fragment is
built from them, so the published schema is the rule. A query string
carries text: a whole number is checked as digits, not by pydantic's
lenient conversion. A blank query parameter reads as absent, and the
schema says so (``""`` is one of each parameter's alternatives).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from casemesh.web.query_fields import blank_means_absent, query_int
from services.notifications.kinds import Kind
from services.notifications.responses import Status

MAX_PAGE = 200


Offset = query_int(ge=0, le=10**9)
PageSize = query_int(ge=1, le=MAX_PAGE)


class PreferencesBody(BaseModel):
    """Kinds to turn on (true) or off (false); kinds not named stay as they are."""

    model_config = ConfigDict(extra="forbid")
    kinds: dict[Kind, StrictBool]


class TemplateBody(BaseModel):
    """A workspace's own templates for a kind; a part not given stays as it is."""

    model_config = ConfigDict(extra="forbid")
    subject: str | None = Field(None, description="Jinja template of the subject line.")
    text: str | None = Field(None, description="Jinja template of the plain-text body.")
    html: str | None = Field(None, description="Jinja template of the HTML body.")


class WhoseQuery(BaseModel):
    """Whose preferences: the caller's, or (administrators only) another user's."""

    model_config = ConfigDict(extra="ignore", json_schema_extra=blank_means_absent)
    usr_uid: str | None = Field(None, description="Another user (administrators only).")


class DeliveriesQuery(BaseModel):
    """Filters and paging of the delivery records (newest first)."""

    model_config = ConfigDict(extra="ignore", json_schema_extra=blank_means_absent)
    status: Status | None = None
    case: str | None = Field(None, description="Only the deliveries of this case (app_uid).")
    kind: str | None = Field(None, description="Only this kind of notification.")
    usr_uid: str | None = Field(None, description="Only this recipient's.")
    start: Offset = Field(0, description="Offset of the first record.")
    limit: PageSize = Field(25, description="Records per page.")
