"""Run a parsed SOQL query against the store: bind names, check literal types, filter, sort.

Salesforce semantics kept here: text comparisons and LIKE are case-insensitive; `!=` and
NOT IN match nulls; date/datetime fields take unquoted literals of their own type and
refuse others with INVALID_FIELD ("value of filter criterion for field 'CreatedDate' must be
of type dateTime and should not be enclosed in quotes"); ORDER BY defaults to NULLS FIRST
ascending and NULLS LAST descending.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from connector.sandbox.salesforce.schema import TEXT_TYPES, Field, ObjectSchema
from connector.sandbox.salesforce.soql import BoolOp, Cmp, Literal, Not, Query, SoqlError, parse
from connector.sandbox.salesforce.store import RecordStore, _id18
from connector.sandbox.salesforce.values import parse_datetime

Pred = Callable[[dict], bool]
MAX_OFFSET = 2000
_NO_COLUMN = ("No such column '{f}' on entity '{o}'. If you are attempting to use a custom "
              "field, be sure to append the '__c' after the custom field name. Please reference "
              "your WSDL or the describe call for the appropriate names.")
_NO_TYPE = ("sObject type '{o}' is not supported. If you are attempting to use a custom object, "
            "be sure to append the '__c' after the entity name. Please reference your WSDL or "
            "the describe call for the appropriate names.")
_KIND_FOR = {"date": "date", "datetime": "dateTime", "boolean": "boolean", "double": "double",
             "currency": "double", "percent": "double", "int": "double"}


@dataclass
class Selection:
    obj: ObjectSchema
    fields: list[Field]
    count: bool
    records: list[dict]  # live store records, in result order (not copies)
    total: int


def select(text: str, store: RecordStore, *, include_deleted: bool = False) -> Selection:
    """Parse and run `text`; SoqlError with Salesforce's code and message on failure."""
    q = parse(text)
    obj = store.schema.get(q.sobject)
    if obj is None:
        raise SoqlError("INVALID_TYPE", text, q.sobject_pos, _NO_TYPE.format(o=q.sobject))
    fields = [_field(q, obj, name, pos) for name, pos in q.fields]
    seen: set[str] = set()
    for (_name, pos), f in zip(q.fields, fields, strict=True):
        if f.name in seen:
            raise SoqlError("MALFORMED_QUERY", text, pos, f"duplicate field selected: {f.name}")
        seen.add(f.name)
    if q.offset > MAX_OFFSET:
        raise SoqlError("NUMBER_OUTSIDE_VALID_RANGE", text, q.offset_pos,
                        f"Maximum SOQL offset allowed is {MAX_OFFSET}")
    today = store.clock.now().date()
    pred = _compile(q, obj, q.where, today) if q.where is not None else None
    with store.lock:
        rows = store.records(obj.name, include_deleted=include_deleted)
        matched = [r for r in rows if pred(r)] if pred else list(rows)
    _sort(q, obj, matched)
    if q.offset:
        matched = matched[q.offset:]
    if q.limit is not None:
        matched = matched[: q.limit]
    return Selection(obj, fields, q.count, [] if q.count else matched, len(matched))


def project(rows: list[dict], sel: Selection, version: str) -> list[dict]:
    """Records as the REST API returns them: attributes first, then the selected fields."""
    sobject = sel.obj.name
    base = f"/services/data/v{version}/sobjects/{sobject}/"
    names = [f.name for f in sel.fields]
    out = []
    for r in rows:
        rec: dict[str, object] = {"attributes": {"type": sobject, "url": base + r["Id"]}}
        for n in names:
            rec[n] = r.get(n)
        out.append(rec)
    return out


def _field(q: Query, obj: ObjectSchema, name: str, pos: int) -> Field:
    if "." in name:
        rel = name.split(".", 1)[0]
        raise SoqlError("INVALID_FIELD", q.text, pos,
                        f"Didn't understand relationship '{rel}' in field path. If you are "
                        "attempting to use a custom relationship, be sure to append the '__r' "
                        "after the custom relationship name. Please reference your WSDL or the "
                        "describe call for the appropriate names.")
    f = obj.field(name)
    if f is None:
        raise SoqlError("INVALID_FIELD", q.text, pos, _NO_COLUMN.format(f=name, o=obj.name))
    return f


def _sort(q: Query, obj: ObjectSchema, rows: list[dict]) -> None:
    for key in reversed(q.order):
        f = _field(q, obj, key.field, key.pos)
        if f.type == "textarea":
            raise SoqlError("INVALID_FIELD", q.text, key.pos,
                            f"field '{f.name}' can not be sorted in a query call")
        name, text = f.name, f.type in TEXT_TYPES and f.type not in ("id", "reference")
        null_key = (2,) if key.nulls_last != key.desc else (0,)

        def sort_key(r: dict, name: str = name, text: bool = text, null_key: tuple = null_key):
            v = r.get(name)
            if v is None:
                return null_key
            return (1, v.casefold() if text else v)

        rows.sort(key=sort_key, reverse=key.desc)


def _compile(q: Query, obj: ObjectSchema, node: object, today: date) -> Pred:
    if isinstance(node, BoolOp):
        parts = [_compile(q, obj, p, today) for p in node.parts]
        if node.op == "AND":
            return lambda r: all(p(r) for p in parts)
        return lambda r: any(p(r) for p in parts)
    if isinstance(node, Not):
        inner = _compile(q, obj, node.part, today)
        return lambda r: not inner(r)
    assert isinstance(node, Cmp)
    f = _field(q, obj, node.field, node.pos)
    if node.op == "LIKE":
        return _like(q, f, node.values[0])
    if node.values and node.values[0].kind == "relative" and node.op not in ("IN", "NOT IN"):
        _check(q, f, node.values[0])
        return _in_range(f, node.op, _range(f, node.values[0], today))
    values = [_value(q, f, lit) for lit in node.values]
    return _comparison(f, node.op, values)


def _check(q: Query, f: Field, lit: Literal) -> None:
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
    _check(q, f, lit)
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


def _comparison(f: Field, op: str, values: list) -> Pred:
    name = f.name
    fold = f.type in TEXT_TYPES and f.type not in ("id", "reference")

    def get(r: dict) -> object:
        v = r.get(name)
        return v.casefold() if fold and v is not None else v

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
    word, n = str(lit.value), lit.n
    start, end = {
        "TODAY": (0, 1), "YESTERDAY": (-1, 0), "TOMORROW": (1, 2),
        "LAST_N_DAYS": (-n, 1), "NEXT_N_DAYS": (1, n + 1), "N_DAYS_AGO": (-n, -n + 1),
    }[word]
    lo, hi = today + timedelta(days=start), today + timedelta(days=end)
    if f.type == "date":
        return lo.isoformat(), hi.isoformat()
    return f"{lo.isoformat()}T00:00:00.000+0000", f"{hi.isoformat()}T00:00:00.000+0000"


def _in_range(f: Field, op: str, bounds: tuple[str, str]) -> Pred:
    lo, hi = bounds
    name = f.name
    inside = {
        "=": lambda v: lo <= v < hi, "!=": lambda v: not lo <= v < hi,
        "<": lambda v: v < lo, "<=": lambda v: v < hi, ">": lambda v: v >= hi, ">=": lambda v: v >= lo,
    }[op]
    if op == "!=":
        return lambda r: (v := r.get(name)) is None or inside(v)
    return lambda r: (v := r.get(name)) is not None and inside(v)


def _like(q: Query, f: Field, lit: Literal) -> Pred:
    _check(q, f, lit)
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
    name = f.name
    return lambda r: (v := r.get(name)) is not None and rx.fullmatch(str(v)) is not None
