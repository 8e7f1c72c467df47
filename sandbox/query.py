"""The SOQL the sandbox understands:

    SELECT f1, f2 FROM S [WHERE f = 'v' | f IN ('a', 'b') [AND ...]] [ORDER BY f [ASC|DESC]] [LIMIT n]

Literals are 'quoted strings' (with \\' escapes), numbers, true, false and null.
Anything else is answered as Salesforce does for bad SOQL: 400 MALFORMED_QUERY.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sandbox.errors import ApiError
from sandbox.selects import Condition

TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^'\\]|\\.)*')|(?P<number>-?\d+(?:\.\d+)?)"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_.]*)|(?P<punct>[(),=*]))"
)
FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Query:
    fields: tuple[str, ...]
    sobject: str
    conditions: tuple[Condition, ...]
    order_by: tuple[str, bool] | None  # (field, descending)
    limit: int | None

    def named_fields(self) -> set[str]:
        names = set(self.fields) | {c.field for c in self.conditions}
        if self.order_by:
            names.add(self.order_by[0])
        return names


def parse_query(soql: str) -> Query:
    """Parse `soql` into a Query, or raise a 400 MALFORMED_QUERY naming the problem."""
    tokens = _tokenize(soql)
    parser = _Parser(tokens)
    parser.keyword("SELECT")
    fields = [parser.field()]
    while parser.accept(","):
        fields.append(parser.field())
    parser.keyword("FROM")
    sobject = parser.field()
    conditions: list[Condition] = []
    if parser.accept_keyword("WHERE"):
        conditions.append(parser.condition())
        while parser.accept_keyword("AND"):
            conditions.append(parser.condition())
    order_by = None
    if parser.accept_keyword("ORDER"):
        parser.keyword("BY")
        order_field = parser.field()
        descending = parser.accept_keyword("DESC")
        if not descending:
            parser.accept_keyword("ASC")
        order_by = (order_field, descending)
    limit = None
    if parser.accept_keyword("LIMIT"):
        limit = parser.integer()
    parser.end()
    return Query(tuple(fields), sobject, tuple(conditions), order_by, limit)


def malformed(message: str) -> ApiError:
    return ApiError(400, "MALFORMED_QUERY", message)


def _tokenize(soql: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = soql.rstrip()
    while position < len(text):
        match = TOKEN.match(text, position)
        if not match:
            raise malformed(f"unexpected token: '{text[position:].split()[0]}'")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.position = 0

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _next(self, expected: str) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise malformed(f"unexpected end of query, expected {expected}")
        self.position += 1
        return token

    def keyword(self, word: str) -> None:
        if not self.accept_keyword(word):
            token = self._peek()
            found = token[1] if token else "end of query"
            raise malformed(f"unexpected token: '{found}', expected {word}")

    def accept_keyword(self, word: str) -> bool:
        token = self._peek()
        if token and token[0] == "word" and token[1].upper() == word:
            self.position += 1
            return True
        return False

    def accept(self, punct: str) -> bool:
        token = self._peek()
        if token and token == ("punct", punct):
            self.position += 1
            return True
        return False

    def field(self) -> str:
        kind, value = self._next("a field name")
        if kind != "word" or not FIELD.match(value):
            raise malformed(f"unexpected token: '{value}' (the sandbox supports plain field names)")
        return value

    def integer(self) -> int:
        kind, value = self._next("a number")
        if kind != "number" or not value.isdigit():
            raise malformed(f"unexpected token: '{value}', expected a whole number")
        return int(value)

    def condition(self) -> Condition:
        name = self.field()
        if self.accept("="):
            return Condition(name, (self.literal(),))
        if not self.accept_keyword("IN"):
            token = self._peek()
            raise malformed(
                f"unexpected token: '{token[1] if token else 'end of query'}', expected = or IN"
            )
        if not self.accept("("):
            raise malformed("expected '(' after IN")
        values = [self.literal()]
        while self.accept(","):
            values.append(self.literal())
        if not self.accept(")"):
            raise malformed("expected ')' to close IN (...)")
        return Condition(name, tuple(values))

    def literal(self) -> Any:
        kind, value = self._next("a value")
        if kind == "string":
            return re.sub(r"\\(.)", r"\1", value[1:-1])
        if kind == "number":
            return float(value) if "." in value else int(value)
        if kind == "word" and value.lower() in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[value.lower()]
        raise malformed(f"unexpected token: '{value}', expected a value")

    def end(self) -> None:
        token = self._peek()
        if token is not None:
            raise malformed(f"unexpected token: '{token[1]}'")
