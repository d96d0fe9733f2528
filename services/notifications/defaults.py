"""The templates shipped for each kind: subject, plain text and HTML.

Every template sees ``workspace``, ``kind``, ``case`` (uid, number, title,
process, status, url), ``actor`` and ``recipient`` (name, username), plus
``note`` (text), ``task`` (title, del_index, due_date, how), ``previous``,
``assignee`` or ``update`` (title, text, access_group) where the kind has one.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.notifications import kinds


@dataclass(frozen=True)
class Templates:
    subject: str
    text: str
    html: str


CASE = "#{{ case.number }} {{ case.title }}"
GREETING = "Hello {{ recipient.name or recipient.username }},\n\n"
TEXT_FOOTER = "\n\nOpen the case: {{ case.url }}\n\n-- \nCasemesh ({{ workspace }})\n"
HTML_HEAD = (
    '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n'
    '<body style="font-family: sans-serif; line-height: 1.4">\n'
    "<p>Hello {{ recipient.name or recipient.username }},</p>\n"
)
HTML_FOOT = (
    '<p><a href="{{ case.url }}">Open case #{{ case.number }}</a></p>\n'
    '<p style="color: #777; font-size: small">Casemesh ({{ workspace }})</p>\n'
    "</body></html>\n"
)
QUOTE = '<blockquote style="white-space: pre-wrap">{}</blockquote>\n'


def _make(subject: str, text: str, html: str) -> Templates:
    return Templates(subject, GREETING + text + TEXT_FOOTER, HTML_HEAD + html + HTML_FOOT)


DEFAULTS: dict[str, Templates] = {
    kinds.NOTE_CREATED: _make(
        f"[Case {CASE}] Note from {{{{ actor.name }}}}",
        f"{{{{ actor.name }}}} wrote a note on case {CASE}:\n\n{{{{ note.text }}}}",
        f"<p>{{{{ actor.name }}}} wrote a note on case {CASE}:</p>\n"
        + QUOTE.format("{{ note.text }}"),
    ),
    kinds.TASK_ASSIGNED: _make(
        f"[Case {CASE}] Task {{{{ task.title }}}} is yours",
        "{% if task.how == 'claimed' %}You claimed{% elif task.how == 'reassigned' %}"
        "You were reassigned{% else %}You were assigned{% endif %} the task "
        f"{{{{ task.title }}}} of case {CASE}."
        "{% if task.due_date %}\nDue: {{ task.due_date }}{% endif %}",
        "<p>{% if task.how == 'claimed' %}You claimed{% elif task.how == 'reassigned' %}"
        "You were reassigned{% else %}You were assigned{% endif %} the task "
        f"<strong>{{{{ task.title }}}}</strong> of case {CASE}.</p>\n"
        "{% if task.due_date %}<p>Due: {{ task.due_date }}</p>\n{% endif %}",
    ),
    kinds.TASK_WAITING: _make(
        f"[Case {CASE}] Task {{{{ task.title }}}} waits to be claimed",
        f"The task {{{{ task.title }}}} of case {CASE} waits for someone of your "
        "group to claim it.",
        f"<p>The task <strong>{{{{ task.title }}}}</strong> of case {CASE} waits for "
        "someone of your group to claim it.</p>\n",
    ),
    kinds.TASK_OVERDUE: _make(
        f"[Case {CASE}] Task {{{{ task.title }}}} is overdue",
        f"The task {{{{ task.title }}}} of case {CASE} was due {{{{ task.due_date }}}}"
        "{% if assignee.name %} (assigned to {{ assignee.name }}){% endif %}.",
        f"<p>The task <strong>{{{{ task.title }}}}</strong> of case {CASE} was due "
        "{{ task.due_date }}{% if assignee.name %} (assigned to {{ assignee.name }})"
        "{% endif %}.</p>\n",
    ),
    kinds.CASE_CANCELLED: _make(
        f"[Case {CASE}] Cancelled",
        f"Case {CASE} was cancelled{{% if actor.name %}} by {{{{ actor.name }}}}{{% endif %}}.",
        f"<p>Case {CASE} was cancelled{{% if actor.name %}} by {{{{ actor.name }}}}"
        "{% endif %}.</p>\n",
    ),
    kinds.CASE_COMPLETED: _make(
        f"[Case {CASE}] Completed",
        f"Case {CASE} is completed.",
        f"<p>Case {CASE} is completed.</p>\n",
    ),
    kinds.UPDATE_CREATED: _make(
        f"[Case {CASE}] {{{{ update.title or 'New update' }}}}",
        f"{{{{ actor.name }}}} posted an update on case {CASE}:\n\n{{{{ update.text }}}}",
        f"<p>{{{{ actor.name }}}} posted an update on case {CASE}:</p>\n"
        + QUOTE.format("{{ update.text }}"),
    ),
}

# What templates are tried against when saved: every name any kind may use.
SAMPLE_CONTEXT: dict[str, object] = {
    "workspace": "workflow",
    "kind": kinds.NOTE_CREATED,
    "case": {
        "uid": "0" * 32,
        "number": 1,
        "title": "Sample case",
        "process": "Sample process",
        "status": "TO_DO",
        "url": "http://casemesh.example/case",
    },
    "actor": {"name": "Ann Author", "username": "ann"},
    "recipient": {"name": "Rick Reader", "username": "rick", "email": "rick@example.com"},
    "previous": {"name": "", "username": ""},
    "assignee": {"name": "Rick Reader", "username": "rick"},
    "note": {"text": "A sample note."},
    "task": {"title": "Review", "del_index": 2, "due_date": "2030-01-01 00:00:00", "how": ""},
    "update": {"title": "Sample update", "text": "A sample update.", "access_group": "staff"},
}
