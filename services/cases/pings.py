"""Diagnostic pings: a recorded ``system.ping`` and the pongs other services send back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from casemesh.events import Envelope
from casemesh.events.catalogue import SystemPing, SystemPong, parse_data
from casemesh.runtime import Runtime
from casemesh.store.port import NotFound
from casemesh.web.errors import ApiError
from casemesh.web.keys import RUNTIME

COLLECTION = "pings"


class PingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field("", max_length=200)
    workspace: str = Field("system", pattern=r"^[A-Za-z0-9_-]{1,64}$")


class PingAnswer(BaseModel):
    """One service's pong: when it answered, and the event that carried it."""

    model_config = ConfigDict(extra="forbid")

    at: str
    event_id: str
    correlation_id: str


class Ping(BaseModel):
    """A recorded ping and the services that answered it (by service name)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    workspace: str
    message: str
    created_at: str
    answers: dict[str, PingAnswer]


async def create_ping(runtime: Runtime, request: PingCreate) -> dict:
    """Record a ping and publish it in the same write."""
    ping_id = uuid.uuid4().hex
    doc = {
        "id": ping_id,
        "workspace": request.workspace,
        "message": request.message,
        "created_at": datetime.now(UTC).isoformat(),
        "answers": {},
    }
    event = runtime.event(
        SystemPing(ping_id=ping_id, message=request.message),
        workspace=request.workspace,
        subject=ping_id,
    )
    return await runtime.store.insert(COLLECTION, doc, events=[event])


async def record_pong(runtime: Runtime, envelope: Envelope) -> None:
    pong = parse_data(envelope)
    assert isinstance(pong, SystemPong)
    answer = {
        "at": envelope.time.isoformat(),
        "event_id": envelope.id,
        "correlation_id": envelope.correlation_id,
    }
    try:
        await runtime.store.update(COLLECTION, pong.ping_id, {f"answers.{pong.service}": answer})
    except NotFound:
        return  # a pong for a ping we never recorded (another installation): nothing to do


def _public(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


async def post_ping(request: web.Request) -> web.Response:
    body = await request.read()
    ping = PingCreate.model_validate_json(body or b"{}")
    doc = await create_ping(request.app[RUNTIME], ping)
    return web.json_response(_public(doc), status=201)


async def get_ping(request: web.Request) -> web.Response:
    ping_id = request.match_info["ping_id"]
    doc = await request.app[RUNTIME].store.get(COLLECTION, ping_id)
    if doc is None:
        raise ApiError(404, f"no ping {ping_id}")
    return web.json_response(_public(doc))
