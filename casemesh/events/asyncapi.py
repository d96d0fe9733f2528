"""The event catalogue: an AsyncAPI 3.0.0 document generated from the registered event models.

It describes the wire exactly as ``casemesh.bus.rabbitmq`` uses it: one
durable topic exchange, routing key = event type, and per message one JSON
envelope (``casemesh.events.envelope``) whose ``data`` is that event's model.
``docs/asyncapi.yaml`` is the document for the default settings; the gateway
serves the one for its own settings at ``/asyncapi.yaml`` and ``/asyncapi.json``.

    python -m casemesh.events.asyncapi            # (re)write docs/asyncapi.yaml
    python -m casemesh.events.asyncapi --check    # exit 1 if docs/asyncapi.yaml is stale
"""

from __future__ import annotations

import argparse
import ast
import inspect
import io
import sys
import textwrap
import tokenize
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from casemesh.events import cases, catalogue, documents, envelope, notes
from casemesh.events.asyncapi_samples import example_envelope
from casemesh.events.envelope import Envelope
from casemesh.settings import Settings

ASYNCAPI_VERSION = "3.0.0"
AMQP_BINDING = "0.3.0"
DEFAULT_OUTPUT = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.yaml"
SCHEMA_REF = "#/components/schemas/{model}"
ENVELOPE = "Envelope"
# Where each event's model is defined (their field comments become descriptions).
EVENT_MODULES: tuple[ModuleType, ...] = (envelope, catalogue, cases, notes, documents)
HEADER = (
    "# The Casemesh event catalogue (AsyncAPI 3.0.0), generated from casemesh/events.\n"
    "# Do not edit by hand: run `python -m casemesh.events.asyncapi`. Guide: docs/events.md\n"
)

# The envelope's fields, as a subscriber needs them explained.
ENVELOPE_FIELDS = {
    "id": "Unique per event and the same on every redelivery: the de-duplication key.",
    "type": "The event type; also the AMQP routing key.",
    "version": "The version of `data`'s schema for this type.",
    "time": "When the change happened (ISO 8601, UTC).",
    "source": "The service that published the event (cases, notes, documents, notifications).",
    "workspace": "The workspace the change belongs to.",
    "subject": "What the event is about: the case's `app_uid` (a ping's id for `system.*`).",
    "correlation_id": "The request (`X-Request-ID`) or event that caused this one; may be empty.",
}

# First word of an event type -> (tag description, the service that publishes it).
GROUPS: dict[str, str] = {
    "case": "Case transitions; published by the cases service (`source: cases`).",
    "note": "ProcessMaker case notes; published by the notes service (`source: notes`).",
    "update": "Trackops case updates; published by the notes service (`source: notes`).",
    "log": "TheHive task logs; published by the notes service (`source: notes`).",
    "document": "Documents and their files; published by the documents service.",
    "system": "Diagnostic round trips: the cases service pings, the other services answer.",
}


@dataclass(frozen=True)
class Broker:
    """Where the events are: the broker's address (never its credentials) and the exchange."""

    host: str
    vhost: str
    exchange: str
    protocol: str = "amqp"

    @classmethod
    def from_url(cls, url: str, exchange: str) -> Broker:
        parts = urlsplit(url)
        secure = parts.scheme == "amqps"
        host = parts.hostname or "localhost"
        if ":" in host:
            host = f"[{host}]"
        port = parts.port or (5671 if secure else 5672)
        vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
        return cls(f"{host}:{port}", vhost, exchange, "amqps" if secure else "amqp")

    @classmethod
    def from_settings(cls, settings: Settings) -> Broker:
        return cls.from_url(settings.amqp_url, settings.amqp_exchange)


def default_broker() -> Broker:
    """The broker of the default settings (not the environment's): what docs/asyncapi.yaml shows."""
    fields = Settings.model_fields
    return Broker.from_url(fields["amqp_url"].default, fields["amqp_exchange"].default)


def version() -> str:
    try:
        return metadata.version("casemesh")
    except metadata.PackageNotFoundError:
        return "0.0.0"


# -- schemas -------------------------------------------------------------------


def _field_comments(model: type) -> dict[str, str]:
    """``name: type = default  # comment`` in the class body -> {name: comment}."""
    try:
        source = textwrap.dedent(inspect.getsource(model))
    except (OSError, TypeError):
        return {}
    comments = {
        token.start[0]: token.string.lstrip("#").strip()
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT
    }
    found: dict[str, str] = {}
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.ClassDef)
    for statement in node.body:
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
            comment = comments.get(statement.end_lineno or statement.lineno, "")
            if comment and not comment.startswith(("noqa", "type:")):
                found[statement.target.id] = comment
    return found


def _describe_fields(schemas: dict[str, Any]) -> None:
    """Add each model field's source comment as its description (where it has none)."""
    models = {
        cls.__name__: cls
        for module in EVENT_MODULES
        for cls in vars(module).values()
        if isinstance(cls, type)
        and issubclass(cls, BaseModel)
        and cls.__module__ == module.__name__
    }
    for name, schema in schemas.items():
        model = models.get(name)
        if model is None:
            continue
        comments: dict[str, str] = {}
        for cls in reversed(model.__mro__):
            if cls in models.values():
                comments.update(_field_comments(cls))
        for field, prop in schema.get("properties", {}).items():
            if field in comments and "description" not in prop and "$ref" not in prop:
                prop["description"] = comments[field]


_KEY_ORDER = ("title", "description", "type", "properties", "required", "additionalProperties")


def _tidy(schema: dict[str, Any]) -> dict[str, Any]:
    """Readable order (title, description, type, properties, ...); no auto-titles on fields."""
    for field, prop in schema.get("properties", {}).items():
        if prop.get("title") == field.replace("_", " ").title():
            del prop["title"]
    first = {key: schema[key] for key in _KEY_ORDER if key in schema}
    return {**first, **{k: v for k, v in schema.items() if k not in first}}


def _schemas(events: dict[tuple[str, int], type[BaseModel]]) -> tuple[dict[str, Any], dict]:
    """components/schemas, and each event's data schema as a reference."""
    models = [Envelope, *dict.fromkeys(events.values())]
    refs, top = models_json_schema(
        [(model, "serialization") for model in models], ref_template=SCHEMA_REF
    )
    schemas: dict[str, Any] = top.get("$defs", {})
    envelope_schema = schemas[ENVELOPE]
    # The publisher always serialises every envelope field.
    envelope_schema["required"] = list(envelope_schema["properties"])
    for field, text in ENVELOPE_FIELDS.items():
        envelope_schema["properties"][field]["description"] = text
    envelope_schema["properties"]["data"]["description"] = (
        "The event's payload: the schema of the message's type and version."
    )
    _describe_fields(schemas)
    schemas = {name: _tidy(schema) for name, schema in schemas.items()}
    data_refs = {key: refs[(model, "serialization")] for key, model in events.items()}
    for (event_type, event_version), data_ref in data_refs.items():
        schemas[_message_id(event_type, event_version)] = {
            "title": f"{event_type} v{event_version}",
            "description": f"`{event_type}` version {event_version}: the envelope and its `data`.",
            "allOf": [
                {"$ref": SCHEMA_REF.format(model=ENVELOPE)},
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": event_type},
                        "version": {"const": event_version},
                        "data": data_ref,
                    },
                },
            ],
        }
    return dict(sorted(schemas.items())), data_refs


# -- the document --------------------------------------------------------------


def _message_id(event_type: str, event_version: int) -> str:
    return f"{event_type}.v{event_version}"


def _summary(model: type[BaseModel], event_type: str) -> str:
    return inspect.cleandoc(model.__doc__ or "") or f"A `{event_type}` event."


def _message(event_type: str, event_version: int, model: type[BaseModel]) -> dict[str, Any]:
    summary = _summary(model, event_type)
    wire = (
        f"Routing key `{event_type}`; envelope `version` {event_version}; `data` is "
        f"`{model.__name__}`. AMQP properties: `message_id` = envelope `id`, `type` = "
        f"`{event_type}`, `content_type` = `application/json`, persistent (`delivery_mode` 2), "
        "`timestamp` = envelope `time` (whole seconds), `correlation_id` = envelope "
        "`correlation_id` when it is not empty. No application headers."
    )
    return {
        "name": event_type,
        "title": f"{event_type} v{event_version}",
        "summary": summary.splitlines()[0],
        "description": summary + "\n\n" + textwrap.fill(wire, width=90),
        "contentType": "application/json",
        "tags": [{"$ref": f"#/components/tags/{event_type.split('.')[0]}"}],
        "payload": {"$ref": SCHEMA_REF.format(model=_message_id(event_type, event_version))},
        "correlationId": {"$ref": "#/components/correlationIds/request"},
        "bindings": {"amqp": {"messageType": event_type, "bindingVersion": AMQP_BINDING}},
        "examples": [
            {
                "name": f"{event_type.replace('.', '-')}-v{event_version}",
                "summary": f"A `{event_type}` v{event_version} event as it arrives.",
                "payload": example_envelope(event_type, event_version, model),
            }
        ],
    }


def _bindings(broker: Broker) -> dict[str, Any]:
    """components/channelBindings and operationBindings, shared by every channel and operation."""
    exchange = {
        "name": broker.exchange,
        "type": "topic",
        "durable": True,
        "autoDelete": False,
        "vhost": broker.vhost,
    }
    consume = {"ack": True, "deliveryMode": 2, "timestamp": True}
    return {
        "channelBindings": {
            "exchange": {
                "amqp": {"is": "routingKey", "exchange": exchange, "bindingVersion": AMQP_BINDING}
            }
        },
        "operationBindings": {"consume": {"amqp": {**consume, "bindingVersion": AMQP_BINDING}}},
    }


def _channel(broker: Broker, event_type: str, versions: list[int]) -> dict[str, Any]:
    return {
        "address": event_type,
        "title": event_type,
        "description": (
            f"Routing key `{event_type}` on the durable topic exchange `{broker.exchange}`. "
            f"Bind your own queue with `{event_type}` or a pattern that matches it "
            f"(`{event_type.split('.')[0]}.#`, `#`)."
        ),
        "messages": {
            _message_id(event_type, v): {
                "$ref": f"#/components/messages/{_message_id(event_type, v)}"
            }
            for v in versions
        },
        "bindings": {"$ref": "#/components/channelBindings/exchange"},
    }


def _operation(event_type: str, versions: list[int]) -> dict[str, Any]:
    return {
        "action": "receive",
        "channel": {"$ref": f"#/channels/{event_type}"},
        "title": f"Receive {event_type}",
        "summary": f"Consume `{event_type}` events from a queue bound to the exchange.",
        "description": (
            "Bind a durable queue of your own, consume with manual acks and ack after handling. "
            "Delivery is at least once: drop an event whose envelope `id` you have handled."
        ),
        "messages": [
            {"$ref": f"#/channels/{event_type}/messages/{_message_id(event_type, v)}"}
            for v in versions
        ],
        "bindings": {"$ref": "#/components/operationBindings/consume"},
    }


def _info(events: dict[tuple[str, int], type[BaseModel]], broker: Broker) -> dict[str, Any]:
    return {
        "title": "Casemesh events",
        "version": version(),
        "description": textwrap.dedent(
            f"""\
            Every event Casemesh publishes, for services that subscribe from outside
            (guide: `docs/events.md`; served by the gateway at `/asyncapi.yaml`).

            * One durable **topic** exchange, `{broker.exchange}`; the routing key is the
              event type (`case.routed`, `note.created`, ...). Bind your own durable queue
              with keys or patterns (`*` one word, `#` zero or more words).
            * Every message is one JSON **envelope**: `id`, `type`, `version`, `time`,
              `source`, `workspace`, `subject` (the case's `app_uid`; the ping's id for
              `system.*`), `correlation_id`, and `data`, whose schema is given per type
              and version.
            * **Versions**: within a version, fields are only added; consumers must ignore
              fields they do not know. A breaking change is a new `version` under the same
              type (and routing key); check `version` before reading `data`.
            * **At least once**: an event can arrive more than once; drop duplicates by the
              envelope `id`. Consume with manual acks and ack after handling. Order is not
              guaranteed.
            * {len(events)} event types/versions."""
        ),
    }


def build_document(broker: Broker | None = None) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document for every registered event, as plain data."""
    broker = broker or default_broker()
    events = dict(sorted(catalogue.registered().items()))
    schemas, _ = _schemas(events)
    by_type: dict[str, list[int]] = {}
    for event_type, event_version in events:
        by_type.setdefault(event_type, []).append(event_version)
    prefixes = sorted({event_type.split(".")[0] for event_type in by_type})
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": _info(events, broker),
        "defaultContentType": "application/json",
        "servers": {
            "rabbitmq": {
                "host": broker.host,
                "protocol": broker.protocol,
                "protocolVersion": "0.9.1",
                "title": "RabbitMQ",
                "description": f"The broker Casemesh publishes to (vhost `{broker.vhost}`).",
                "security": [{"$ref": "#/components/securitySchemes/amqpUser"}],
            }
        },
        "channels": {t: _channel(broker, t, versions) for t, versions in by_type.items()},
        "operations": {f"receive.{t}": _operation(t, versions) for t, versions in by_type.items()},
        "components": {
            "schemas": schemas,
            "messages": {
                _message_id(t, v): _message(t, v, model) for (t, v), model in events.items()
            },
            "securitySchemes": {
                "amqpUser": {
                    "type": "userPassword",
                    "description": (
                        "An AMQP user allowed to declare and read its own queues and to bind "
                        "them to the exchange (read permission on the exchange)."
                    ),
                }
            },
            "correlationIds": {
                "request": {
                    "description": (
                        "The request (`X-Request-ID`) or the event that caused this event; "
                        "empty when there was none."
                    ),
                    "location": "$message.payload#/correlation_id",
                }
            },
            **_bindings(broker),
            "tags": {p: {"name": p, "description": GROUPS.get(p, "")} for p in prefixes},
        },
    }


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks, so descriptions read as written."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render_yaml(document: dict[str, Any]) -> str:
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return HEADER + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m casemesh.events.asyncapi",
        description="Write (or check) the AsyncAPI event catalogue generated from casemesh/events.",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the YAML file")
    args = parser.parse_args(argv)
    text = render_yaml(build_document())
    output: Path = args.output
    if args.check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != text:
            print(f"{output} is stale: run python -m casemesh.events.asyncapi", file=sys.stderr)
            return 1
        print(f"{output} is up to date")
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
