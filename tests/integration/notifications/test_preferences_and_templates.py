"""Preferences a user sets are respected; workspace templates are checked, then used."""

from __future__ import annotations

import asyncio

from casemesh.events.cases import TaskAssigned
from tests.integration.notifications.conftest import identity_of, person
from tests.integration.notifications.test_mail_arrives import CASE, body, note, task


async def test_a_user_who_turned_a_kind_off_gets_none_of_it(service):
    ann, bob, cat = person("ann"), person("bob"), person("cat")
    status, prefs = await service.call("GET", "/preferences", identity_of(bob))
    assert status == 200 and all(prefs["kinds"].values())
    status, prefs = await service.call(
        "PUT", "/preferences", identity_of(bob), json={"kinds": {"note_created": False}}
    )
    assert status == 200
    assert prefs["kinds"]["note_created"] is False and prefs["kinds"]["task_assigned"] is True

    await service.publish(note(ann, [ann, bob, cat]))
    await service.publish(TaskAssigned(**CASE, how="assigned", task=task(), assignee=bob))
    mails = await service.mails(2)
    await asyncio.sleep(0.5)
    got = sorted((m.rcpt_tos[0], m.message["Subject"]) for m in service.smtp.messages)
    assert got == [
        ("bob@example.com", "[Case #42 Office chairs] Task Review is yours"),
        ("cat@example.com", "[Case #42 Office chairs] Note from Ann"),
    ]
    assert len(mails) == 2
    assert service.instances[0].sender.stats.sent == 2


async def test_preferences_are_checked_and_private(service):
    bob, cat = person("bob"), person("cat")
    status, body_ = await service.call(
        "PUT", "/preferences", identity_of(bob), json={"kinds": {"nonsense": False}}
    )
    assert status == 400 and "nonsense" in body_["message"]
    status, _ = await service.call(
        "PUT", "/preferences", identity_of(bob), json={"kinds": {"note_created": "perhaps"}}
    )
    assert status == 400
    status, _ = await service.call(
        "GET", "/preferences", identity_of(bob), params={"usr_uid": cat.usr_uid}
    )
    assert status == 403
    status, prefs = await service.call("GET", "/preferences", params={"usr_uid": cat.usr_uid})
    assert status == 200 and prefs["usr_uid"] == cat.usr_uid  # an admin may


async def test_a_workspace_template_is_validated_then_used(service):
    ann, bob = person("ann"), person("bob")
    path = "/templates/note_created"
    status, _ = await service.call("PUT", path, identity_of(bob), json={"subject": "x"})
    assert status == 403
    for bad in (
        "{{ note.text",  # syntax
        "{{ note.text|safe }}",  # would turn escaping off
        "{{ note.txet }}",  # a name no context has
        "{% for a in 'xxxx' %}{{ a }}{% endfor %}",  # a loop over a literal
        "{{ ''.join(['a']) }}",  # a call
        "{{ 'x' * 100000 }}",  # too long a repetition
    ):
        status, answer = await service.call("PUT", path, json={"html": bad})
        assert status == 400, bad
        assert answer["message"].startswith("invalid template: html:"), answer

    html = "<p>{{ actor.name }} says:</p><pre>{{ note.text }}</pre><a href='{{ case.url }}'>go</a>"
    status, saved = await service.call(
        "PUT", path, json={"subject": "Note on {{ case.title }}", "html": html}
    )
    assert status == 200 and saved["custom"] is True and saved["html"] == html
    await service.publish(note(ann, [ann, bob], text="<script>x()</script>"))
    [mail] = await service.mails(1)
    assert mail.message["Subject"] == "Note on Office chairs"
    assert "<pre>&lt;script&gt;x()&lt;/script&gt;</pre>" in body(mail.message, "html")
    assert "Ann wrote a note" in body(mail.message, "plain")  # the default text part stays

    status, _ = await service.call("DELETE", path)
    assert status == 204
    status, current = await service.call("GET", path)
    assert current["custom"] is False and current["subject"].startswith("[Case")
    status, listing = await service.call("GET", "/templates")
    assert status == 200 and len(listing) == 7
