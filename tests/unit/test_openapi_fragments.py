"""casemesh.web.openapi: fragments from pydantic models, and merging them into one document."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate as validate_openapi
from pydantic import BaseModel, Field, TypeAdapter
from pydantic.json_schema import SkipJsonSchema

from casemesh.web.openapi import (
    FORM,
    JSON,
    CasemeshError,
    Operation,
    Response,
    build_fragment,
    merge_fragments,
)


class Query(BaseModel):
    limit: int | None = Field(None, ge=1, le=10, description="at most this many")
    search: str = ""


class Thing(BaseModel):
    name: str = Field(min_length=1)
    size: int = 0


class Answer(BaseModel):
    id: str
    maybe: int | SkipJsonSchema[None] = None  # absent rather than null


def _ops() -> list[Operation]:
    return [
        Operation(
            "GET",
            "/things",
            "List",
            ("things",),
            responses={200: TypeAdapter(list[Answer])},
            query=Query,
        ),
        Operation(
            "POST",
            "/things/{thing_id}",
            "Create",
            ("things",),
            responses={201: Response(Answer, headers={"ETag": "the revision"})},
            body=Thing,
            body_media=(JSON, FORM),
            error=CasemeshError,
            path_params={"thing_id": {"type": "string", "pattern": "^[a-z]+$"}},
        ),
    ]


def test_a_fragment_is_valid_openapi_once_merged():
    fragment = build_fragment("svc", _ops())
    document = merge_fragments([fragment], title="t", version="1")
    validate_openapi(document)
    assert set(document["components"]["schemas"]) >= {"svc.Answer", "svc.Thing"}


def test_query_parameters_are_never_null_and_keep_their_constraints():
    op = build_fragment("svc", _ops())["paths"]["/things"]["get"]
    limit = next(p for p in op["parameters"] if p["name"] == "limit")
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 10, "title": "Limit"}
    assert limit["description"] == "at most this many" and limit["required"] is False


def test_bodies_path_parameters_headers_and_errors_are_declared():
    op = build_fragment("svc", _ops())["paths"]["/things/{thing_id}"]["post"]
    assert set(op["requestBody"]["content"]) == {JSON, FORM}
    assert op["parameters"][0]["schema"]["pattern"] == "^[a-z]+$"
    responses = op["responses"]
    assert responses["201"]["headers"]["ETag"]["description"] == "the revision"
    # Declared errors, 401 for an authenticated route, and what the proxy may answer.
    assert {"400", "401", "404", "502", "503", "504"} <= set(responses)
    assert responses["404"]["content"][JSON]["schema"] == {
        "$ref": "#/components/schemas/svc.CasemeshError"
    }


def test_an_impossible_null_default_is_dropped():
    schemas = build_fragment("svc", _ops())["components"]["schemas"]
    assert "default" not in schemas["svc.Answer"]["properties"]["maybe"]
    assert schemas["svc.Thing"]["properties"]["size"]["default"] == 0


def test_two_services_cannot_declare_the_same_operation():
    fragment = build_fragment("svc", _ops())
    with pytest.raises(ValueError, match="GET /things"):
        merge_fragments([fragment, fragment], title="t", version="1")
