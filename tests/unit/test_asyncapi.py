"""The AsyncAPI event catalogue: current in the repository, complete, and true to the wire.

Payload schemas are checked with jsonschema-rs as JSON Schema draft 7 (the base of
AsyncAPI's default schema format), against envelopes built the way the bus
adapters build them (``new_envelope`` + ``to_json_bytes``).
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema_rs
import pytest
import yaml

from casemesh.events import Envelope, new_envelope
from casemesh.events.asyncapi import (
    ASYNCAPI_VERSION,
    DEFAULT_OUTPUT,
    Broker,
    build_document,
    main,
    render_yaml,
)
from casemesh.events.catalogue import parse_data, registered

DOCUMENT = build_document()
EVENTS = sorted(registered())
COMPONENT_KEY = re.compile(r"^[a-zA-Z0-9.\-_]+$")


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def refs_in(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in refs_in(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in refs_in(value)]
    return []


def payload_validator(message_id: str) -> jsonschema_rs.Draft7Validator:
    message = DOCUMENT["components"]["messages"][message_id]
    schema = {"$ref": message["payload"]["$ref"], "components": DOCUMENT["components"]}
    return jsonschema_rs.Draft7Validator(schema)


def test_the_repository_copy_is_what_the_generator_writes():
    assert DEFAULT_OUTPUT.read_text(encoding="utf-8") == render_yaml(DOCUMENT), (
        "docs/asyncapi.yaml is stale: run `python -m casemesh.events.asyncapi`"
    )
    assert yaml.safe_load(DEFAULT_OUTPUT.read_text(encoding="utf-8")) == DOCUMENT


def test_cli_writes_and_checks(tmp_path, capsys):
    target = tmp_path / "asyncapi.yaml"
    assert main(["--check", "--output", str(target)]) == 1  # missing
    assert main(["--output", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == render_yaml(DOCUMENT)
    assert main(["--check", "--output", str(target)]) == 0
    target.write_text(target.read_text(encoding="utf-8").replace("note.created", "note.made"))
    assert main(["--check", "--output", str(target)]) == 1
    assert "stale" in capsys.readouterr().err


def test_every_registered_event_has_a_channel_a_message_and_a_receive_operation():
    assert DOCUMENT["asyncapi"] == ASYNCAPI_VERSION == "3.0.0"
    assert EVENTS, "no events registered"
    types = {event_type for event_type, _ in EVENTS}
    assert set(DOCUMENT["channels"]) == types
    assert set(DOCUMENT["operations"]) == {f"receive.{t}" for t in types}
    for event_type, version in EVENTS:
        message_id = f"{event_type}.v{version}"
        channel = DOCUMENT["channels"][event_type]
        assert channel["address"] == event_type  # routing key = event type
        assert resolve(DOCUMENT, channel["messages"][message_id]["$ref"])["name"] == event_type
        operation = DOCUMENT["operations"][f"receive.{event_type}"]
        assert operation["action"] == "receive"
        assert resolve(DOCUMENT, operation["channel"]["$ref"]) is channel
        assert {"$ref": f"#/channels/{event_type}/messages/{message_id}"} in operation["messages"]
        message = DOCUMENT["components"]["messages"][message_id]
        assert message["bindings"]["amqp"]["messageType"] == event_type
        assert message["contentType"] == "application/json"


def test_the_exchange_binding_matches_the_rabbitmq_adapter():
    binding = resolve(DOCUMENT, DOCUMENT["channels"]["note.created"]["bindings"]["$ref"])["amqp"]
    assert binding["is"] == "routingKey"
    assert binding["exchange"] == {
        "name": "casemesh.events",
        "type": "topic",
        "durable": True,
        "autoDelete": False,
        "vhost": "/",
    }
    consume = resolve(DOCUMENT, DOCUMENT["operations"]["receive.note.created"]["bindings"]["$ref"])
    assert consume["amqp"]["ack"] is True and consume["amqp"]["deliveryMode"] == 2


def test_every_reference_resolves_and_component_keys_are_valid():
    refs = refs_in(DOCUMENT)
    assert len(refs) > 100
    for ref in refs:
        resolve(DOCUMENT, ref)  # KeyError if dangling
    for kind, entries in DOCUMENT["components"].items():
        for key in entries:
            assert COMPONENT_KEY.match(key), (kind, key)


def test_every_schema_is_a_valid_json_schema():
    schemas = DOCUMENT["components"]["schemas"]
    for event_type, version in EVENTS:
        assert f"{event_type}.v{version}" in schemas
    for name, schema in schemas.items():
        assert jsonschema_rs.meta.is_valid(
            {"$schema": "http://json-schema.org/draft-07/schema#", **schema}
        ), name


@pytest.mark.parametrize(("event_type", "version"), EVENTS)
def test_examples_and_real_envelopes_fit_the_payload_schema(event_type, version):
    message_id = f"{event_type}.v{version}"
    validator = payload_validator(message_id)
    example = DOCUMENT["components"]["messages"][message_id]["examples"][0]["payload"]
    validator.validate(example)
    # The example is a real event: the kernel's own models accept it ...
    envelope = Envelope.model_validate(example)
    data = parse_data(envelope)
    # ... and what the bus puts on the wire for that event fits the schema too.
    wire = new_envelope(data, source="cases", workspace="workflow", subject="s").to_json_bytes()
    validator.validate(json.loads(wire))
    # The schema rejects what a subscriber must not be given.
    assert not validator.is_valid({**example, "type": "other.event"})
    assert not validator.is_valid({**example, "version": version + 1})
    assert not validator.is_valid({**example, "time": "yesterday"})
    required = resolve(DOCUMENT, f"#/components/schemas/{type(data).__name__}").get("required", [])
    if required:
        missing = {k: v for k, v in example["data"].items() if k != required[0]}
        assert not validator.is_valid({**example, "data": missing})


def test_field_comments_become_descriptions():
    schemas = DOCUMENT["components"]["schemas"]
    how = schemas["TaskAssigned"]["properties"]["how"]
    assert how["description"] == '"assigned" | "reassigned" | "claimed"'
    assert "CASE_FILE" in schemas["DocumentUploaded"]["properties"]["kind"]["description"]


def test_broker_never_carries_credentials():
    broker = Broker.from_url("amqps://svc:s3cret@mq.example.org/%2Fprod", "acme.events")
    assert broker == Broker("mq.example.org:5671", "/prod", "acme.events", "amqps")
    assert Broker.from_url("amqp://u:p@[::1]:5673/", "x").host == "[::1]:5673"
    text = render_yaml(build_document(broker))
    assert "s3cret" not in text and "svc" not in text
    document = yaml.safe_load(text)
    assert document["servers"]["rabbitmq"]["host"] == "mq.example.org:5671"
    assert document["servers"]["rabbitmq"]["protocol"] == "amqps"
    exchange = document["components"]["channelBindings"]["exchange"]["amqp"]["exchange"]
    assert (exchange["name"], exchange["vhost"]) == ("acme.events", "/prod")


def test_the_guide_names_every_event_type_and_the_served_urls():
    guide = (DEFAULT_OUTPUT.parent / "events.md").read_text(encoding="utf-8")
    for event_type, _ in EVENTS:
        assert f"`{event_type}`" in guide, f"docs/events.md does not mention {event_type}"
    assert "/asyncapi.yaml" in guide and "examples/subscriber.py" in guide
