"""A SOQL parser for the subset segsync and its users write.

SELECT f1, f2 | COUNT() FROM Object [WHERE cond] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...]
[LIMIT n] [OFFSET n]; cond has = != <> < <= > >= IN / NOT IN / LIKE, NOT, AND/OR with
parentheses. SOQL has no precedence between AND and OR: mixing them at one level without
parentheses is MALFORMED_QUERY ("unexpected token: OR"), as in a real org. Literals:
'strings' with backslash escapes, numbers, null, true/false, unquoted dates (2026-01-31),
datetimes (2026-01-31T00:00:00Z) and relative date literals (TODAY, LAST_N_DAYS:30).

Errors carry the real message layout: the query, a caret, "ERROR at Row:r:Column:c".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\d:T]))
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),:])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<bad>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\",
            "_": "\\_", "%": "\\%"}
KEYWORDS = {"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC",
            "DESC", "NULLS", "FIRST", "LAST", "LIMIT", "OFFSET", "NULL", "TRUE", "FALSE",
            "INCLUDES", "EXCLUDES", "GROUP", "HAVING"}
RELATIVE_DATES = {"TODAY", "YESTERDAY", "TOMORROW", "LAST_N_DAYS", "NEXT_N_DAYS", "N_DAYS_AGO"}


class SoqlError(Exception):
    """errorCode MALFORMED_QUERY, INVALID_FIELD or INVALID_TYPE with Salesforce's message."""

    def __init__(self, code: str, query: str, pos: int, detail: str) -> None:
        row = query.count("\n", 0, pos) + 1
        line_start = query.rfind("\n", 0, pos) + 1
        col = pos - line_start + 1
        line = query.splitlines()[row - 1] if query else ""
        self.code = code
        self.message = f"\n{line}\n{' ' * (col - 1)}^\nERROR at Row:{row}:Column:{col}\n{detail}"
        super().__init__(self.message)


@dataclass(frozen=True)
class Tok:
    kind: str
    text: str
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper()


@dataclass
class Literal:
    kind: str  # string number date datetime null boolean relative
    value: object
    pos: int
    n: int = 0  # for LAST_N_DAYS:n


@dataclass
class Cmp:
    field: str
    pos: int
    op: str  # = != < <= > >= IN NOT IN LIKE
    values: list[Literal]


@dataclass
class BoolOp:
    op: str  # AND / OR
    parts: list


@dataclass
class Not:
    part: object


@dataclass
class OrderKey:
    field: str
    pos: int
    desc: bool = False
    nulls_last: bool = False


@dataclass
class Query:
    text: str
    fields: list[tuple[str, int]] = field(default_factory=list)  # (name, position)
    count: bool = False
    sobject: str = ""
    sobject_pos: int = 0
    where: object | None = None
    order: list[OrderKey] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0
    offset_pos: int = 0


def tokenize(text: str) -> list[Tok]:
    toks = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or "bad"
        if kind == "ws":
            continue
        if kind == "bad":
            raise SoqlError("MALFORMED_QUERY", text, m.start(), f"unexpected token: {m.group()}")
        toks.append(Tok(kind, m.group(), m.start()))
    toks.append(Tok("eof", "", len(text)))
    return toks


def unescape(raw: str, text: str, pos: int) -> str:
    out, i, body = [], 0, raw[1:-1]
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1] if i + 1 < len(body) else ""
            if nxt not in _ESCAPES:
                raise SoqlError("MALFORMED_QUERY", text, pos + i + 1,
                                "Invalid string literal: Illegal character sequence '\\" + nxt + "'")
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


class Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.i = 0

    def peek(self) -> Tok:
        return self.toks[self.i]

    def next(self) -> Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def fail(self, tok: Tok) -> SoqlError:
        what = tok.text or "<EOF>"
        return SoqlError("MALFORMED_QUERY", self.text, tok.pos, f"unexpected token: {what}")

    def expect(self, word: str) -> Tok:
        tok = self.next()
        if tok.upper != word:
            raise self.fail(tok)
        return tok

    def accept(self, word: str) -> bool:
        if self.peek().upper == word:
            self.i += 1
            return True
        return False

    def parse(self) -> Query:
        q = Query(self.text)
        self.expect("SELECT")
        self._select_list(q)
        self.expect("FROM")
        tok = self.next()
        if tok.kind != "ident" or tok.upper in KEYWORDS:
            raise self.fail(tok)
        q.sobject, q.sobject_pos = tok.text, tok.pos
        if self.accept("WHERE"):
            q.where = self._or()
        if self.accept("ORDER"):
            self.expect("BY")
            q.order = self._order()
        if self.accept("LIMIT"):
            q.limit = self._int()
        if self.accept("OFFSET"):
            q.offset_pos = self.peek().pos
            q.offset = self._int()
        if self.peek().kind != "eof":
            raise self.fail(self.peek())
        return q

    def _select_list(self, q: Query) -> None:
        tok = self.peek()
        if tok.upper == "COUNT" and self.toks[self.i + 1].text == "(":
            self.i += 2
            self.expect(")")
            q.count = True
            return
        while True:
            tok = self.next()
            if tok.kind != "ident" or tok.upper in KEYWORDS:
                raise self.fail(tok)
            q.fields.append((tok.text, tok.pos))
            if not (self.peek().text == "," and self.next()):
                return

    def _int(self) -> int:
        tok = self.next()
        if tok.kind != "number" or not tok.text.isdigit():
            raise self.fail(tok)
        return int(tok.text)

    def _order(self) -> list[OrderKey]:
        keys = []
        while True:
            tok = self.next()
            if tok.kind != "ident" or tok.upper in KEYWORDS:
                raise self.fail(tok)
            key = OrderKey(tok.text, tok.pos)
            if self.accept("DESC"):
                key.desc = key.nulls_last = True
            else:
                self.accept("ASC")
            if self.accept("NULLS"):
                nxt = self.next()
                if nxt.upper not in ("FIRST", "LAST"):
                    raise self.fail(nxt)
                key.nulls_last = nxt.upper == "LAST"
            keys.append(key)
            if not (self.peek().text == "," and self.next()):
                return keys

    def _or(self) -> object:
        first = self._not()
        tok = self.peek()
        if tok.upper not in ("AND", "OR"):
            return first
        op, parts = tok.upper, [first]
        while self.peek().upper in ("AND", "OR"):
            tok = self.next()
            if tok.upper != op:  # SOQL needs parentheses to mix AND and OR
                raise self.fail(tok)
            parts.append(self._not())
        return BoolOp(op, parts)

    def _not(self) -> object:
        if self.accept("NOT"):
            return Not(self._not())
        if self.peek().text == "(":
            self.next()
            inner = self._or()
            if self.next().text != ")":
                raise self.fail(self.toks[self.i - 1])
            return inner
        return self._comparison()

    def _comparison(self) -> Cmp:
        tok = self.next()
        if tok.kind != "ident" or tok.upper in KEYWORDS:
            raise self.fail(tok)
        op_tok = self.next()
        if op_tok.kind == "op":
            op = "!=" if op_tok.text == "<>" else op_tok.text
            return Cmp(tok.text, tok.pos, op, [self._literal()])
        op = op_tok.upper
        if op == "NOT":
            self.expect("IN")
            op = "NOT IN"
        if op in ("IN", "NOT IN"):
            return Cmp(tok.text, tok.pos, op, self._list())
        if op == "LIKE":
            return Cmp(tok.text, tok.pos, "LIKE", [self._literal()])
        raise self.fail(op_tok)

    def _list(self) -> list[Literal]:
        tok = self.next()
        if tok.text != "(":
            raise self.fail(tok)
        values = [self._literal()]
        while self.peek().text == ",":
            self.next()
            values.append(self._literal())
        tok = self.next()
        if tok.text != ")":
            raise self.fail(tok)
        return values

    def _literal(self) -> Literal:
        tok = self.next()
        k = tok.kind
        if k == "string":
            return Literal("string", unescape(tok.text, self.text, tok.pos), tok.pos)
        if k == "number":
            return Literal("number", float(tok.text), tok.pos)
        if k in ("date", "datetime"):
            return Literal(k, tok.text, tok.pos)
        if k == "ident" and tok.upper in ("NULL", "TRUE", "FALSE"):
            kind = "null" if tok.upper == "NULL" else "boolean"
            return Literal(kind, None if kind == "null" else tok.upper == "TRUE", tok.pos)
        if k == "ident" and tok.upper in RELATIVE_DATES:
            lit = Literal("relative", tok.upper, tok.pos)
            if tok.upper.endswith("_DAYS") or tok.upper == "N_DAYS_AGO":
                if self.next().text != ":":
                    raise self.fail(self.toks[self.i - 1])
                lit.n = self._int()
            return lit
        raise self.fail(tok)


def parse(text: str) -> Query:
    """Parse a SOQL statement; SoqlError (MALFORMED_QUERY) on bad syntax."""
    return Parser(text).parse()
