"""What clients send the documents service, as pydantic models: queries and form fields.

The handlers validate with these (``parse``) and the OpenAPI fragment is
built from them, so the published schema is the rule. A query string
carries text: a whole number is checked as digits, not by pydantic's
lenient conversion. A blank query parameter (``?v=``) reads as absent.
Upload bodies are streamed part by part: the text parts are gathered and
checked with the model, the file part is described beside it
(``multipart_schema``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from casemesh.web.errors import ApiError
from casemesh.web.query_fields import blank_means_absent, query_int

M = TypeVar("M", bound=BaseModel)
MAX_VERSION = 999_999_999


Version = query_int(ge=1, le=MAX_VERSION)


class _Query(BaseModel):
    model_config = ConfigDict(extra="ignore", json_schema_extra=blank_means_absent)


class VersionQuery(_Query):
    """``…/file``: which version to download."""

    v: Version | None = Field(None, description="A version number (the latest when absent).")


class OutputFileQuery(VersionQuery):
    """An output document's file: which version and which format."""

    ext: Literal["pdf", "doc"] | None = Field(
        None, description="pdf or doc (Word); the PDF when the document has one."
    )


class DatastoreQuery(_Query):
    """``/api/datastore/{id}``: the name to download the file as."""

    name: str | None = Field(None, description="Download as this file name.")


class InputUpload(BaseModel):
    """The text fields of an input-document upload (the file is the part ``form``)."""

    model_config = ConfigDict(extra="ignore")

    tas_uid: str = Field(min_length=1, description="The task of the case it is uploaded in.")
    inp_doc_uid: str = Field(min_length=1, description="The input document definition.")
    app_doc_comment: str = Field("", description="A comment (kept up to 5,000 characters).")
    app_doc_uid: str = Field("", description="The document this file is a new version of.")


class OutputGenerate(BaseModel):
    """Generate an output document from its definition's template."""

    model_config = ConfigDict(extra="ignore")

    out_doc_uid: str = Field(min_length=1, description="The output document definition.")


class KibanaFile(BaseModel):
    """The text fields of a Kibana case-file upload (the file is the part ``file``)."""

    model_config = ConfigDict(extra="ignore")

    filename: str = Field("", description="The name to keep (the file's own extension stays).")


def parse(model: type[M], values: Mapping[str, Any], problem: Callable[[str, dict], str]) -> M:
    """``values`` checked by ``model``; else a 400 whose message ``problem`` words."""
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ())) or "body"
        raise ApiError(400, problem(where, dict(err))) from None


def query(model: type[M], params: Mapping[str, str], problem: Callable[[str, dict], str]) -> M:
    """The query string (first value of each name, blanks left out) checked by ``model``."""
    values = {name: params[name] for name in params if params[name] != ""}
    return parse(model, values, problem)


def multipart_schema(model: type[BaseModel], file_part: str, description: str) -> dict:
    """The multipart body: ``model``'s text fields and the binary part ``file_part``."""
    schema = model.model_json_schema()
    schema["properties"] = {
        **schema["properties"],
        file_part: {"type": "string", "format": "binary", "description": description},
    }
    schema["required"] = [*schema.get("required", ()), file_part]
    return schema
