"""What the notifications API answers, as pydantic models: the contract ``routes`` keeps.

The handlers build plain dicts (``_preferences_view``, ``_template_view``,
``deliveries.public``); these models describe them field by field for the
OpenAPI document, and the contract tests validate real answers against them.
``extra="forbid"``: a field a handler adds without declaring it here breaks
those tests.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.notifications.deliveries import STATUSES
from services.notifications.kinds import Kind

Status = Literal[STATUSES]  # type: ignore[valid-type]


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PreferencesView(_Answer):
    """Which kinds of notification a user receives (every kind, on or off)."""

    workspace: str
    usr_uid: str
    kinds: dict[Kind, bool]
    descriptions: dict[Kind, str]


class TemplateView(_Answer):
    """The templates in force for a kind: the workspace's own (custom) or the default."""

    kind: Kind
    description: str
    custom: bool
    subject: str
    text: str
    html: str


class Delivery(_Answer):
    """One e-mail to one recipient for one event, and what became of it."""

    id: str
    workspace: str
    event_id: str
    event_type: str
    kind: Kind
    usr_uid: str
    username: str
    name: str
    email: str
    app_uid: str
    app_number: int
    subject: str
    message_id: str
    status: Status
    attempts: int
    last_error: str
    permanent: bool = Field(description="true when retrying cannot help (5xx, no address)")
    created_at: str
    updated_at: str
    sent_at: str | None
    due_at: str = Field(description="When it is (re)tried, or when a sender's claim lapses.")


class DeliveriesPage(_Answer):
    total: int
    start: int
    limit: int
    data: list[Delivery]
