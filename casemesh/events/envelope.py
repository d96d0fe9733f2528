"""The envelope every Casemesh event travels in.

Routing key = ``type``; consumers drop duplicates by ``id``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


def _now() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    """One event: who said what about which case, and in answer to which request."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    type: str = Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
    version: int = Field(ge=1)
    time: datetime = Field(default_factory=_now)
    source: str
    workspace: str
    subject: str = ""
    correlation_id: str = ""
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def routing_key(self) -> str:
        return self.type

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_json_bytes(cls, raw: bytes) -> Envelope:
        return cls.model_validate_json(raw)


def new_envelope(
    event: BaseModel,
    *,
    source: str,
    workspace: str,
    subject: str = "",
    correlation_id: str = "",
) -> Envelope:
    """Wrap a registered event model (see ``catalogue``) in an envelope."""
    from casemesh.events.catalogue import type_of

    event_type, version = type_of(type(event))
    return Envelope(
        type=event_type,
        version=version,
        source=source,
        workspace=workspace,
        subject=subject,
        correlation_id=correlation_id,
        data=event.model_dump(mode="json"),
    )
