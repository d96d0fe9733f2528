"""The plain (fast) message and the EmailMessage one say the same thing on the wire."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage, Message

import pytest
from aiosmtplib.email import extract_recipients, extract_sender, flatten_message

from services.notifications.compose import (
    compose,
    compose_plain,
    compose_rich,
    quoted_printable,
)

MAIL_FROM = "Casemesh <noreply@casemesh.example>"
HEADERS = (
    "From", "To", "Subject", "Message-ID", "Date", "In-Reply-To", "References",
    "Auto-Submitted", "X-Casemesh-Case", "X-Casemesh-Kind",
)  # fmt: skip
RECORD = {
    "id": "0123456789abcdef0123456789abcdef01234567",
    "name": "Bob",
    "email": "bob@example.com",
    "subject": "[Case #42 Office chairs] Note from Ann",
    "message_id": "<0123456789abcdef0123456789abcdef01234567@casemesh.example>",
    "created_at": "2026-11-22T09:00:00.123456+00:00",
    "thread_id": "<case.workflow.abc@casemesh.example>",
    "app_uid": "a" * 32,
    "kind": "note_created",
    "text": 'Hello Bob,\n\nAnn wrote:\n\n<script>alert("x")</script> a = b\n\n-- \nCasemesh\n',
    "html": "<p>Hello Bob,</p>\n<blockquote>&lt;script&gt; " + "long " * 40 + "</blockquote>\n",
}


def wire(message: Message) -> bytes:
    """What aiosmtplib puts on the wire (its own flattening, then CRLF line ends)."""
    return re.sub(rb"\r\n|\n|\r", b"\r\n", flatten_message(message, cte_type="7bit"))


def parsed(message: Message) -> EmailMessage:
    return message_from_bytes(wire(message), policy=policy.default)


def body(message: EmailMessage, subtype: str) -> str:
    return message.get_body((subtype,)).get_content().replace("\r\n", "\n")


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"name": "Zoë Ünïcode", "subject": "[Case #42 Café] Note from Zoë " + "très long " * 12},
        {"name": 'Smith, "Bob" Jr.', "text": "no line end   ", "html": ".\n.dot\r\nCRLF\rCR"},
        {"text": "日本語のテキスト\n" * 30, "name": ""},
        {"subject": "[Case #42 A long title] " + "word " * 30, "name": "N" * 90},
    ],
)
def test_the_plain_message_reads_like_the_rich_one(changes):
    record = {**RECORD, **changes}
    plain = compose_plain(record, mail_from=MAIL_FROM)
    assert plain is not None and not isinstance(plain, EmailMessage)
    fast, rich = parsed(plain), parsed(compose_rich(record, mail_from=MAIL_FROM))
    for name in HEADERS:
        assert str(fast[name]) == str(rich[name]), name
    assert fast.get_content_type() == "multipart/alternative"
    assert body(fast, "plain") == body(rich, "plain")
    assert body(fast, "html") == body(rich, "html")
    assert extract_recipients(plain) == [record["email"]]
    assert extract_sender(plain) == "noreply@casemesh.example"
    assert all(len(line) <= 998 for line in wire(plain).split(b"\r\n"))


def test_header_lines_are_folded_as_a_header_should_be():
    raw = wire(compose_plain(RECORD, mail_from=MAIL_FROM))
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert all(len(line) <= 78 for line in head), max(head, key=len)
    assert b"Content-Type: multipart/alternative;" in head
    assert b' boundary="=_cm' + RECORD["id"].encode() + b'"' in head  # its continuation line
    long = {**RECORD, "subject": "[Case #42] " + "word " * 40}
    head = wire(compose_plain(long, mail_from=MAIL_FROM)).split(b"\r\n\r\n", 1)[0]
    subject = head[head.index(b"Subject:") :].split(b"\r\nMessage-ID:")[0]
    assert b"\r\n " in subject and all(len(line) <= 78 for line in subject.split(b"\r\n"))


def test_the_boundary_cannot_occur_in_the_bodies():
    # Even a note quoting the boundary it will get: "=" is always escaped.
    boundary = "=_cm" + RECORD["id"]
    record = {**RECORD, "text": f"--{boundary}\n--{boundary}--\n"}
    raw = wire(compose_plain(record, mail_from=MAIL_FROM))
    assert raw.count(f"--{boundary}\r\n".encode()) == 2  # the two parts' delimiters
    assert body(parsed(compose_plain(record, mail_from=MAIL_FROM)), "plain") == record["text"]
    assert "=_" not in quoted_printable("a =_ b\n" + "=" * 200)


@pytest.mark.parametrize(
    "changes",
    [
        {"name": "Evil\r\nBcc: eve@example.com"},  # header injection
        {"subject": "=?utf-8?q?looks_encoded?="},
        {"email": "zoë@exämple.com"},  # not an ASCII address
        {"email": "bob smith@example.com"},
        {"app_uid": "a\r\nBcc: eve@example.com"},
    ],
)
def test_what_the_plain_path_does_not_take_goes_the_rich_way(changes):
    record = {**RECORD, **changes}
    assert compose_plain(record, mail_from=MAIL_FROM) is None
    try:
        expected = compose_rich(record, mail_from=MAIL_FROM)
    except ValueError:
        with pytest.raises(ValueError):
            compose(record, mail_from=MAIL_FROM)
        return
    message = compose(record, mail_from=MAIL_FROM)
    assert isinstance(message, EmailMessage)
    assert str(message["To"]) == str(expected["To"])


def test_an_unusual_sender_goes_the_rich_way():
    assert compose_plain(RECORD, mail_from="Casemesh <x y@example.com>") is None
    assert compose_plain(RECORD, mail_from="Größe <noreply@casemesh.example>") is not None
    sender = parsed(compose_plain(RECORD, mail_from="Größe <noreply@casemesh.example>"))["From"]
    assert str(sender) == "Größe <noreply@casemesh.example>"
