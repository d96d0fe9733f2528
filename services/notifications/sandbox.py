"""Templates rendered safely: jinja2's sandbox, auto-escaping and hard bounds.

A workspace administrator may override the e-mail templates, so a template is
untrusted input. Three layers keep it harmless:

1. ``SandboxedEnvironment``: no access to unsafe attributes or callables.
   HTML is rendered with auto-escaping, so ``<script>`` in a note arrives as
   text; ``|safe`` and ``{% autoescape false %}`` are not allowed.
2. ``check``: the parsed template may only use an allow-list of nodes and
   filters. No calls (functions or methods), no macros, includes, imports,
   assignments or ``_private`` attributes, no ``**``, and at most one level
   of ``for`` over a value of the context (never a literal). With capped
   ``*`` repetition this bounds the work any template can ask for.
3. ``render``: output is streamed and cut at ``MAX_OUTPUT`` characters or
   ``MAX_SECONDS`` of rendering.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from jinja2 import ChainableUndefined, StrictUndefined, Template, TemplateError, nodes
from jinja2.sandbox import SandboxedEnvironment, SecurityError

MAX_SOURCE = 20_000
MAX_OUTPUT = 200_000
MAX_SECONDS = 0.5
MAX_REPEAT = 10_000
MAX_LOOP_DEPTH = 1

ALLOWED_NODES: tuple[type[nodes.Node], ...] = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.Const,
    nodes.Name,
    nodes.Getattr,
    nodes.Getitem,
    nodes.Slice,
    nodes.Filter,
    nodes.Test,
    nodes.CondExpr,
    nodes.If,
    nodes.For,
    nodes.Compare,
    nodes.Operand,
    nodes.And,
    nodes.Or,
    nodes.Not,
    nodes.Concat,
    nodes.Add,
    nodes.Sub,
    nodes.Mul,
    nodes.Div,
    nodes.FloorDiv,
    nodes.Mod,
    nodes.Neg,
    nodes.Pos,
    nodes.List,
    nodes.Tuple,
    nodes.Dict,
    nodes.Pair,
    nodes.Keyword,
)
ALLOWED_FILTERS = frozenset(
    {
        "abs", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "first",
        "float", "filesizeformat", "int", "items", "join", "last", "length", "list", "lower",
        "max", "min", "reverse", "round", "sort", "string", "striptags", "sum", "title",
        "trim", "truncate", "unique", "upper", "urlencode", "urlize", "wordcount",
    }
)  # fmt: skip
LOOPABLE = (nodes.Name, nodes.Getattr, nodes.Getitem)
RENDER_ERRORS = (TemplateError, ArithmeticError, LookupError, TypeError, ValueError, RecursionError)


class TemplateProblem(Exception):
    """A template that cannot be saved or rendered; the message says why."""


class _BoundedSandbox(SandboxedEnvironment):
    intercepted_binops = frozenset({"*"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if (
                    isinstance(seq, str | list | tuple)
                    and isinstance(times, int)
                    and len(seq) * max(times, 0) > MAX_REPEAT
                ):
                    raise SecurityError(f"repetition longer than {MAX_REPEAT}")
        return super().call_binop(context, operator, left, right)


@functools.cache
def _environment(*, html: bool, strict: bool) -> _BoundedSandbox:
    env = _BoundedSandbox(
        autoescape=html,
        undefined=StrictUndefined if strict else ChainableUndefined,
        keep_trailing_newline=True,
    )
    env.globals.clear()  # no range(), lipsum(), cycler()...
    env.filters = {name: env.filters[name] for name in ALLOWED_FILTERS}
    return env


def check(source: str) -> None:
    """Raise TemplateProblem unless ``source`` parses and uses only what is allowed."""
    if len(source) > MAX_SOURCE:
        raise TemplateProblem(f"a template may have at most {MAX_SOURCE} characters")
    try:
        tree = _environment(html=False, strict=True).parse(source)
    except TemplateError as exc:
        raise TemplateProblem(f"syntax error: {exc}") from exc
    _walk(tree, depth=0)


def _walk(node: nodes.Node, *, depth: int) -> None:
    if not isinstance(node, ALLOWED_NODES):
        raise TemplateProblem(f"{type(node).__name__} is not allowed in templates")
    if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
        raise TemplateProblem(f"the attribute {node.attr!r} is not allowed")
    if isinstance(node, nodes.Filter) and node.name not in ALLOWED_FILTERS:
        raise TemplateProblem(f"the filter {node.name!r} is not allowed")
    if isinstance(node, nodes.For):
        if depth >= MAX_LOOP_DEPTH:
            raise TemplateProblem(f"loops may be nested at most {MAX_LOOP_DEPTH} deep")
        if not isinstance(node.iter, LOOPABLE) or getattr(node, "recursive", False):
            raise TemplateProblem("a loop may only go over a value of the context")
        depth += 1
    for child in node.iter_child_nodes():
        _walk(child, depth=depth)


@functools.lru_cache(maxsize=256)
def _compiled(source: str, html: bool, strict: bool) -> Template:
    check(source)
    return _environment(html=html, strict=strict).from_string(source)


def render(source: str, context: dict[str, Any], *, html: bool, strict: bool = False) -> str:
    """Render a checked template with its bounds; raise TemplateProblem on any failure."""
    template = _compiled(source, html, strict)
    deadline = time.monotonic() + MAX_SECONDS
    parts: list[str] = []
    size = 0
    try:
        for chunk in template.generate(context):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise TemplateProblem(f"the rendered text is longer than {MAX_OUTPUT}")
            if time.monotonic() > deadline:
                raise TemplateProblem(f"rendering took longer than {MAX_SECONDS}s")
            parts.append(chunk)
    except TemplateProblem:
        raise
    except (
        TemplateError,
        ArithmeticError,
        LookupError,
        TypeError,
        ValueError,
        RecursionError,
    ) as exc:
        raise TemplateProblem(f"{type(exc).__name__}: {exc}") from exc
    return "".join(parts)
