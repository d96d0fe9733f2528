"""The template sandbox: escaping, the allow-list and the bounds."""

from __future__ import annotations

import pytest

from services.notifications import sandbox
from services.notifications.defaults import DEFAULTS, SAMPLE_CONTEXT
from services.notifications.sandbox import TemplateProblem, check, render
from services.notifications.templates import render_all, validate


def test_html_is_escaped_and_text_is_not():
    context = {"note": {"text": "<script>alert(1)</script>"}}
    assert render("{{ note.text }}", context, html=True) == (
        "&lt;script&gt;alert(1)&lt;/script&gt;"
    )
    assert render("{{ note.text }}", context, html=False) == "<script>alert(1)</script>"


def test_every_shipped_template_passes_its_own_checks():
    for parts in DEFAULTS.values():
        validate(parts)
        rendered = render_all(parts, SAMPLE_CONTEXT)
        assert rendered["subject"] and "\n" not in rendered["subject"]


def test_a_subject_is_one_line_whatever_it_holds():
    parts = DEFAULTS["note_created"]
    context = {**SAMPLE_CONTEXT, "actor": {"name": "Eve\r\nBcc: all@example.com"}}
    assert "\n" not in render_all(parts, context)["subject"]


@pytest.mark.parametrize(
    "source",
    [
        "{{ x|safe }}",
        "{% autoescape false %}{{ x }}{% endautoescape %}",
        "{{ x.__class__ }}x{{ ''.__class__.__mro__ }}",
        "{{ range(10) }}",
        "{{ 'a'.center(100) }}",
        "{% macro m() %}{% endmacro %}",
        "{% set y = 1 %}",
        "{% include 'other' %}",
        "{% import 'other' as o %}",
        "{% extends 'base' %}",
        "{% for a in xs %}{% for b in xs %}{% endfor %}{% endfor %}",
        "{% for a in [1, 2] %}{% endfor %}",
        "{% for a in 'abc' %}{% endfor %}",
        "{{ 2 ** 1000 }}",
        "{{ xs|map('upper') }}",
        "{% filter upper %}x{% endfilter %}",
        "{{ x",
    ],
)
def test_what_a_template_may_not_do(source):
    with pytest.raises(TemplateProblem):
        check(source)


def test_a_loop_over_the_context_is_fine():
    source = "{% for p in people %}{{ loop.index }}. {{ p.name }}\n{% endfor %}"
    check(source)
    assert render(source, {"people": [{"name": "A"}, {"name": "B"}]}, html=False) == (
        "1. A\n2. B\n"
    )


def test_repetition_and_output_are_bounded(monkeypatch):
    with pytest.raises(TemplateProblem, match="repetition"):
        render("{{ 'x' * 20000 }}", {}, html=False)
    monkeypatch.setattr(sandbox, "MAX_OUTPUT", 50)
    with pytest.raises(TemplateProblem, match="longer than 50"):
        render("{% for p in xs %}{{ p }}{% endfor %}", {"xs": ["0123456789"] * 10}, html=False)


def test_a_template_too_long_is_refused():
    with pytest.raises(TemplateProblem, match="at most"):
        check("x" * (sandbox.MAX_SOURCE + 1))


def test_missing_values_render_empty_at_send_time_but_fail_validation():
    assert render("[{{ nothing.here }}]", {}, html=False) == "[]"
    with pytest.raises(TemplateProblem):
        render("[{{ nothing.here }}]", {}, html=False, strict=True)
