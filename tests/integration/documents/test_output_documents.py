"""Output documents from the definition's template, read back with pypdf and python-docx."""

from __future__ import annotations

import io

import docx
import pypdf

from tests.integration.documents.conftest import OUTPUT_BOTH, OUTPUT_DOC

VARIABLES = [
    {
        "client": "Acme <b>Corp</b>",
        "amount": 1250.5,
        "note": "<script>alert(1)</script>",
        "items": [{"name": "Widget", "price": 10}, {"name": "Gadget", "price": 20}],
    }
]


def _path(app_uid: str, rest: str = "") -> str:
    return f"/api/1.0/workflow/cases/{app_uid}{rest}"


def _pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def _docx_text(data: bytes) -> str:
    return "\n".join(p.text for p in docx.Document(io.BytesIO(data)).paragraphs)


async def test_generate_pdf_with_versions(world):
    case = await world.start_case(VARIABLES)
    path = _path(case["app_uid"], "/output-document")
    status, doc, _ = await world.request("POST", path, json={"out_doc_uid": OUTPUT_DOC})
    assert status == 200, doc
    assert doc["app_doc_type"] == "OUTPUT PDF" and doc["app_doc_version"] == 1
    assert doc["app_doc_filename"] == "invoice Acme bCorp-b.pdf"  # no <>, no folders
    link = doc["app_doc_link"].removeprefix("http://casemesh.test")
    status, data, headers = await world.request("GET", link)
    assert status == 200 and headers["Content-Type"] == "application/pdf"
    text = _pdf_text(data)
    assert "Invoice for Acme <b>Corp</b>" in text
    assert "Amount: 1250.5" in text
    assert "<script>alert(1)</script>" in text  # printed as text, never markup
    assert "Widget" in text and "Gadget" in text
    status, again, _ = await world.request("POST", path, json={"out_doc_uid": OUTPUT_DOC})
    assert again["app_doc_uid"] == doc["app_doc_uid"] and again["app_doc_version"] == 2
    assert again["app_doc_index"] == doc["app_doc_index"] + 1
    _, listed, _ = await world.request("GET", _path(case["app_uid"], "/output-documents"))
    assert [(d["app_doc_uid"], d["app_doc_version"]) for d in listed] == [(doc["app_doc_uid"], 2)]
    assert len(await world.events_of("document.output_generated", 2)) == 2


async def test_generate_both_replaces_without_versioning(world):
    case = await world.start_case(VARIABLES)
    path = _path(case["app_uid"], "/output-document")
    status, doc, _ = await world.request("POST", path, data={"out_doc_uid": OUTPUT_BOTH})
    assert status == 200, doc
    assert doc["app_doc_type"] == "OUTPUT BOTH"
    link = doc["app_doc_link"].removeprefix("http://casemesh.test")
    _, pdf, _ = await world.request("GET", link)
    _, word, headers = await world.request("GET", link.replace("ext=pdf", "ext=doc"))
    assert "Acme" in _pdf_text(pdf)
    assert headers["Content-Type"].startswith("application/vnd.openxmlformats")
    assert "Invoice for Acme <b>Corp</b>" in _docx_text(word)
    status, again, _ = await world.request("POST", path, json={"out_doc_uid": OUTPUT_BOTH})
    assert (again["app_doc_uid"], again["app_doc_version"], again["app_doc_index"]) == (
        doc["app_doc_uid"],
        1,
        doc["app_doc_index"],
    )
    assert len(await world.app_store.find("documents")) == 1


async def test_output_errors_and_delete(world):
    case = await world.start_case(VARIABLES)
    path = _path(case["app_uid"], "/output-document")
    status, body, _ = await world.request("POST", path, json={})
    assert status == 400 and "`out_doc_uid` is required" in body["error"]["message"]
    status, body, _ = await world.request("POST", path, json={"out_doc_uid": "nope"})
    assert status == 400
    _, doc, _ = await world.request("POST", path, json={"out_doc_uid": OUTPUT_DOC})
    one = _path(case["app_uid"], f"/output-document/{doc['app_doc_uid']}")
    status, got, _ = await world.request("GET", one)
    assert status == 200 and got == doc
    status, _, _ = await world.request("DELETE", one)
    assert status == 200
    status, _, _ = await world.request("GET", one)
    assert status == 400
    _, listed, _ = await world.request("GET", _path(case["app_uid"], "/output-documents"))
    assert listed == []
    status, listed, _ = await world.request(
        "GET", _path(case["app_uid"], "/output-documents"), world.who("dave")
    )
    assert status == 200 and listed == []
