"""The Mailer contract, run against the .eml folder adapter and against SMTP
(aiosmtplib talking to a real aiosmtpd server)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import pytest

from casemesh.mail.eml import EmlFolderMailer
from casemesh.mail.port import Mailer, PermanentMailError, TransientMailError
from casemesh.mail.smtp import SmtpMailer
from casemesh.settings import Settings

TEXT = "Case 42 was routed to you.\nOpen it in Casemesh.\n"
HTML = "<p>Case <b>42</b> was routed to you. \u2014 <a href='#'>open</a></p>\n"


@pytest.fixture(params=["eml", pytest.param("smtp", marks=pytest.mark.smtp)])
async def mailer(request, tmp_path) -> AsyncIterator[Mailer]:
    if request.param == "eml":
        adapter: Mailer = EmlFolderMailer(tmp_path / "outbox")
    else:
        server = request.getfixturevalue("smtp")
        adapter = SmtpMailer(server.host, server.port, timeout=5.0)
    try:
        yield adapter
    finally:
        await adapter.close()


def delivered(request, mailer: Mailer) -> list[tuple[list[str] | None, EmailMessage]]:
    """What reached the other side: (envelope recipients or None, parsed message)."""
    if isinstance(mailer, SmtpMailer):
        return [(m.rcpt_tos, m.message) for m in request.getfixturevalue("smtp").messages]
    files = sorted(p for p in mailer.folder.iterdir() if p.suffix == ".eml")
    return [(None, message_from_bytes(p.read_bytes(), policy=policy.default)) for p in files]


def make_message(subject: str = "Case 42 routed to you \u2713") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Casemesh <casemesh@example.org>"
    message["To"] = "Ann Agent <ann@example.org>, bob@example.org"
    message["Cc"] = "carol@example.org"
    message["Subject"] = subject
    message["X-Casemesh-Case"] = "42"
    message["X-Casemesh-Event"] = "case.routed"
    message.set_content(TEXT)
    message.add_alternative(HTML, subtype="html")
    return message


async def test_send_multipart_alternative(mailer, request):
    message = make_message()
    await mailer.send(message)
    [(recipients, got)] = delivered(request, mailer)
    if recipients is not None:
        assert sorted(recipients) == ["ann@example.org", "bob@example.org", "carol@example.org"]
    assert got["Subject"] == "Case 42 routed to you \u2713"
    assert got["From"] == "Casemesh <casemesh@example.org>"
    assert got["To"].addresses[0].display_name == "Ann Agent"
    assert got["X-Casemesh-Case"] == "42"
    assert got["X-Casemesh-Event"] == "case.routed"
    assert got.get_content_type() == "multipart/alternative"
    plain = got.get_body(("plain",))
    html = got.get_body(("html",))
    # SMTP carries CRLF line ends, which the parser keeps in the bodies.
    assert plain.get_content().replace("\r\n", "\n") == TEXT
    assert html.get_content().replace("\r\n", "\n") == HTML
    # Message-ID and Date were added, and the caller's object shows them.
    assert got["Message-ID"] == message["Message-ID"]
    assert got["Message-ID"].startswith("<") and got["Message-ID"].endswith("@example.org>")
    assert parsedate_to_datetime(got["Date"]).tzinfo is not None


async def test_existing_message_id_and_date_are_kept(mailer, request):
    message = make_message()
    message["Message-ID"] = "<fixed-id-1@casemesh.test>"
    message["Date"] = "Mon, 02 Mar 2026 10:00:00 +0000"
    await mailer.send(message)
    [(_, got)] = delivered(request, mailer)
    assert got["Message-ID"] == "<fixed-id-1@casemesh.test>"
    assert got["Date"] == "Mon, 02 Mar 2026 10:00:00 +0000"


async def test_bcc_recipients_get_it_but_bcc_is_not_transmitted(mailer, request):
    message = make_message()
    message["Bcc"] = "auditor@example.org"
    await mailer.send(message)
    [(recipients, got)] = delivered(request, mailer)
    if recipients is not None:  # SMTP: in the envelope, not in the headers
        assert "auditor@example.org" in recipients
        assert got["Bcc"] is None
    else:  # the .eml is the only record of who it was for
        assert got["Bcc"] == "auditor@example.org"


async def test_each_message_is_delivered_separately(mailer, request):
    for i in range(5):
        await mailer.send(make_message(subject=f"update {i}"))
    got = delivered(request, mailer)
    assert sorted(m["Subject"] for _, m in got) == [f"update {i}" for i in range(5)]
    assert len({m["Message-ID"] for _, m in got}) == 5


async def test_ping(mailer):
    await mailer.ping()


async def test_eml_file_is_complete_and_atomic(tmp_path):
    mailer = EmlFolderMailer(tmp_path / "outbox")
    await mailer.send(make_message())
    [path] = list((tmp_path / "outbox").iterdir())  # no temp file left behind
    assert path.suffix == ".eml" and not path.name.startswith(".")
    raw = path.read_bytes()
    assert b"\r" not in raw  # LF files, read back with clean bodies
    got = message_from_bytes(raw, policy=policy.default)
    assert got["Message-ID"]
    assert got.get_body(("plain",)).get_content() == TEXT


async def test_eml_from_settings_uses_data_dir_and_default_sender(tmp_path):
    mailer = EmlFolderMailer.from_settings(Settings(data_dir=tmp_path))
    message = make_message()
    del message["From"]
    await mailer.send(message)
    [path] = list((tmp_path / "outbox").glob("*.eml"))
    got = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert got["From"] == Settings().mail_from


@pytest.mark.smtp
async def test_smtp_451_is_transient_and_connection_stays_usable(smtp):
    mailer = SmtpMailer(smtp.host, smtp.port, timeout=5.0)
    try:
        smtp.fail_next(451, stage="data")
        with pytest.raises(TransientMailError, match="451"):
            await mailer.send(make_message())
        smtp.fail_next(452, "Mailbox full", stage="rcpt", count=3)
        with pytest.raises(TransientMailError, match="452"):
            await mailer.send(make_message())
        # 421 means "closing the channel": still transient, and we reconnect.
        smtp.fail_next(421, stage="data")
        with pytest.raises(TransientMailError):
            await mailer.send(make_message())
        await mailer.send(make_message(subject="fourth time lucky"))
        assert [m.message["Subject"] for m in smtp.messages] == ["fourth time lucky"]
    finally:
        await mailer.close()


@pytest.mark.smtp
async def test_smtp_550_is_permanent(smtp):
    mailer = SmtpMailer(smtp.host, smtp.port, timeout=5.0)
    try:
        smtp.fail_next(550, "No such user here", stage="rcpt", count=3)
        with pytest.raises(PermanentMailError, match=r"550.*No such user"):
            await mailer.send(make_message())
        smtp.fail_next(554, stage="data")
        with pytest.raises(PermanentMailError, match="554"):
            await mailer.send(make_message())
        assert smtp.messages == []
    finally:
        await mailer.close()


@pytest.mark.smtp
async def test_smtp_one_refused_recipient_is_reported(smtp):
    mailer = SmtpMailer(smtp.host, smtp.port, timeout=5.0)
    try:
        smtp.fail_recipient("bob@example.org", 550, "Unknown mailbox")
        with pytest.raises(PermanentMailError, match=r"bob@example\.org: 550.*accepted for 2"):
            await mailer.send(make_message())
        [got] = smtp.messages  # the others did get it
        assert sorted(got.rcpt_tos) == ["ann@example.org", "carol@example.org"]
    finally:
        await mailer.close()


@pytest.mark.smtp
@pytest.mark.slow
async def test_smtp_down_is_transient_and_fast_then_recovers(smtp):
    mailer = SmtpMailer(smtp.host, smtp.port, timeout=5.0)
    try:
        await mailer.send(make_message(subject="before"))  # a pooled connection exists
        smtp.stop()
        for attempt in (mailer.send, lambda _: mailer.ping()):
            started = time.monotonic()
            with pytest.raises(TransientMailError):
                await attempt(make_message(subject="during"))
            assert time.monotonic() - started < 3
        smtp.start()
        await mailer.ping()
        await mailer.send(make_message(subject="after"))
        assert [m.message["Subject"] for m in smtp.messages] == ["before", "after"]
    finally:
        await mailer.close()


@pytest.mark.smtp
async def test_smtp_reuses_one_connection_and_serialises_sends(smtp):
    mailer = SmtpMailer(smtp.host, smtp.port, timeout=5.0)
    try:
        await asyncio.gather(*(mailer.send(make_message(subject=f"m{i}")) for i in range(10)))
        assert sorted(m.message["Subject"] for m in smtp.messages) == sorted(
            f"m{i}" for i in range(10)
        )
        peers = {m.peer for m in smtp.messages}
        assert len(peers) == 1, peers  # one TCP connection carried all ten
    finally:
        await mailer.close()


@pytest.mark.smtp
async def test_smtp_login(smtp):
    good = SmtpMailer(
        smtp.host, smtp.port, username=smtp.username, password=smtp.password, timeout=5.0
    )
    bad = SmtpMailer(smtp.host, smtp.port, username=smtp.username, password="nope", timeout=5.0)
    try:
        await good.send(make_message())
        assert smtp.logins == [smtp.username]
        with pytest.raises(PermanentMailError, match="535"):
            await bad.send(make_message())
        assert len(smtp.messages) == 1
    finally:
        await good.close()
        await bad.close()


@pytest.mark.smtp
async def test_smtp_from_settings(smtp):
    settings = Settings(smtp_host=smtp.host, smtp_port=smtp.port, smtp_timeout=3.0)
    mailer = SmtpMailer.from_settings(settings)
    try:
        message = make_message()
        del message["From"]
        await mailer.send(message)
        [got] = smtp.messages
        assert got.message["From"] == settings.mail_from
        assert got.mail_from == "casemesh@localhost"
    finally:
        await mailer.close()


@pytest.mark.smtp
async def test_smtp_pool_sends_concurrently_over_at_most_pool_size_connections(smtp):
    mailer = SmtpMailer(smtp.host, smtp.port, timeout=5.0, pool_size=3)
    try:
        await asyncio.gather(*(mailer.send(make_message(subject=f"m{i}")) for i in range(12)))
        assert sorted(m.message["Subject"] for m in smtp.messages) == sorted(
            f"m{i}" for i in range(12)
        )
        assert len({m.peer for m in smtp.messages}) == 3  # three in flight, each its own
        assert mailer.idle_connections == 3  # kept for reuse
        await mailer.send(make_message(subject="reused"))
        assert smtp.messages[-1].peer in {m.peer for m in smtp.messages[:-1]}
    finally:
        await mailer.close()
    assert mailer.idle_connections == 0


@pytest.mark.smtp
async def test_smtp_pool_replaces_connections_the_server_dropped(smtp):
    mailer = SmtpMailer(smtp.host, smtp.port, timeout=5.0, pool_size=2)
    try:
        await asyncio.gather(*(mailer.send(make_message(subject=f"a{i}")) for i in range(2)))
        before = {m.peer for m in smtp.messages}
        smtp.stop()  # both pooled connections die with the server
        smtp.start()
        await asyncio.gather(*(mailer.send(make_message(subject=f"b{i}")) for i in range(2)))
        after = {m.peer for m in smtp.messages if m.message["Subject"].startswith("b")}
        assert len(after) == 2 and not after & before  # NOOP failed: new connections
        await mailer.ping()
    finally:
        await mailer.close()


@pytest.mark.smtp
async def test_smtp_pool_keeps_the_error_mapping_per_send(smtp):
    mailer = SmtpMailer(smtp.host, smtp.port, timeout=5.0, pool_size=4)
    try:
        smtp.fail_next(451, stage="data")
        smtp.fail_recipient("cat@example.org", 550, "Unknown mailbox")

        def to(address: str) -> EmailMessage:
            message = make_message(subject=f"to {address}")
            del message["To"], message["Cc"]
            message["To"] = address
            return message

        results = await asyncio.gather(
            *(mailer.send(to(f"{n}@example.org")) for n in ("ann", "bob", "cat", "dan", "eve")),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, Exception)]
        assert sum(isinstance(e, TransientMailError) and "451" in str(e) for e in errors) == 1
        [permanent] = [e for e in errors if isinstance(e, PermanentMailError)]
        assert "cat@example.org: 550" in str(permanent)
        assert len(smtp.messages) == 3  # the other three arrived
        # Every connection is still usable after those answers.
        await asyncio.gather(*(mailer.send(make_message(subject=f"z{i}")) for i in range(4)))
        assert len(smtp.messages) == 7
    finally:
        await mailer.close()


@pytest.mark.smtp
async def test_smtp_pool_size_comes_from_settings(smtp):
    assert Settings().smtp_pool_size == 8
    mailer = SmtpMailer.from_settings(
        Settings(smtp_host=smtp.host, smtp_port=smtp.port, smtp_pool_size=2)
    )
    try:
        assert mailer.pool_size == 2
        await asyncio.gather(*(mailer.send(make_message(subject=f"m{i}")) for i in range(6)))
        assert len({m.peer for m in smtp.messages}) == 2
    finally:
        await mailer.close()
    with pytest.raises(ValueError):
        SmtpMailer(smtp.host, smtp.port, pool_size=0)
