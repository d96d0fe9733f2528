"""Mailer that writes each message as an ``.eml`` file: the embedded default.

Also home of ``ensure_message_headers``, which both adapters use so every
message leaves with a Message-ID and a Date.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import uuid
from datetime import UTC, datetime
from email.message import Message
from email.utils import format_datetime, getaddresses, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING

from casemesh.mail.port import Mailer, TransientMailError

if TYPE_CHECKING:
    from casemesh.settings import Settings

DEFAULT_DOMAIN = "casemesh.localhost"
_DOMAIN = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")


def ensure_message_headers(message: Message, *, default_from: str | None = None) -> Message:
    """Add From (if a default is given), Message-ID and Date when missing.

    In place on purpose: a caller that retries the same message object keeps
    the same Message-ID, so receivers can recognise the duplicate.
    """
    if message["From"] is None and default_from:
        message["From"] = default_from
    if message["Message-ID"] is None:
        message["Message-ID"] = make_msgid(domain=_sender_domain(message))
    if message["Date"] is None:
        message["Date"] = format_datetime(datetime.now(UTC))
    return message


def _sender_domain(message: Message) -> str:
    # make_msgid() without a domain calls socket.getfqdn(), which can block
    # on DNS; the sender's own domain is the conventional choice anyway.
    for _, addr in getaddresses([str(message.get("From", ""))]):
        domain = addr.rpartition("@")[2]
        if _DOMAIN.fullmatch(domain):
            return domain
    return DEFAULT_DOMAIN


class EmlFolderMailer(Mailer):
    """One ``<UTC time>-<Message-ID hash>.eml`` file per message."""

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        default_from: str | None = None,
        fsync: bool = True,
    ) -> None:
        self.folder = Path(folder)
        self.default_from = default_from
        self.fsync = fsync
        self.folder.mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_settings(
        cls, settings: Settings, folder: str | os.PathLike[str] | None = None
    ) -> EmlFolderMailer:
        folder = folder if folder is not None else settings.data_dir / "outbox"
        return cls(folder, default_from=settings.mail_from)

    async def send(self, message: Message) -> None:
        ensure_message_headers(message, default_from=self.default_from)
        # Bcc stays in the file: it is the only record of those recipients.
        # LF line ends, as mail tools on Unix write .eml files and as Python's
        # parser reads them back without stray CRs in the bodies.
        data = message.as_bytes(policy=message.policy.clone(linesep="\n"))
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        digest = hashlib.sha256(str(message["Message-ID"]).encode()).hexdigest()[:16]
        path = self.folder / f"{stamp}-{digest}.eml"
        try:
            await asyncio.to_thread(self._write, path, data)
        except OSError as exc:
            raise TransientMailError(f"cannot write {path}: {exc}") from exc

    def _write(self, path: Path, data: bytes) -> None:
        # Temp file + rename: a reader of the outbox never sees half a message.
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            with open(tmp, "xb") as f:
                f.write(data)
                f.flush()
                if self.fsync:
                    os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise

    async def ping(self) -> None:
        ok = await asyncio.to_thread(os.access, self.folder, os.W_OK | os.X_OK)
        if not ok:
            raise TransientMailError(f"outbox folder {self.folder} is not writable")

    async def close(self) -> None:
        return None
