"""SOQL WHERE and HAVING conditions as predicates over records, and ORDER BY.

Salesforce semantics kept here: text comparisons and LIKE are case-insensitive; `!=` and
NOT IN match nulls; date/datetime fields take unquoted literals of their own type and refuse
others with INVALID_FIELD ("value of filter criterion for field 'CreatedDate' must be of
type dateTime and should not be enclosed in quotes"); a relative date literal is a range
(date_literals.py); ORDER BY defaults to NULLS FIRST ascending and NULLS LAST descending.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

from connector.sandbox.salesforce.date_literals import date_range
from connector.sandbox.salesforce.relationships import resolve
from connector.sandbox.salesforce.schema import TEXT_TYPES, Field, ObjectSchema
from connector.sandbox.salesforce.soql_ast import BoolOp, Cmp, Literal, Not, Query, SoqlError
from connector.sandbox.salesforce.store import RecordStore, _id18
from connector.sandbox.salesforce.values import parse_datetime

Pred = Callable[[dict], bool]
Getter = Callable[[dict], object]
Binder = Callable[[Cmp], tuple[Field, Getter]]
_KIND_FOR = {"date": "date", "datetime": "dateTime", "boolean": "boolean", "double": "double",
             "currency": "double", "percent": "double", "int": "double"}


def compile_condition(q: Query, store: RecordStore, obj: ObjectSchema, node: object) -> Pred:
    """The WHERE clause `node` as a predicate over live records of `obj`."""
    def bind(cmp: Cmp) -> tuple[Field, Getter]:
        if cmp.agg is not None:
            raise SoqlError("MALFORMED_QUERY", q.text, cmp.pos,
                            "Aggregate functions are not allowed in the WHERE clause")
        col = resolve(q, store.schema, obj, cmp.field, cmp.pos)
        return col.field, col.reader(store)

    return compile_with(q, node, bind, store.clock.now().date(), store)


def compile_with(q: Query, node: object, bind: Binder, today: date,
                 store: RecordStore | None = None) -> Pred:
    """`node` as a predicate; `bind` gives each comparison its field and value reader."""
    if isinstance(node, BoolOp):
        parts = [compile_with(q, p, bind, today, store) for p in node.parts]
        if node.op == "AND":
            return lambda r: all(p(r) for p in parts)
        return lambda r: any(p(r) for p in parts)
    if isinstance(node, Not):
        inner = compile_with(q, node.part, bind, today, store)
        return lambda r: not inner(r)
    assert isinstance(node, Cmp)
    f, get = bind(node)
    if node.semi_join is not None and store is not None:
        return _semi_join(q, node, f, get, store)
    if node.op == "LIKE":
        return _like(q, f, get, node.values[0])
    if node.values and node.values[0].kind == "relative" and node.op not in ("IN", "NOT IN"):
        check(q, f, node.values[0])
        return _in_range(get, node.op, _range(f, node.values[0], today))
    values = [_value(q, f, lit) for lit in node.values]
    return _comparison(f, get, node.op, values)


def _semi_join(q: Query, node: Cmp, f: Field, get: Getter, store: RecordStore) -> Pred:
    from connector.sandbox.salesforce.selection import run

    inner = run(node.semi_join, store)  # type: ignore[arg-type]
    if f.type not in ("id", "reference") or len(inner.columns) != 1 or inner.children or \
            inner.columns[0].field.type not in ("id", "reference"):
        raise SoqlError("INVALID_FIELD", q.text, node.pos, "The selected field in a semi join "
                        "subquery and the left operand must be Ids or lookups")
    read = inner.columns[0].reader(store)
    members = {read(r) for r in inner.records} - {None}
    if node.op == "IN":
        return lambda r: get(r) in members
    return lambda r: get(r) not in members


def check(q: Query, f: Field, lit: Literal) -> None:
    ok = {
        "date": ("date", "relative", "null"),
        "datetime": ("datetime", "relative", "null"),
        "boolean": ("boolean", "null"),
    }.get(f.type, ("string", "null") if f.type in TEXT_TYPES else ("number", "null"))
    if lit.kind not in ok:
        kind = _KIND_FOR.get(f.type, "string")
        quote = "should be enclosed in quotes" if f.type in TEXT_TYPES else \
            "should not be enclosed in quotes"
        raise SoqlError("INVALID_FIELD", q.text, lit.pos,
                        f"value of filter criterion for field '{f.name}' must be of type {kind} "
                        f"and {quote}")


def _value(q: Query, f: Field, lit: Literal) -> object:
    check(q, f, lit)
    v = lit.value
    if v is None:
        return None
    if f.type in ("id", "reference"):
        s = str(v)
        if len(s) not in (15, 18) or not s.isalnum():
            raise SoqlError("INVALID_QUERY_FILTER_OPERATOR", q.text, lit.pos, f"invalid ID field: {s}")
        return _id18(s)
    if f.type in TEXT_TYPES:
        return str(v).casefold()
    if f.type == "datetime":
        return parse_datetime(str(v))
    if f.type == "int" and isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _comparison(f: Field, raw: Getter, op: str, values: list) -> Pred:
    fold = f.type in TEXT_TYPES and f.type not in ("id", "reference")

    def get(r: dict) -> object:
        v = raw(r)
        return v.casefold() if fold and isinstance(v, str) else v

    if op in ("IN", "NOT IN"):
        members = set(values)
        if op == "IN":
            return lambda r: (v := get(r)) is not None and v in members
        return lambda r: get(r) not in members
    target = values[0]
    if op == "=":
        return lambda r: get(r) == target
    if op == "!=":
        return lambda r: get(r) != target
    if target is None:
        return lambda r: False
    cmp = {"<": lambda a: a < target, "<=": lambda a: a <= target,
           ">": lambda a: a > target, ">=": lambda a: a >= target}[op]
    return lambda r: (v := get(r)) is not None and cmp(v)


def _range(f: Field, lit: Literal, today: date) -> tuple[str, str]:
    lo, hi = date_range(str(lit.value), lit.n, today)
    if f.type == "date":
        return lo.isoformat(), hi.isoformat()
    return f"{lo.isoformat()}T00:00:00.000+0000", f"{hi.isoformat()}T00:00:00.000+0000"


def _in_range(get: Getter, op: str, bounds: tuple[str, str]) -> Pred:
    lo, hi = bounds
    inside = {
        "=": lambda v: lo <= v < hi, "!=": lambda v: not lo <= v < hi,
        "<": lambda v: v < lo, "<=": lambda v: v < hi, ">": lambda v: v >= hi, ">=": lambda v: v >= lo,
    }[op]
    if op == "!=":
        return lambda r: (v := get(r)) is None or inside(v)
    return lambda r: (v := get(r)) is not None and inside(v)


def _like(q: Query, f: Field, get: Getter, lit: Literal) -> Pred:
    check(q, f, lit)
    pattern, i, raw = [], 0, str(lit.value or "")
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw):
            pattern.append(re.escape(raw[i + 1]))
            i += 2
            continue
        pattern.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    rx = re.compile("".join(pattern), re.IGNORECASE | re.DOTALL)
    return lambda r: (v := get(r)) is not None and rx.fullmatch(str(v)) is not None


def sort_rows(q: Query, store: RecordStore, obj: ObjectSchema, rows: list[dict]) -> None:
    """Sort `rows` in place by q.order (paths allowed), stable, key by key from the last."""
    for key in reversed(q.order):
        col = resolve(q, store.schema, obj, key.field, key.pos)
        f = col.field
        if f.type == "textarea":
            raise SoqlError("INVALID_FIELD", q.text, key.pos,
                            f"field '{f.name}' can not be sorted in a query call")
        sort_by(rows, col.reader(store), f, key.desc, key.nulls_last)


def sort_by(rows: list, get: Getter, f: Field | None, desc: bool, nulls_last: bool) -> None:
    """Stable sort on one key: text case-insensitive, nulls first or last."""
    text = f is not None and f.type in TEXT_TYPES and f.type not in ("id", "reference")
    null_key = (2,) if nulls_last != desc else (0,)

    def sort_key(r: dict) -> tuple:
        v = get(r)
        if v is None:
            return null_key
        return (1, v.casefold() if text and isinstance(v, str) else v)

    rows.sort(key=sort_key, reverse=desc)
