"""The expression language shared by conditions and triggers: tokens, AST, parser.

A hand-written tokenizer and a precedence-climbing parser build an AST of
frozen dataclasses; nothing here ever evaluates user text as code. Problems
are raised as :class:`ExpressionProblem` with a character offset; the public
APIs (conditions, triggers) turn that into their own error with a location.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_DEPTH = 32  # nesting of parentheses, unary operators and if blocks
MAX_NODES = 500  # AST nodes in one expression
MAX_NAME_LENGTH = 64

# Variable prefixes: @@ string, @# float, @% integer, @= original type.
PREFIXES = {"@": "string", "#": "float", "%": "integer", "=": "original"}
UNSUPPORTED_PREFIXES = {"&": "object", "?": "URL-encoded", "$": "SQL-escaped"}

_OPERATORS = (
    # Longest first, so "===" wins over "==" and "<>" over "<".
    ("===", "!==", "<=>"),
    ("==", "!=", "<>", "<=", ">=", "&&", "||", "+=", "-=", "*=", "/=", ".=", "%="),
    ("<", ">", "!", "+", "-", "*", "/", "%", ".", "(", ")", "[", "]", "{", "}", ";", ",", "="),
)
_DOUBLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "v": "\v", "f": "\f", "e": "\x1b"}
_DOUBLE_ESCAPES.update({"\\": "\\", "$": "$", '"': '"'})
_DIGITS = "0123456789"
_HEX = "0123456789abcdefABCDEF"
_INT_MAX = 2**63 - 1  # PHP's integers are 64-bit; larger literals become floats


class ExpressionProblem(Exception):
    """Internal: a syntax or evaluation problem at ``offset`` (0-based) in the text."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "var", "num", "str", "name", "op" or "end"
    value: Any  # var: (prefix, name); num: int|float; str/name/op: the text
    pos: int
    newline_before: bool = False

    def describe(self) -> str:
        if self.kind == "end":
            return "the end of the text"
        if self.kind == "str":
            return "a string"
        if self.kind == "num":
            return f"the number {self.value}"
        if self.kind == "var":
            return f"the variable @{self.value[0]}{self.value[1]}"
        return f"'{self.value}'"

    def is_op(self, *ops: str) -> bool:
        return self.kind == "op" and self.value in ops

    def is_name(self, *names: str) -> bool:
        return self.kind == "name" and self.value.lower() in names


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens; comments (``//``, ``#``, ``/* */``) are skipped."""
    tokens: list[Token] = []
    i, n, newline = 0, len(text), False
    while i < n:
        c = text[i]
        if c in " \t\r\f\v":
            i += 1
        elif c == "\n":
            newline, i = True, i + 1
        elif c == "#" or text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise ExpressionProblem("unterminated comment (missing '*/')", i)
            newline = newline or "\n" in text[i:end]
            i = end + 2
        else:
            token, i = _token_at(text, i, newline)
            tokens.append(token)
            newline = False
    tokens.append(Token("end", None, n, newline))
    return tokens


def _token_at(text: str, i: int, newline: bool) -> tuple[Token, int]:
    c = text[i]
    if c == "@":
        return _variable(text, i, newline)
    if c in _DIGITS:
        return _number(text, i, newline)
    if c in "'\"":
        return _string(text, i, newline)
    if _is_name_start(c):
        end = _name_end(text, i)
        return Token("name", text[i:end], i, newline), end
    for group in _OPERATORS:
        op = text[i : i + len(group[0])]
        if op in group:
            if op == "<=>":
                raise ExpressionProblem("the '<=>' operator is not supported", i)
            return Token("op", op, i, newline), i + len(op)
    shown = c if c.isprintable() else repr(c)
    raise ExpressionProblem(f"unexpected character '{shown}'", i)


def _is_name_start(c: str) -> bool:
    return c == "_" or ("a" <= c <= "z") or ("A" <= c <= "Z")


def _name_end(text: str, i: int) -> int:
    while i < len(text) and (_is_name_start(text[i]) or text[i] in _DIGITS):
        i += 1
    return i


def _variable(text: str, i: int, newline: bool) -> tuple[Token, int]:
    prefix = text[i + 1 : i + 2]
    if prefix in UNSUPPORTED_PREFIXES:
        kind = UNSUPPORTED_PREFIXES[prefix]
        raise ExpressionProblem(
            f"the @{prefix} ({kind}) variable prefix is not supported; use @@, @#, @% or @=", i
        )
    if prefix not in PREFIXES:
        raise ExpressionProblem("a variable needs a prefix: @@name, @#name, @%name or @=name", i)
    start = i + 2
    if start >= len(text) or not _is_name_start(text[start]):
        raise ExpressionProblem(f"expected a variable name after '@{prefix}'", i)
    end = _name_end(text, start)
    if end - start > MAX_NAME_LENGTH:
        raise ExpressionProblem(f"variable names are at most {MAX_NAME_LENGTH} characters", i)
    return Token("var", (prefix, text[start:end]), i, newline), end


def _number(text: str, i: int, newline: bool) -> tuple[Token, int]:
    j = i
    while j < len(text) and text[j] in _DIGITS:
        j += 1
    is_float = False
    if j + 1 < len(text) and text[j] == "." and text[j + 1] in _DIGITS:
        is_float, j = True, j + 1
        while j < len(text) and text[j] in _DIGITS:
            j += 1
    if j < len(text) and text[j] in "eE":
        k = j + 1
        if k < len(text) and text[k] in "+-":
            k += 1
        if k < len(text) and text[k] in _DIGITS:
            is_float, j = True, k
            while j < len(text) and text[j] in _DIGITS:
                j += 1
    if j < len(text) and (_is_name_start(text[j])):
        raise ExpressionProblem(f"malformed number '{text[i : j + 1]}'", i)
    literal = text[i:j]
    value: int | float = float(literal) if is_float or len(literal) > 19 else int(literal)
    if isinstance(value, int) and value > _INT_MAX:
        value = float(value)
    return Token("num", value, i, newline), j


def _string(text: str, i: int, newline: bool) -> tuple[Token, int]:
    quote, j, out = text[i], i + 1, []
    while j < len(text):
        c = text[j]
        if c == quote:
            return Token("str", "".join(out), i, newline), j + 1
        if c == "\\" and j + 1 < len(text):
            piece, j = _escape(text, j, quote)
            out.append(piece)
        else:
            out.append(c)
            j += 1
    raise ExpressionProblem(f"unterminated string (missing the closing {quote})", i)


def _escape(text: str, j: int, quote: str) -> tuple[str, int]:
    """Decode the escape at ``text[j]`` (a backslash) the way PHP does."""
    nxt = text[j + 1]
    if quote == "'":  # single quotes: only \' and \\ are escapes
        return (nxt, j + 2) if nxt in "'\\" else ("\\", j + 1)
    if nxt in _DOUBLE_ESCAPES:
        return _DOUBLE_ESCAPES[nxt], j + 2
    if nxt == "x" and j + 2 < len(text) and text[j + 2] in _HEX:
        end = j + 4 if j + 3 < len(text) and text[j + 3] in _HEX else j + 3
        return chr(int(text[j + 2 : end], 16)), end
    if nxt == "u" and text.startswith("{", j + 2):
        close = text.find("}", j + 3)
        digits = text[j + 3 : close] if close > 0 else ""
        if not digits or len(digits) > 6 or any(d not in _HEX for d in digits):
            raise ExpressionProblem("malformed \\u{…} escape", j)
        code = int(digits, 16)
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            raise ExpressionProblem("\\u{…} escape is not a valid code point", j)
        return chr(code), close + 1
    return "\\", j + 1  # unknown escapes keep the backslash, as in PHP


# --- AST ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Literal:
    value: Any
    pos: int


@dataclass(frozen=True, slots=True)
class Var:
    prefix: str  # "@", "#", "%" or "=" (the character after the first @)
    name: str
    keys: tuple[Node, ...]  # grid access: @@grid[1][field]
    pos: int


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "!", "-", "+" or "not"
    operand: Node
    pos: int


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # normalised: "and", "or", "xor", "==", "!=", "<", "+", "." …
    left: Node
    right: Node
    pos: int


Node = Literal | Var | Unary | Binary

# Binding power, loosest first, as in PHP ("and"/"or" are looser than "&&"/"||",
# "." is looser than "+"/"-"). "not" (level 6) is ours: looser than comparisons,
# tighter than every logical operator, so "not @@a == 1" means "not (@@a == 1)".
_BINARY = {
    "or": 1, "xor": 2, "and": 3, "||": 4, "&&": 5,
    "==": 7, "!=": 7, "<>": 7, "===": 7, "!==": 7,
    "<": 8, "<=": 8, ">": 8, ">=": 8,
    ".": 9, "+": 10, "-": 10, "*": 11, "/": 11, "%": 11,
}  # fmt: skip
_NOT_LEVEL = 6
_NON_ASSOCIATIVE = {7, 8}
_ALIASES = {"||": "or", "&&": "and", "<>": "!="}
KEYWORDS = {"true", "false", "null", "and", "or", "xor", "not"}
KEYWORDS |= {"if", "then", "else", "elseif", "unset"}  # trigger statements


class ExpressionParser:
    """Recursive-descent parser over a token list; triggers extend it with statements."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.index = 0
        self.depth = 0
        self.nodes = 0

    # Token helpers.
    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.peek()
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def expect_op(self, op: str, what: str) -> Token:
        token = self.peek()
        if not token.is_op(op):
            raise ExpressionProblem(f"expected '{op}' {what}, found {token.describe()}", token.pos)
        return self.advance()

    def enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionProblem(f"nested too deeply (more than {MAX_DEPTH} levels)", pos)

    def leave(self) -> None:
        self.depth -= 1

    def _count(self, pos: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ExpressionProblem(f"expression too complex (more than {MAX_NODES} parts)", pos)

    # Grammar.
    def parse_expression(self) -> Node:
        self.nodes = 0
        return self._binary(0)

    def _binary(self, min_level: int) -> Node:
        left = self._prefix(min_level)
        while True:
            token = self.peek()
            level = self._level(token)
            if level is None or level < min_level:
                return left
            self.advance()
            right = self._binary(level + 1)
            self._count(token.pos)
            op = token.value.lower()
            left = Binary(_ALIASES.get(op, op), left, right, token.pos)
            after = self.peek()
            if level in _NON_ASSOCIATIVE and self._level(after) == level:
                raise ExpressionProblem(
                    f"comparisons cannot be chained; add parentheses before {after.describe()}",
                    after.pos,
                )

    @staticmethod
    def _level(token: Token) -> int | None:
        if token.kind == "op" or (token.kind == "name" and token.value.lower() in _BINARY):
            return _BINARY.get(token.value.lower())
        return None

    def _prefix(self, min_level: int) -> Node:
        token = self.peek()
        if token.is_name("not"):
            if min_level > _NOT_LEVEL:
                raise ExpressionProblem("put 'not …' in parentheses here", token.pos)
            return self._unary(token, "not", _NOT_LEVEL)
        if token.is_op("!", "-", "+"):
            return self._unary(token, token.value, len(_BINARY))
        return self._postfix(self._primary())

    def _unary(self, token: Token, op: str, level: int) -> Node:
        self.advance()
        self.enter(token.pos)
        operand = self._binary(level) if op == "not" else self._prefix(level)
        self.leave()
        self._count(token.pos)
        return Unary(op, operand, token.pos)

    def _primary(self) -> Node:
        token = self.advance()
        if token.kind in ("num", "str"):
            self._count(token.pos)
            return Literal(token.value, token.pos)
        if token.kind == "var":
            return Var(token.value[0], token.value[1], (), token.pos)
        if token.is_op("("):
            self.enter(token.pos)
            inner = self._binary(0)
            self.leave()
            self.expect_op(")", f"to close the '(' at position {token.pos + 1}")
            return inner
        if token.kind == "name":
            return self._name(token)
        if token.kind == "end":
            raise ExpressionProblem("the expression ends too early", token.pos)
        raise ExpressionProblem(f"unexpected {token.describe()}", token.pos)

    def _name(self, token: Token) -> Node:
        word = token.value.lower()
        constants = {"true": True, "false": False, "null": None}
        if word in constants:
            self._count(token.pos)
            return Literal(constants[word], token.pos)
        if word in KEYWORDS:
            raise ExpressionProblem(f"unexpected '{token.value}'", token.pos)
        if self.peek().is_op("("):
            message = f"function calls are not supported ('{token.value}')"
            raise ExpressionProblem(message, token.pos)
        raise ExpressionProblem(
            f"unknown name '{token.value}'; write variables as @@{token.value}, and text in quotes",
            token.pos,
        )

    def _postfix(self, node: Node) -> Node:
        """Grid access: ``@@grid[1][field]``; a bare name inside brackets is a string key."""
        if not isinstance(node, Var):
            return node
        keys: list[Node] = []
        while self.peek().is_op("["):
            bracket = self.advance()
            token = self.peek()
            if token.kind == "name" and self.peek(1).is_op("]") and not token.is_name(*KEYWORDS):
                self.advance()
                self._count(token.pos)
                keys.append(Literal(token.value, token.pos))
            else:
                self.enter(bracket.pos)
                keys.append(self._binary(0))
                self.leave()
            self.expect_op("]", f"to close the '[' at position {bracket.pos + 1}")
        self._count(node.pos)
        return Var(node.prefix, node.name, tuple(keys), node.pos)
