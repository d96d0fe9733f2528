"""The event round trip operators use to check the mesh: ping → pong.

Any service can answer a ``system.ping`` with a ``system.pong`` through its
own outbox, which proves it consumes and publishes.
"""

from __future__ import annotations

from casemesh.bus.port import Handler
from casemesh.events import Envelope
from casemesh.events.catalogue import SystemPing, SystemPong, parse_data
from casemesh.runtime import Runtime


def pong_handler(runtime: Runtime) -> Handler:
    async def answer(envelope: Envelope) -> None:
        ping = parse_data(envelope)
        assert isinstance(ping, SystemPing)
        pong = runtime.event(
            SystemPong(ping_id=ping.ping_id, service=runtime.name),
            workspace=envelope.workspace,
            subject=envelope.subject,
        )
        async with runtime.store.transaction() as tx:
            tx.emit(pong)

    return answer
