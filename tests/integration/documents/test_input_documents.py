"""ProcessMaker input documents over both object stores, with the real cases service."""

from __future__ import annotations

import hashlib

import aiohttp

from casemesh.identity import PM_CASES
from tests.integration.documents.conftest import (
    INPUT_DOC,
    INPUT_FLAT,
    SMALL_CAP,
    TASK_REQUEST,
    TASK_REVIEW,
    WORKSPACE_LIMIT,
)

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def _path(app_uid: str, rest: str = "") -> str:
    return f"/api/1.0/workflow/cases/{app_uid}{rest}"


async def _blob_count(world) -> int:
    return len(await world_store(world).find("blobs"))


def world_store(world):
    return world.app_store


async def test_upload_list_get_download(world):
    case = await world.start_case()
    status, doc, _ = await world.upload(case["app_uid"], PNG, "shot.txt", app_doc_comment="hi")
    assert status == 200, doc
    assert doc["app_doc_filename"] == "shot.txt"
    assert doc["doc_uid"] == INPUT_DOC and doc["app_doc_type"] == "INPUT"
    assert doc["app_doc_version"] == "1" and doc["app_doc_index"] == 1
    assert (
        doc["app_doc_create_user"] == ", Administrator (admin)"
        or "(admin)" in doc["app_doc_create_user"]
    )
    link = doc["app_doc_link"]
    assert link.startswith("http://casemesh.test/api/1.0/workflow/cases/")
    status, listed, _ = await world.request("GET", _path(case["app_uid"], "/input-documents"))
    assert status == 200 and [d["app_doc_uid"] for d in listed] == [doc["app_doc_uid"]]
    status, one, _ = await world.request(
        "GET", _path(case["app_uid"], f"/input-document/{doc['app_doc_uid']}")
    )
    assert status == 200 and one == doc
    status, body, headers = await world.request("GET", link.removeprefix("http://casemesh.test"))
    assert status == 200 and body == PNG
    assert headers["Content-Type"] == "image/png"  # sniffed, not the client's type
    assert headers["ETag"] == f'"{hashlib.sha256(PNG).hexdigest()}"'
    assert "filename*=UTF-8''shot.txt" in headers["Content-Disposition"]
    event = (await world.events_of("document.uploaded"))[0]
    assert event.data["files"][0]["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert event.data["app_uid"] == case["app_uid"] and event.subject == case["app_uid"]


async def test_range_and_etag(world):
    case = await world.start_case()
    _, doc, _ = await world.upload(case["app_uid"], PNG)
    path = world_link(doc)
    status, body, headers = await world.request("GET", path, headers={"Range": "bytes=8-15"})
    assert status == 206 and body == PNG[8:16]
    assert headers["Content-Range"] == f"bytes 8-15/{len(PNG)}"
    status, body, _ = await world.request("GET", path, headers={"Range": "bytes=-4"})
    assert status == 206 and body == PNG[-4:]
    status, _, headers = await world.request("GET", path, headers={"Range": "bytes=99999-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(PNG)}"
    etag = f'"{hashlib.sha256(PNG).hexdigest()}"'
    status, _, _ = await world.request("GET", path, headers={"If-None-Match": etag})
    assert status == 304


def world_link(doc: dict) -> str:
    return doc["app_doc_link"].removeprefix("http://casemesh.test")


async def test_versions_and_index(world):
    case = await world.start_case()
    app_uid = case["app_uid"]
    _, first, _ = await world.upload(app_uid, b"version one", "v.txt")
    _, second, _ = await world.upload(app_uid, b"version two", "v.txt")
    _, flat1, _ = await world.upload(app_uid, b"flat one", "f.txt", inp_doc_uid=INPUT_FLAT)
    _, flat2, _ = await world.upload(app_uid, b"flat two", "f.txt", inp_doc_uid=INPUT_FLAT)
    assert second["app_doc_uid"] == first["app_doc_uid"] and second["app_doc_version"] == "2"
    assert [first["app_doc_index"], second["app_doc_index"]] == [1, 2]
    assert flat1["app_doc_uid"] != flat2["app_doc_uid"] and flat2["app_doc_version"] == "1"
    assert flat2["app_doc_index"] == 4
    _, listed, _ = await world.request("GET", _path(app_uid, "/input-documents"))
    assert [(d["app_doc_uid"], d["app_doc_version"]) for d in listed] == [
        (first["app_doc_uid"], "2"),
        (flat1["app_doc_uid"], "1"),
        (flat2["app_doc_uid"], "1"),
    ]
    status, versions, _ = await world.request(
        "GET", _path(app_uid, f"/input-document/{first['app_doc_uid']}/versions")
    )
    assert status == 200 and [v["app_doc_version"] for v in versions] == ["1", "2"]
    _, old, _ = await world.request("GET", world_link(versions[0]))
    _, new, _ = await world.request("GET", world_link(versions[1]))
    assert (old, new) == (b"version one", b"version two")
    assert len(await world.events_of("document.version_added")) == 1


async def test_same_content_stored_once(world):
    case = await world.start_case()
    other = await world.start_case()
    data = b"identical bytes " * 1000
    _, a, _ = await world.upload(case["app_uid"], data, "a.txt", inp_doc_uid=INPUT_FLAT)
    _, b, _ = await world.upload(other["app_uid"], data, "b.txt", inp_doc_uid=INPUT_FLAT)
    assert a["app_doc_uid"] != b["app_doc_uid"]
    blobs = await world.app_store.find("blobs")
    assert len(blobs) == 1 and blobs[0]["refs"] == 2
    assert await world.object_count() == 1
    _, got, _ = await world.request("GET", world_link(b))
    assert got == data


async def test_delete_marks_deleted(world):
    case = await world.start_case()
    _, doc, _ = await world.upload(case["app_uid"], b"to delete")
    path = _path(case["app_uid"], f"/1/input-document/{doc['app_doc_uid']}")
    bob = world.bob()
    status, _, _ = await world.request("DELETE", path, bob)
    assert status == 403
    status, body, _ = await world.request("DELETE", path)
    assert status == 200 and body == b""
    _, listed, _ = await world.request("GET", _path(case["app_uid"], "/input-documents"))
    assert listed == []
    status, body, _ = await world.request("DELETE", path)
    assert status == 400
    assert body["error"]["message"] == (
        f"Bad Request: This input document with app_doc_uid: {doc['app_doc_uid']} does not exist!"
    )
    records = await world.app_store.find("documents")
    assert records[0]["status"] == "DELETED"  # the record stays, and so do the bytes
    assert await world.object_count() == 1
    assert len(await world.events_of("document.deleted")) == 1


async def test_rights(world):
    case = await world.start_case()
    _, doc, _ = await world.upload(case["app_uid"], b"secret")
    dave = world.who("dave", PM_CASES)
    status, listed, _ = await world.request("GET", _path(case["app_uid"], "/input-documents"), dave)
    assert status == 200 and listed == []
    status, _, _ = await world.upload(case["app_uid"], b"x", who=dave)
    assert status == 403
    reader = world.who("carol", PM_CASES, groups=(world.users["readers"],))
    status, listed, _ = await world.request(
        "GET", _path(case["app_uid"], "/input-documents"), reader
    )
    assert [d["app_doc_uid"] for d in listed] == [doc["app_doc_uid"]]
    status, body, _ = await world.request("GET", world_link(doc), reader)
    assert status == 200 and body == b"secret"
    other_ws = world.who("bob", PM_CASES, ws="elsewhere")
    status, _, _ = await world.request("GET", _path(case["app_uid"], "/input-documents"), other_ws)
    assert status == 400
    status, _, _ = await world.request("GET", _path(case["app_uid"], "/input-documents"), False)
    assert status == 401
    # bob is not assigned yet (the case waits in Request): the Review task is not his to use.
    status, body, _ = await world.upload(
        case["app_uid"], b"x", who=world.bob(), tas_uid=TASK_REVIEW
    )
    assert status in (400, 403)


async def test_bad_requests(world):
    case = await world.start_case()
    app_uid = case["app_uid"]
    form = aiohttp.FormData()
    form.add_field("inp_doc_uid", INPUT_DOC)
    form.add_field("form", b"data", filename="x.txt")
    status, body, _ = await world.request("POST", _path(app_uid, "/input-document"), data=form)
    assert (
        status == 400
        and body["error"]["message"] == "Bad Request: `tas_uid` is required but missing"
    )
    form = aiohttp.FormData()
    form.add_field("inp_doc_uid", INPUT_DOC)
    form.add_field("tas_uid", "nope")
    status, body, _ = await world.request("POST", _path(app_uid, "/input-document"), data=form)
    assert status == 400 and "This filename does not exist!" in body["error"]["message"]
    status, body, _ = await world.upload(app_uid, b"x", inp_doc_uid="unknown-def")
    assert status == 400 and "unknown-def" in body["error"]["message"]
    status, body, _ = await world.upload(app_uid, b"x", tas_uid="unknown-task")
    assert status == 400
    status, body, _ = await world.request(
        "POST",
        _path(app_uid, "/input-document"),
        data=b'--xyz\r\nContent-Disposition: form-data; name="tas_uid"\r\n\r\nabc',
        headers={"Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert status == 400
    status, body, _ = await world.request(
        "POST", _path(app_uid, "/input-document"), json={"tas_uid": "x"}
    )
    assert status == 400
    status, body, _ = await world.request("GET", _path("no-such-case", "/input-documents"))
    assert status == 400 and "doesn't exist" in body["error"]["message"]
    status, body, _ = await world.request("GET", _path(app_uid, "/input-document/0123456789abcdef"))
    assert status == 400 and "does not exist" in body["error"]["message"]
    assert await world.app_store.find("documents") == []
    assert await world.object_count() == 0


def _raw_form(filename: str, data: bytes) -> tuple[bytes, dict]:
    """A multipart body written by hand, with the filename bytes exactly as given."""
    parts = [
        b'--b0undary\r\nContent-Disposition: form-data; name="inp_doc_uid"\r\n\r\n'
        + INPUT_FLAT.encode(),
        b'--b0undary\r\nContent-Disposition: form-data; name="tas_uid"\r\n\r\n'
        + TASK_REQUEST.encode(),
        b'--b0undary\r\nContent-Disposition: form-data; name="form"; filename="'
        + filename.replace("\\", "\\\\").encode()  # a quoted-string escapes backslashes
        + b'"\r\nContent-Type: text/plain\r\n\r\n'
        + data,
    ]
    body = b"\r\n".join(parts) + b"\r\n--b0undary--\r\n"
    return body, {"Content-Type": "multipart/form-data; boundary=b0undary"}


async def test_hostile_filenames(world):
    case = await world.start_case()
    names = {
        "../../etc/passwd": "passwd",
        "C:\\Users\\x\\evil.exe": "evil.exe",
        "a\u202eb\u200bc.txt": "abc.txt",  # format characters (bidi override, zero width)
        "..": "file",
        "<angle>|pipe?.txt": "anglepipe.txt",
        "\u00e9" * 300 + ".pdf": None,
        "r\u00e9sum\u00e9 2024.txt": "r\u00e9sum\u00e9 2024.txt",
    }
    for raw, expected in names.items():
        body, headers = _raw_form(raw, b"x")
        status, doc, _ = await world.request(
            "POST", _path(case["app_uid"], "/input-document"), data=body, headers=headers
        )
        assert status == 200, (raw, doc)
        name = doc["app_doc_filename"]
        if expected is not None:
            assert name == expected, raw
        else:
            assert len(name.encode()) <= 200 and name.endswith(".pdf")
        _, _, headers = await world.request("GET", world_link(doc))
        assert "\n" not in headers["Content-Disposition"]
        assert "filename*=UTF-8''" in headers["Content-Disposition"]
    # Control characters in a part's headers: the parser refuses the body.
    body, headers = _raw_form("a\x1bb.txt", b"x")
    status, _, _ = await world.request(
        "POST", _path(case["app_uid"], "/input-document"), data=body, headers=headers
    )
    assert status == 400


async def test_too_large_leaves_nothing(world):
    case = await world.start_case()
    status, body, _ = await world.upload(
        case["app_uid"], b"x" * (WORKSPACE_LIMIT + 1), "big.bin", inp_doc_uid=INPUT_DOC
    )
    assert status == 413
    assert body["error"] == {
        "code": 413,
        "message": "Request Entity Too Large: Uploaded file (big.bin) is too big.",
    }
    status, body, _ = await world.upload(
        case["app_uid"], b"x" * (SMALL_CAP + 1), "cap.bin", inp_doc_uid=INPUT_FLAT
    )
    assert status == 413 and "(cap.bin)" in body["error"]["message"]
    assert await world.app_store.find("documents") == []
    assert await world.object_count() == 0
