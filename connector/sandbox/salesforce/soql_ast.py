"""The SOQL syntax tree, tokens and error shape (soql.py parses into these)."""


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
AGGREGATES = {"COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX"}
# Valid SOQL the sandbox does not emulate: answered 501 NOT_IMPLEMENTED, never as the
# caller's syntax error [SOQL and SOSL Reference: TYPEOF, WITH, FOR, USING SCOPE, GROUP BY
# ROLLUP/CUBE, date functions, FORMAT(), toLabel(), convertCurrency(), INCLUDES/EXCLUDES].
UNEMULATED = {"TYPEOF", "WITH", "FOR", "USING", "ROLLUP", "CUBE", "INCLUDES", "EXCLUDES",
              "CALENDAR_MONTH", "CALENDAR_QUARTER", "CALENDAR_YEAR", "DAY_IN_MONTH", "DAY_IN_WEEK",
              "DAY_IN_YEAR", "DAY_ONLY", "FISCAL_MONTH", "FISCAL_QUARTER", "FISCAL_YEAR",
              "HOUR_IN_DAY", "WEEK_IN_MONTH", "WEEK_IN_YEAR", "FORMAT", "TOLABEL",
              "CONVERTCURRENCY", "CONVERTTIMEZONE", "GROUPING", "DISTANCE", "GEOLOCATION"}


class SoqlError(Exception):
    """errorCode MALFORMED_QUERY, INVALID_FIELD or INVALID_TYPE with Salesforce's message."""

    def __init__(self, code: str, query: str, pos: int, detail: str, status: int = 400) -> None:
        self.status = status  # 501 for valid SOQL this sandbox does not emulate
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
class Aggregate:
    """COUNT(Id), SUM(Amount), ...; `path` None for COUNT()."""

    func: str
    path: str | None
    pos: int
    alias: str | None = None

    @property
    def text(self) -> str:
        return f"{self.func}({self.path or ''})"


@dataclass
class FieldRef:
    path: str  # Email, Account.Name, Opportunity.Account.Name
    pos: int
    alias: str | None = None


@dataclass
class FieldsMacro:
    kind: str  # STANDARD, CUSTOM, ALL
    pos: int


@dataclass
class SubQuery:
    """A child relationship query in the select list: (SELECT ... FROM Opportunities)."""

    query: Query
    pos: int


SelectItem = FieldRef | Aggregate | FieldsMacro | SubQuery


@dataclass
class Cmp:
    field: str
    pos: int
    op: str  # = != < <= > >= IN NOT IN LIKE
    values: list[Literal]
    agg: Aggregate | None = None  # HAVING COUNT(Id) > 1
    semi_join: Query | None = None  # Id IN (SELECT ContactId FROM Opportunity)


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
    agg: Aggregate | None = None  # ORDER BY COUNT(Id) DESC


@dataclass
class Query:
    text: str
    items: list[SelectItem] = field(default_factory=list)
    count: bool = False  # SELECT COUNT() FROM ...
    sobject: str = ""
    sobject_pos: int = 0
    where: object | None = None
    group_by: list[FieldRef] = field(default_factory=list)
    having: object | None = None
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


