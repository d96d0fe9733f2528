"""Mailer that hands messages to an SMTP server through aiosmtplib.

A small pool of connections (``pool_size``, ``smtp_pool_size`` in the
settings) is kept and reused: up to that many messages are sent at the same
time, each on a connection of its own, and a send beyond that waits for a
connection to come back. Before reuse a connection is probed with NOOP, so
one the server dropped while idle is replaced instead of failing the next
message; a connection that failed mid-conversation (disconnect, timeout,
cancellation) is closed and never reused. The pool grows on demand and
connections are opened lazily, so an idle service holds none beyond what it
used. With ``pool_size=1`` (the constructor's default) every send goes over
one connection, one after the other.
"""

from __future__ import annotations

import asyncio
import contextlib
from email.message import Message
from typing import TYPE_CHECKING

import aiosmtplib
from aiosmtplib.email import extract_recipients

from casemesh.mail.eml import ensure_message_headers
from casemesh.mail.port import (
    Mailer,
    MailError,
    PermanentMailError,
    TransientMailError,
)

if TYPE_CHECKING:
    from casemesh.settings import Settings


def _by_code(code: int, text: str) -> MailError:
    # RFC 5321: 4yz is a transient negative reply, 5yz a permanent one.
    return PermanentMailError(text) if 500 <= code < 600 else TransientMailError(text)


def translate_error(exc: BaseException) -> MailError:
    """Map an aiosmtplib / socket error onto the port's two error kinds."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refused = {r.recipient: (r.code, r.message) for r in exc.recipients}
        return _refused_error(refused, accepted=0)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _by_code(exc.code, f"SMTP {exc.code}: {exc.message}")
    if isinstance(exc, (aiosmtplib.SMTPNotSupported, ValueError)):
        # Missing From/recipients, SMTPUTF8 unsupported...: a retry won't help.
        return PermanentMailError(f"cannot send: {exc}")
    # Connection refused, timeouts, disconnects, TLS failures.
    return TransientMailError(f"SMTP server unreachable: {exc!r}")


def _refused_error(refused: dict[str, tuple[int, str]], *, accepted: int) -> MailError:
    details = "; ".join(f"{rcpt}: {code} {msg}" for rcpt, (code, msg) in refused.items())
    text = f"SMTP recipients refused ({details}); accepted for {accepted} other(s)"
    # Any 5xx makes the whole send permanent: retrying would re-deliver to
    # the recipients that did accept it and still fail for that one.
    worst = max(code for code, _ in refused.values())
    return _by_code(worst, text)


class SmtpMailer(Mailer):
    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        tls: bool = False,
        timeout: float = 10.0,
        default_from: str | None = None,
        local_hostname: str | None = None,
        pool_size: int = 1,
    ) -> None:
        if starttls and tls:
            raise ValueError("choose STARTTLS or implicit TLS, not both")
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        self.host = host
        self.port = port
        self.timeout = timeout
        self.default_from = default_from
        self.pool_size = pool_size
        self._options = {
            "username": username or None,
            "password": password if username else None,
            # Explicit False: never try an opportunistic STARTTLS that would
            # fail on a dev server's self-signed certificate.
            "start_tls": starttls,
            "use_tls": tls,
            "timeout": timeout,
            "local_hostname": local_hostname,
        }
        # One slot per connection: a send (or ping) holds a slot for as long
        # as it uses a connection, so at most pool_size are ever open.
        self._slots = asyncio.Semaphore(pool_size)
        self._idle: list[aiosmtplib.SMTP] = []  # last returned on top (warmest first)

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpMailer:
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            username=settings.smtp_username or None,
            password=settings.smtp_password.get_secret_value() or None,
            starttls=settings.smtp_starttls,
            tls=settings.smtp_tls,
            timeout=settings.smtp_timeout,
            default_from=settings.mail_from,
            pool_size=settings.smtp_pool_size,
        )

    async def send(self, message: Message) -> None:
        ensure_message_headers(message, default_from=self.default_from)
        async with self._slots:
            client: aiosmtplib.SMTP | None = None
            try:
                client = await self._checkout()
                refused, _ = await client.send_message(message)
            except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused) as exc:
                # aiosmtplib already sent RSET: the connection stays usable
                # (unless the server closed it, e.g. 421: then it is dropped).
                self._checkin(client)
                raise translate_error(exc) from exc
            except (aiosmtplib.SMTPNotSupported, ValueError) as exc:
                self._checkin(client)
                raise translate_error(exc) from exc
            except (aiosmtplib.SMTPException, OSError) as exc:
                _discard(client)
                raise translate_error(exc) from exc
            except BaseException:
                # Cancelled mid-conversation: the protocol state is unknown.
                _discard(client)
                raise
            self._checkin(client)
        if refused:
            accepted = len(_recipients(message)) - len(refused)
            codes = {rcpt: (r.code, r.message) for rcpt, r in refused.items()}
            raise _refused_error(codes, accepted=accepted)

    async def ping(self) -> None:
        async with self._slots:
            try:
                client = await self._checkout()
            except (aiosmtplib.SMTPException, OSError) as exc:
                raise TransientMailError(f"SMTP ping failed: {exc!r}") from exc
            self._checkin(client)

    async def close(self) -> None:
        """QUIT every connection, after the sends under way have finished."""
        for _ in range(self.pool_size):
            await self._slots.acquire()
        try:
            idle, self._idle = self._idle, []
            for client in idle:
                if client.is_connected:
                    with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                        await client.quit(timeout=min(self.timeout, 2.0))
                client.close()
        finally:
            for _ in range(self.pool_size):
                self._slots.release()

    @property
    def idle_connections(self) -> int:
        """Connections open and waiting to be reused (for tests and metrics)."""
        return len(self._idle)

    async def _checkout(self) -> aiosmtplib.SMTP:
        """A live connection (an idle one probed with NOOP), or a new one.

        The caller holds a slot, so opening one here never exceeds the pool.
        """
        while self._idle:
            client = self._idle.pop()
            if not client.is_connected:
                client.close()
                continue
            try:
                await client.noop()
            except (aiosmtplib.SMTPException, OSError):
                client.close()
                continue
            except BaseException:
                client.close()
                raise
            return client
        client = aiosmtplib.SMTP(hostname=self.host, port=self.port, **self._options)
        try:
            await client.connect()  # also does STARTTLS and AUTH when configured
        except BaseException:
            client.close()
            raise
        return client

    def _checkin(self, client: aiosmtplib.SMTP | None) -> None:
        if client is None:
            return
        if client.is_connected:
            self._idle.append(client)
        else:
            client.close()


def _discard(client: aiosmtplib.SMTP | None) -> None:
    if client is not None:
        client.close()


def _recipients(message: Message) -> set[str]:
    return set(extract_recipients(message))
