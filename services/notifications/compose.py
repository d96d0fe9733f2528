"""A delivery record -> the e-mail message: headers that thread per case, two bodies."""

from __future__ import annotations

import re
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses

from casemesh.store.port import Document

DEFAULT_DOMAIN = "casemesh.localhost"
_DOMAIN = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")
_ID_PART = re.compile(r"[^A-Za-z0-9._-]")


def mail_domain(mail_from: str) -> str:
    for _, addr in getaddresses([mail_from]):
        domain = addr.rpartition("@")[2]
        if _DOMAIN.fullmatch(domain):
            return domain
    return DEFAULT_DOMAIN


def message_id(delivery_id: str, domain: str) -> str:
    """Stable per delivery: a re-sent copy carries the same Message-ID."""
    return f"<{delivery_id}@{domain}>"


def thread_id(workspace: str, app_uid: str, domain: str) -> str:
    """The case's thread: every message about the case refers to it."""
    return f"<case.{_ID_PART.sub('-', workspace)}.{_ID_PART.sub('-', app_uid)}@{domain}>"


def compose(record: Document, *, mail_from: str) -> EmailMessage:
    """Build the message; ValueError if an address or header cannot be encoded."""
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = Address(display_name=record.get("name") or "", addr_spec=record["email"])
    message["Subject"] = record["subject"]
    message["Message-ID"] = record["message_id"]
    message["Date"] = format_datetime(datetime.fromisoformat(record["created_at"]))
    message["In-Reply-To"] = record["thread_id"]
    message["References"] = record["thread_id"]
    message["Auto-Submitted"] = "auto-generated"
    message["X-Casemesh-Case"] = record["app_uid"]
    message["X-Casemesh-Kind"] = record["kind"]
    message.set_content(record["text"])
    message.add_alternative(record["html"], subtype="html")
    return message
