"""Registry of versioned event models.

Each event contract is defined once here (or in a module that registers with
``event``), never as a dict redefined by each consumer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel, ConfigDict

from casemesh.events.envelope import Envelope

_REGISTRY: dict[tuple[str, int], type[BaseModel]] = {}
_TYPES: dict[type[BaseModel], tuple[str, int]] = {}

M = TypeVar("M", bound=type[BaseModel])


def event(event_type: str, version: int = 1) -> Callable[[M], M]:
    """Class decorator: register a pydantic model as event ``event_type`` v``version``."""

    def register(model: M) -> M:
        key = (event_type, version)
        if key in _REGISTRY and _REGISTRY[key] is not model:
            raise ValueError(f"event {event_type} v{version} registered twice")
        _REGISTRY[key] = model
        _TYPES[model] = key
        return model

    return register


def type_of(model: type[BaseModel]) -> tuple[str, int]:
    try:
        return _TYPES[model]
    except KeyError:
        raise LookupError(f"{model.__name__} is not a registered event") from None


def model_for(event_type: str, version: int) -> type[BaseModel]:
    return _REGISTRY[(event_type, version)]


def parse_data(envelope: Envelope) -> BaseModel:
    """Validate an envelope's data against its registered model."""
    return model_for(envelope.type, envelope.version).model_validate(envelope.data)


def registered() -> dict[tuple[str, int], type[BaseModel]]:
    """Every event model, once each service's contract modules are imported."""
    from casemesh.events import cases, documents, notes  # noqa: F401 - registers their events

    return dict(_REGISTRY)


class EventData(BaseModel):
    """Base of every event payload: unknown fields are kept for forward compatibility."""

    model_config = ConfigDict(extra="allow")


@event("system.ping")
class SystemPing(EventData):
    """A diagnostic round trip: the gateway asks a service to publish, others answer."""

    ping_id: str
    message: str = ""


@event("system.pong")
class SystemPong(EventData):
    """A service saw a ``system.ping``."""

    ping_id: str
    service: str
