"""Trigger scripts: assignments, conditionals and unset over case variables.

The language is a safe subset of ProcessMaker's PHP triggers (see
docs/conditions-and-triggers.md)::

    @@status = "approved";
    @#total = @#amount * 1.2;
    if (@#amount > 1000) { @@level = "high"; } else { @@level = "low"; }
    if @#amount > 1000 then @@level = "high" else @@level = "low"
    unset(@@draft);

Expressions are the condition language. There are no loops and no calls, and
a run is bounded (statements, evaluation steps, text written), so a script
always finishes quickly. ``run_script`` never mutates the dict it is given.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .conditions import MAX_STRING, Evaluator, convert, strict_equal
from .errors import TriggerError
from .expressions import Binary, ExpressionParser, ExpressionProblem, Node, Token, Var, tokenize

MAX_SCRIPT_LENGTH = 20_000
MAX_STATEMENTS = 1000  # statements executed in one run
MAX_STEPS = 200_000  # expression evaluation steps in one run
MAX_OUTPUT = 1_000_000  # characters of text assigned in one run

_ASSIGNMENTS = {"=": None, "+=": "+", "-=": "-", "*=": "*", "/=": "/", "%=": "%", ".=": "."}


@dataclass(frozen=True, slots=True)
class Assign:
    prefix: str  # "@", "#", "%" or "=": how the value is stored
    name: str
    value: Node
    pos: int


@dataclass(frozen=True, slots=True)
class Unset:
    names: tuple[str, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class If:
    branches: tuple[tuple[Node, tuple[Statement, ...]], ...]  # if / elseif, in order
    otherwise: tuple[Statement, ...]
    pos: int


Statement = Assign | Unset | If


@dataclass(frozen=True, slots=True)
class Script:
    text: str
    statements: tuple[Statement, ...]


@dataclass(frozen=True)
class TriggerResult:
    variables: dict[str, Any]  # the full new set of variables
    changed: set[str]  # assigned, with a value different from before (or new)
    removed: set[str]  # present before, unset now


class _ScriptParser(ExpressionParser):
    def script(self) -> tuple[Statement, ...]:
        return self._statements(None)

    def _statements(self, opening: Token | None) -> tuple[Statement, ...]:
        statements: list[Statement] = []
        while True:
            token = self.peek()
            if token.is_op(";"):
                self.advance()
            elif token.is_op("}") and opening is not None:
                self.advance()
                return tuple(statements)
            elif token.kind == "end":
                if opening is not None:
                    raise ExpressionProblem("missing '}' to close this '{'", opening.pos)
                return tuple(statements)
            else:
                statements.append(self._statement())

    def _statement(self) -> Statement:
        if self.peek().is_name("if"):
            return self._if()
        token = self.peek()
        if token.is_name("unset"):
            statement: Statement = self._unset()
        elif token.kind == "var":
            statement = self._assign()
        else:
            raise ExpressionProblem(
                f"expected a statement (@@name = value;, if … or unset(…)), "
                f"found {token.describe()}",
                token.pos,
            )
        self._end_simple()
        return statement

    def _end_simple(self) -> None:
        """A statement ends with ';', a line break, '}', 'else' or the end of the script."""
        token = self.peek()
        if token.is_op(";"):
            self.advance()
        elif not (
            token.kind == "end"
            or token.newline_before
            or token.is_op("}")
            or token.is_name("else", "elseif")
        ):
            raise ExpressionProblem(f"expected ';' before {token.describe()}", token.pos)

    def _target(self) -> Token:
        token = self.advance()
        if token.kind != "var":
            raise ExpressionProblem(f"expected a variable, found {token.describe()}", token.pos)
        if self.peek().is_op("["):
            message = "assigning to or unsetting a grid cell is not supported"
            raise ExpressionProblem(message, token.pos)
        return token

    def _assign(self) -> Assign:
        target = self._target()
        prefix, name = target.value
        op = self.peek()
        if not (op.kind == "op" and op.value in _ASSIGNMENTS):
            hint = " ('==' compares; use '=' to assign)" if op.is_op("==", "===") else ""
            raise ExpressionProblem(
                f"expected '=' after @{prefix}{name}, found {op.describe()}{hint}", op.pos
            )
        self.advance()
        value = self.parse_expression()
        arithmetic = _ASSIGNMENTS[op.value]
        if arithmetic is not None:  # "@#a += 1" is "@#a = @#a + 1"
            value = Binary(arithmetic, Var(prefix, name, (), target.pos), value, op.pos)
        return Assign(prefix, name, value, target.pos)

    def _unset(self) -> Unset:
        start = self.advance()
        self.expect_op("(", "after unset")
        names = [self._target().value[1]]
        while self.peek().is_op(","):
            self.advance()
            names.append(self._target().value[1])
        self.expect_op(")", "to close unset(…)")
        return Unset(tuple(names), start.pos)

    def _if(self) -> If:
        start = self.advance()
        branches: list[tuple[Node, tuple[Statement, ...]]] = []
        otherwise: tuple[Statement, ...] = ()
        while True:  # a flat loop, so long "else if" chains do not nest
            condition = self.parse_expression()
            branches.append((condition, self._body(then=True)))
            token = self.peek()
            if token.is_name("elseif"):
                self.advance()
            elif token.is_name("else") and self.peek(1).is_name("if"):
                self.advance()
                self.advance()
            else:
                if token.is_name("else"):
                    self.advance()
                    otherwise = self._body(then=False)
                return If(tuple(branches), otherwise, start.pos)

    def _body(self, *, then: bool) -> tuple[Statement, ...]:
        """``{ … }``, or (one-line form) ``then statement`` / ``else statement``."""
        token = self.peek()
        self.enter(token.pos)
        if then and token.is_name("then"):
            self.advance()
            token = self.peek()
        elif then and not token.is_op("{"):
            raise ExpressionProblem(
                f"expected '{{' or 'then' after the if condition, found {token.describe()}",
                token.pos,
            )
        if token.is_op("{"):
            self.advance()
            body = self._statements(token)
        else:
            body = (self._statement(),)
        self.leave()
        return body


def parse_script(text: str) -> Script:
    """Parse a trigger script; raises :class:`TriggerError` with line and column."""
    if not isinstance(text, str):
        raise TriggerError("a trigger script must be text")
    return _parse(text)


@lru_cache(maxsize=256)
def _parse(text: str) -> Script:
    if len(text) > MAX_SCRIPT_LENGTH:
        raise TriggerError(f"the script is longer than {MAX_SCRIPT_LENGTH} characters")
    try:
        return Script(text, _ScriptParser(tokenize(text)).script())
    except ExpressionProblem as problem:
        raise _located(text, problem) from None


def run_script(script: str | Script, variables: Mapping[str, Any]) -> TriggerResult:
    """Run a script over a copy of ``variables``; raises :class:`TriggerError`."""
    parsed = script if isinstance(script, Script) else parse_script(script)
    runner = _Runner(variables)
    try:
        runner.run(parsed.statements)
    except ExpressionProblem as problem:
        raise _located(parsed.text, problem) from None
    except RecursionError:
        raise TriggerError("the script is too deeply nested to run") from None
    new = runner.variables
    changed = {
        name
        for name in runner.touched
        if name in new and (name not in variables or not strict_equal(variables[name], new[name]))
    }
    removed = {name for name in runner.touched if name in variables and name not in new}
    return TriggerResult(new, changed, removed)


class _Runner:
    def __init__(self, variables: Mapping[str, Any]) -> None:
        self.variables = dict(variables)
        self.evaluator = Evaluator(self.variables, MAX_STEPS)
        self.executed = 0
        self.written = 0
        self.touched: set[str] = set()

    def run(self, statements: tuple[Statement, ...]) -> None:
        for statement in statements:
            self.executed += 1
            if self.executed > MAX_STATEMENTS:
                raise ExpressionProblem(
                    f"more than {MAX_STATEMENTS} statements executed", statement.pos
                )
            if isinstance(statement, Assign):
                self._assign(statement)
            elif isinstance(statement, Unset):
                for name in statement.names:
                    self.variables.pop(name, None)
                    self.touched.add(name)
            else:
                self._if(statement)

    def _assign(self, statement: Assign) -> None:
        value = convert(statement.prefix, self.evaluator.value(statement.value))
        if isinstance(value, (list, dict)):
            value = copy.deepcopy(value)  # the result must not share rows with the input
        elif isinstance(value, str):
            if len(value) > MAX_STRING:
                raise ExpressionProblem(
                    f"a value longer than {MAX_STRING} characters", statement.pos
                )
            self.written += len(value)
            if self.written > MAX_OUTPUT:
                raise ExpressionProblem(
                    f"the script writes more than {MAX_OUTPUT} characters", statement.pos
                )
        self.variables[statement.name] = value
        self.touched.add(statement.name)

    def _if(self, statement: If) -> None:
        for condition, body in statement.branches:
            if self.evaluator.truth(condition):
                self.run(body)
                return
        self.run(statement.otherwise)


def _located(text: str, problem: ExpressionProblem) -> TriggerError:
    if problem.offset is None:
        return TriggerError(problem.message)
    line = text.count("\n", 0, problem.offset) + 1
    column = problem.offset - (text.rfind("\n", 0, problem.offset) + 1) + 1
    return TriggerError(problem.message, line=line, column=column)
