"""The mailer port: hand one message to the mail system."""

from __future__ import annotations

import abc
from email.message import Message


class MailError(Exception):
    pass


class TransientMailError(MailError):
    """Worth retrying later: 4xx answers, refused connections, timeouts."""


class PermanentMailError(MailError):
    """Retrying will not help: 5xx answers such as 550 unknown mailbox."""


class Mailer(abc.ABC):
    @abc.abstractmethod
    async def send(self, message: Message) -> None: ...

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise TransientMailError if the mail system cannot be reached."""

    @abc.abstractmethod
    async def close(self) -> None: ...
