"""A SOQL parser for the subset segsync and its users write.

SELECT items FROM Object [WHERE cond] [GROUP BY paths [HAVING cond]]
[ORDER BY key [ASC|DESC] [NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n].

Select items: field paths through parent relationships (`Account.Name`,
`Opportunity.Account.Name`), child subqueries (`(SELECT Id FROM Opportunities)`), `COUNT()`,
aggregate functions with optional aliases (`COUNT(Id) n`, SUM, AVG, MIN, MAX,
COUNT_DISTINCT) and `FIELDS(STANDARD|CUSTOM|ALL)`. Conditions have = != <> < <= > >=,
IN / NOT IN (a list or a semi-join subquery), LIKE, NOT, AND/OR with parentheses. SOQL has no
precedence between AND and OR: mixing them at one level without parentheses is
MALFORMED_QUERY ("unexpected token: OR"), as in a real org. Literals: 'strings' with
backslash escapes, numbers, null, true/false, unquoted dates (2026-01-31), datetimes
(2026-01-31T00:00:00Z) and every relative date literal (date_literals.py).

Errors carry the real message layout: the query, a caret, "ERROR at Row:r:Column:c".
"""

from __future__ import annotations

from connector.sandbox.salesforce.date_literals import RELATIVE_DATES, takes_n
from connector.sandbox.salesforce.soql_ast import (
    AGGREGATES,
    KEYWORDS,
    UNEMULATED,
    Aggregate,
    BoolOp,
    Cmp,
    FieldRef,
    FieldsMacro,
    Literal,
    Not,
    OrderKey,
    Query,
    SelectItem,
    SoqlError,
    SubQuery,
    Tok,
    tokenize,
    unescape,
)

__all__ = ["Aggregate", "BoolOp", "Cmp", "FieldRef", "FieldsMacro", "Literal", "Not", "OrderKey",
           "Query", "SelectItem", "SoqlError", "SubQuery", "parse"]


class Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.i = 0

    def peek(self, ahead: int = 0) -> Tok:
        return self.toks[min(self.i + ahead, len(self.toks) - 1)]

    def next(self) -> Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def fail(self, tok: Tok) -> SoqlError:
        for seen in (tok, *self.toks[max(0, self.i - 2):self.i]):
            if seen.upper in UNEMULATED:
                return SoqlError("NOT_IMPLEMENTED", self.text, seen.pos, f"{seen.text} is valid SOQL "
                                 "that the segsync sandbox does not emulate", status=501)
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

    def parse(self, *, nested: bool = False) -> Query:
        q = Query(self.text)
        self.expect("SELECT")
        self._select_list(q, nested)
        self.expect("FROM")
        tok = self._name()
        q.sobject, q.sobject_pos = tok.text, tok.pos
        if self.accept("WHERE"):
            q.where = self._or()
        if self.accept("GROUP"):
            self.expect("BY")
            q.group_by = self._paths()
            if self.accept("HAVING"):
                q.having = self._or()
        if self.accept("ORDER"):
            self.expect("BY")
            q.order = self._order()
        if self.accept("LIMIT"):
            q.limit = self._int()
        if self.accept("OFFSET"):
            q.offset_pos = self.peek().pos
            q.offset = self._int()
        if not nested and self.peek().kind != "eof":
            raise self.fail(self.peek())
        return q

    def _name(self) -> Tok:
        tok = self.next()
        if tok.kind != "ident" or tok.upper in KEYWORDS:
            raise self.fail(tok)
        return tok

    def _select_list(self, q: Query, nested: bool) -> None:
        if self.peek().upper == "COUNT" and self.peek(1).text == "(" and self.peek(2).text == ")":
            self.i += 3
            q.count = True
            return
        while True:
            q.items.append(self._select_item(nested))
            if not (self.peek().text == "," and self.next()):
                return

    def _select_item(self, nested: bool) -> SelectItem:
        tok = self.peek()
        if tok.text == "(" and not nested:
            return SubQuery(self._nested(), tok.pos)
        if tok.upper == "FIELDS" and self.peek(1).text == "(":
            self.i += 2
            kind = self.next()
            if kind.upper not in ("STANDARD", "CUSTOM", "ALL") or self.next().text != ")":
                raise self.fail(kind if kind.upper not in ("STANDARD", "CUSTOM", "ALL")
                                else self.toks[self.i - 1])
            return FieldsMacro(kind.upper, tok.pos)
        item: FieldRef | Aggregate
        item = self._aggregate() if self._at_aggregate() else FieldRef(self._name().text, tok.pos)
        alias, after = self.peek(), self.peek(1)
        # An alias is one word followed by "," or FROM; else the word is the caller's typo.
        if alias.kind == "ident" and alias.upper not in KEYWORDS and \
                (after.text == "," or after.upper == "FROM"):
            self.next()
            item.alias = alias.text
        return item

    def _at_aggregate(self) -> bool:
        return self.peek().upper in AGGREGATES and self.peek(1).text == "("

    def _aggregate(self) -> Aggregate:
        tok = self.next()
        self.next()  # (
        path = None
        if self.peek().text != ")":
            path = self._name().text
        elif tok.upper != "COUNT":
            raise self.fail(self.peek())
        if self.next().text != ")":
            raise self.fail(self.toks[self.i - 1])
        return Aggregate(tok.upper, path, tok.pos)

    def _paths(self) -> list[FieldRef]:
        paths = []
        while True:
            tok = self._name()
            paths.append(FieldRef(tok.text, tok.pos))
            if not (self.peek().text == "," and self.next()):
                return paths

    def _int(self) -> int:
        tok = self.next()
        if tok.kind != "number" or not tok.text.isdigit():
            raise self.fail(tok)
        return int(tok.text)

    def _order(self) -> list[OrderKey]:
        keys = []
        while True:
            if self._at_aggregate():
                agg = self._aggregate()
                key = OrderKey(agg.text, agg.pos, agg=agg)
            else:
                tok = self._name()
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
        agg = self._aggregate() if self._at_aggregate() else None
        tok = self.toks[self.i - 1] if agg else self._name()
        name, pos = (agg.text, agg.pos) if agg else (tok.text, tok.pos)
        op_tok = self.next()
        if op_tok.kind == "op":
            op = "!=" if op_tok.text == "<>" else op_tok.text
            return Cmp(name, pos, op, [self._literal()], agg)
        op = op_tok.upper
        if op == "NOT":
            self.expect("IN")
            op = "NOT IN"
        if op in ("IN", "NOT IN"):
            if self.peek().text == "(" and self.peek(1).upper == "SELECT":
                return Cmp(name, pos, op, [], agg, semi_join=self._nested())
            return Cmp(name, pos, op, self._list(), agg)
        if op == "LIKE":
            return Cmp(name, pos, "LIKE", [self._literal()], agg)
        raise self.fail(op_tok)

    def _nested(self) -> Query:
        """A parenthesised inner SELECT (child subquery or semi-join), parentheses included."""
        self.next()  # (
        query = self.parse(nested=True)
        if self.next().text != ")":
            raise self.fail(self.toks[self.i - 1])
        return query

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
            if takes_n(tok.upper):
                if self.next().text != ":":
                    raise self.fail(self.toks[self.i - 1])
                lit.n = self._int()
            return lit
        raise self.fail(tok)


def parse(text: str) -> Query:
    """Parse a SOQL statement; SoqlError (MALFORMED_QUERY) on bad syntax."""
    return Parser(text).parse()
