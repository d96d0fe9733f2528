"""Pure parts of the documents service: names, sniffing, ranges, template substitution."""

from __future__ import annotations

import pytest

from casemesh.web.errors import ApiError
from services.documents.downloads import byte_range, content_disposition
from services.documents.files import sanitize_filename, sniff
from services.documents.render import render_filename, render_html, text_lines


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\dir\\a.txt", "a.txt"),
        ("", "file"),
        ("...", "file"),
        (".htaccess", "htaccess"),
        ("a\x00\x1f\u202eb.txt", "ab.txt"),
    ],
)
def test_sanitize(raw, expected):
    assert sanitize_filename(raw) == expected


def test_long_names_keep_extension():
    name = sanitize_filename("ü" * 500 + ".docx")
    assert len(name.encode()) <= 200 and name.endswith(".docx")


@pytest.mark.parametrize(
    ("head", "name", "kind"),
    [
        (b"%PDF-1.7", "x.txt", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n....", "x.pdf", "image/png"),
        (
            b"PK\x03\x04....",
            "a.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (b"PK\x03\x04....", "a.bin", "application/zip"),
        (b"hello", "a.txt", "text/plain"),
        (b"\x00\x01\x02", "a.txt", "application/octet-stream"),
        (b"<!DOCTYPE html><html>", "a.txt", "text/html"),
    ],
)
def test_sniff(head, name, kind):
    assert sniff(head, name) == kind


def test_ranges():
    assert byte_range(None, 10) is None
    assert byte_range("bytes=2-4", 10) == (2, 3)
    assert byte_range("bytes=5-", 10) == (5, 5)
    assert byte_range("bytes=-3", 10) == (7, 3)
    assert byte_range("bytes=0-1,4-5", 10) is None
    with pytest.raises(ApiError):
        byte_range("bytes=10-", 10)


def test_content_disposition():
    value = content_disposition('ré"sumé.pdf')
    assert "filename*=UTF-8''r%C3%A9%22sum%C3%A9.pdf" in value
    assert 'filename="r__sum_.pdf"' in value


def test_render_escapes_and_grids():
    variables = {
        "client": "<b>Acme</b>",
        "n": "3.7",
        "rows": {"1": {"name": "A"}, "2": {"name": "B"}},
    }
    out = render_html("<p>@@client @%n @?client</p>@>rows<p>@@name</p>@<rows@@missing", variables)
    assert "&lt;b&gt;Acme&lt;/b&gt;" in out and " 3 " in out and "%3Cb%3E" in out
    assert text_lines(out) == ["<b>Acme</b> 3 %3Cb%3EAcme%3C%2Fb%3E", "A", "B"]
    assert render_filename("x @@client", {"client": "a/b"}) == "x a-b"
