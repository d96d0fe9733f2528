"""The documents service's public contract: every route it serves through the gateway.

ProcessMaker input and output documents, TheHive's datastore downloads and
Kibana case files. Each operation points at the pydantic model its handler
validates with (``request_models``) and at the models describing its answers
(``responses``). Served as an OpenAPI fragment at ``GET /openapi.json``; the
gateway merges it with the other services'.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from casemesh.web.openapi import (
    FORM,
    JSON,
    MULTIPART,
    KibanaError,
    Operation,
    ProcessMakerError,
    Response,
    TheHiveError,
)
from services.documents import responses
from services.documents.request_models import (
    DatastoreQuery,
    InputUpload,
    KibanaFile,
    OutputFileQuery,
    OutputGenerate,
    VersionQuery,
    multipart_schema,
)

NAME = "documents"
WORKSPACE = {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,64}$", "examples": ["workflow"]}
BINARY = {"type": "string", "format": "binary"}
SHA256 = "^[0-9a-fA-F]{64}$"  # thehive.SHA256, either case
DONE = Response(description="done; no body")
FILE_HEADERS = {
    "ETag": "the file's sha256, quoted",
    "Content-Disposition": "attachment, with the file's name (RFC 6266 / 5987)",
}
FILE = Response(BINARY, "the file (its sniffed content type)", "*/*", FILE_HEADERS)
PART = Response(
    BINARY,
    "the requested byte range",
    "*/*",
    {**FILE_HEADERS, "Content-Range": "bytes first-last/size"},
)
NOT_MODIFIED = Response(description="unchanged since the ETag given in If-None-Match")
CONDITIONAL = {"Range": False, "If-None-Match": False, "If-Range": False}
DOWNLOADS: dict[int, Response] = {200: FILE, 206: PART, 304: NOT_MODIFIED}
STREAMED = (400, 403, 404, 409, 413, 415, 503)


def _list(model: Any) -> TypeAdapter:
    return TypeAdapter(list[model])


def _processmaker() -> list[Operation]:
    case = "/api/1.0/{workspace}/cases/{app_uid}"
    one_in = case + "/input-document/{app_doc_uid}"
    one_out = case + "/output-document/{app_doc_uid}"
    input_doc, output_doc = responses.InputDocument, responses.OutputDocument
    upload = multipart_schema(InputUpload, "form", "The file.")
    common: dict[str, Any] = {
        "tags": ("ProcessMaker: case documents",),
        "error": ProcessMakerError,
        "path_params": {"workspace": WORKSPACE},
    }
    generate: dict[str, Any] = {
        "body": OutputGenerate,
        "body_media": (JSON, FORM, MULTIPART),
        "responses": {200: output_doc},
        "errors": STREAMED,
    }
    by_index = {**common["path_params"], "del_index": {"type": "integer", "minimum": 0}}
    return [
        Operation("GET", case + "/input-documents", "A case's input documents (latest versions)",
                  responses={200: _list(input_doc)}, errors=(400,), **common),
        Operation("POST", case + "/input-document", "Upload a file (a new version if versioned)",
                  body_schemas={MULTIPART: upload}, responses={200: input_doc},
                  errors=STREAMED, **common),
        Operation("GET", one_in, "An input document", responses={200: input_doc},
                  errors=(400, 403), **common),
        Operation("GET", one_in + "/versions", "Every version of an input document",
                  responses={200: _list(input_doc)}, errors=(400, 403), **common),
        Operation("GET", one_in + "/file", "Download an input document's file",
                  query=VersionQuery, headers=CONDITIONAL, responses=DOWNLOADS,
                  errors=(400, 403, 404, 416), **common),
        Operation("DELETE", one_in, "Delete an input document (every version)",
                  responses={200: DONE}, errors=(400, 403), **common),
        Operation("DELETE", case + "/{del_index}/input-document/{app_doc_uid}",
                  "Delete an input document (ProcessMaker's path with the task's index)",
                  responses={200: DONE}, errors=(400, 403, 404),
                  **{**common, "path_params": by_index}),
        Operation("GET", case + "/output-documents", "A case's output documents (latest versions)",
                  responses={200: _list(output_doc)}, errors=(400,), **common),
        Operation("POST", case + "/output-document", "Generate an output document",
                  **generate, **common),
        Operation("POST", case + "/output-document/",
                  "Generate an output document (ProcessMaker's path with a trailing slash)",
                  operation_id="documents_post_output_document_trailing_slash",
                  **generate, **common),
        Operation("GET", one_out, "An output document", responses={200: output_doc},
                  errors=(400, 403), **common),
        Operation("GET", one_out + "/file", "Download an output document's PDF or Word file",
                  query=OutputFileQuery, headers=CONDITIONAL, responses=DOWNLOADS,
                  errors=(400, 403, 404, 416), **common),
        Operation("DELETE", one_out, "Delete an output document (every version)",
                  responses={200: DONE}, errors=(400, 403), **common),
    ]  # fmt: skip


def _datastore() -> list[Operation]:
    common: dict[str, Any] = {
        "tags": ("TheHive: task logs",),
        "error": TheHiveError,
        "query": DatastoreQuery,
        "path_params": {"id": {"type": "string", "pattern": SHA256, "description": "sha256"}},
    }
    zipped = Response(
        BINARY,
        "the file in a zip encrypted with the password malware",
        "application/zip",
        {"Content-Disposition": "attachment; <name>.zip"},
    )
    return [
        Operation("GET", "/api/datastore/{id}", "Download a task log's attachment",
                  headers=CONDITIONAL, responses=DOWNLOADS, errors=(400, 404, 416), **common),
        Operation("GET", "/api/datastorezip/{id}",
                  "Download a task log's attachment zipped with the password malware",
                  responses={200: zipped}, errors=(400, 404), **common),
    ]  # fmt: skip


def _kibana() -> list[Operation]:
    ops = []
    upload = multipart_schema(KibanaFile, "file", "The file (at most 100 MiB).")
    for prefix in ("", "/s/{space}"):
        base = prefix + "/api/cases/{case_id}"
        space = " (in a Kibana space)" if prefix else ""
        common: dict[str, Any] = {
            "tags": ("Kibana: case files",),
            "error": KibanaError,
            "path_params": {"case_id": {"type": "string", "description": "The case's app_uid."}},
        }
        ops += [
            Operation("GET", base, "A case, with its files as comments" + space,
                      responses={200: responses.KibanaCase}, errors=(404,), **common),
            Operation("GET", base + "/comments", "A case's comments (its files)" + space,
                      responses={200: responses.KibanaComments}, errors=(404,), **common),
            Operation("POST", base + "/files", "Attach a file to a case" + space,
                      headers={"kbn-xsrf": True}, body_schemas={MULTIPART: upload},
                      responses={200: responses.KibanaCase}, errors=STREAMED, **common),
        ]  # fmt: skip
    return ops


def operations() -> list[Operation]:
    """Every public route of the documents service, as the gateway serves it."""
    return [*_processmaker(), *_datastore(), *_kibana()]
