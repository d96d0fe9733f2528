"""Output documents from their templates: ProcessMaker variables in, a PDF and a Word file out.

Templates use ProcessMaker's references: ``@@name`` (text), ``@#name``
(number), ``@%name`` (integer), ``@=name`` (as stored), ``@?name``
(URL-encoded), and grids as ``@>grid … @<grid`` blocks whose ``@@field``
references read each row first. This is plain substitution, no template
language: a value can never run code, and every value is HTML-escaped before
it lands in the template, so it cannot add markup either. The rendered HTML
is reduced to text lines (block tags end a line, cells are tab-separated)
and laid out with fpdf2 (PDF) and python-docx (DOCX).
"""

from __future__ import annotations

import html
import io
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

import docx
from fpdf import FPDF

_GRID = re.compile(r"@>([A-Za-z_][A-Za-z0-9_]*)(.*?)@<\1", re.DOTALL)
_REF = re.compile(r"@([@#%=?$&])([A-Za-z_][A-Za-z0-9_]*)")
BLOCKS = frozenset(
    {"p", "br", "div", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "li", "table", "hr", "title"}
)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return ""
    return str(value)


def _value(kind: str, value: Any) -> str:
    text = _text(value)
    if kind == "?":
        return quote(text, safe="")
    if kind == "%":
        try:
            text = str(int(float(text)))
        except ValueError:
            text = "0" if text == "" else text
    return html.escape(text)


def _substitute(template: str, scopes: tuple[dict, ...]) -> str:
    def one(match: re.Match[str]) -> str:
        kind, name = match.groups()
        for scope in scopes:
            if name in scope:
                return _value(kind, scope[name])
        return ""

    return _REF.sub(one, template)


def render_html(template: str, variables: dict[str, Any]) -> str:
    """The template with the case's variables in it, values escaped."""

    def grid(match: re.Match[str]) -> str:
        rows = variables.get(match.group(1))
        if not isinstance(rows, dict):
            return ""
        ordered = sorted(rows.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 0)
        return "".join(
            _substitute(match.group(2), (row, variables))
            for _, row in ordered
            if isinstance(row, dict)
        )

    return _substitute(_GRID.sub(grid, template), (variables,))


def render_filename(pattern: str, variables: dict[str, Any]) -> str:
    """The definition's filename with variables in it; their slashes cannot make folders."""

    def value(match: re.Match[str]) -> str:
        return _text(variables.get(match.group(2))).replace("/", "-").replace("\\", "-")

    return _REF.sub(value, pattern)


class _Lines(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current = ""
        self.skip = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in ("script", "style"):
            self.skip += 1
        elif tag in BLOCKS:
            self.flush()
        elif (tag == "td" or tag == "th") and self.current:
            self.current += "\t"

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)
        elif tag in BLOCKS:
            self.flush()

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.current += re.sub(r"\s+", " ", data)

    def flush(self) -> None:
        if self.current.strip():
            self.lines.append(self.current.strip())
        self.current = ""


def text_lines(rendered: str) -> list[str]:
    parser = _Lines()
    parser.feed(rendered)
    parser.close()
    parser.flush()
    return parser.lines


def pdf_bytes(lines: list[str], title: str) -> bytes:
    pdf = FPDF()
    pdf.set_title(title)
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    for line in lines or [""]:
        # The core fonts are Latin-1; other characters print as "?".
        text = line.replace("\t", "    ").encode("latin-1", "replace").decode("latin-1")
        pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def docx_bytes(lines: list[str], title: str) -> bytes:
    document = docx.Document()
    document.core_properties.title = title
    for line in lines:
        document.add_paragraph(line)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def generate(template: str, variables: dict[str, Any], title: str, formats: list[str]) -> dict:
    """{"pdf": bytes, "doc": bytes} for the formats asked (CPU-bound: run it in a thread)."""
    lines = text_lines(render_html(template, variables))
    out = {}
    if "pdf" in formats:
        out["pdf"] = pdf_bytes(lines, title)
    if "doc" in formats:
        out["doc"] = docx_bytes(lines, title)
    return out
