"""Run a parsed SOQL query against the store: bind names, check literal types, filter, sort.

Salesforce semantics kept here: text comparisons and LIKE are case-insensitive; `!=` and
NOT IN match nulls; date/datetime fields take unquoted literals of their own type and
refuse others with INVALID_FIELD ("value of filter criterion for field 'CreatedDate' must be
of type dateTime and should not be enclosed in quotes"); ORDER BY defaults to NULLS FIRST
ascending and NULLS LAST descending. Paths through parent lookups (relationships.py) work in
the select list, WHERE and ORDER BY; child subqueries give each record a nested query
result, or null when it has no children; GROUP BY and aggregates live in aggregation.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from connector.sandbox.salesforce import aggregation
from connector.sandbox.salesforce.conditions import compile_condition, sort_rows
from connector.sandbox.salesforce.relationships import Column, child, resolve
from connector.sandbox.salesforce.schema import Field, ObjectSchema
from connector.sandbox.salesforce.soql import (
    Aggregate,
    FieldRef,
    FieldsMacro,
    Query,
    SoqlError,
    SubQuery,
    parse,
)
from connector.sandbox.salesforce.store import RecordStore

MAX_OFFSET = 2000
FIELDS_LIMIT = 200  # FIELDS(ALL) and FIELDS(CUSTOM) need LIMIT <= 200
_NO_TYPE = ("sObject type '{o}' is not supported. If you are attempting to use a custom object, "
            "be sure to append the '__c' after the entity name. Please reference your WSDL or "
            "the describe call for the appropriate names.")


@dataclass
class ChildQuery:
    """A subquery in the select list, run per parent record at projection time."""

    name: str  # the child relationship name, canonical spelling
    obj: ObjectSchema
    lookup: Field  # the child's lookup to the parent
    sel: Selection  # columns, filter and order of the subquery (records unused)


@dataclass
class Selection:
    obj: ObjectSchema
    columns: list[Column]
    count: bool
    records: list[dict]  # live store records in result order (not copies), or aggregate rows
    total: int
    items: list[Column | ChildQuery] = field(default_factory=list)  # select-list order
    aggregate: bool = False  # records are AggregateResult rows, already shaped
    store: RecordStore | None = None
    where: object = None  # compiled predicate, kept for subqueries
    query: Query | None = None

    @property
    def children(self) -> list[ChildQuery]:
        return [i for i in self.items if isinstance(i, ChildQuery)]

    @property
    def fields(self) -> list[Field]:
        return [c.field for c in self.columns]


def select(text: str, store: RecordStore, *, include_deleted: bool = False) -> Selection:
    """Parse and run `text`; SoqlError with Salesforce's code and message on failure."""
    return run(parse(text), store, include_deleted=include_deleted)


def run(q: Query, store: RecordStore, *, include_deleted: bool = False) -> Selection:
    """Run a parsed query (also the inner query of a semi-join)."""
    obj = store.schema.get(q.sobject)
    if obj is None:
        raise SoqlError("INVALID_TYPE", q.text, q.sobject_pos, _NO_TYPE.format(o=q.sobject))
    if q.offset > MAX_OFFSET:
        raise SoqlError("NUMBER_OUTSIDE_VALID_RANGE", q.text, q.offset_pos,
                        f"Maximum SOQL offset allowed is {MAX_OFFSET}")
    pred = compile_condition(q, store, obj, q.where) if q.where is not None else None
    with store.lock:
        rows = store.records(obj.name, include_deleted=include_deleted)
        matched = [r for r in rows if pred(r)] if pred else list(rows)
    if q.group_by or any(isinstance(i, Aggregate) for i in q.items):
        groups = aggregation.aggregate(q, store, obj, matched)
        page = _page(q, groups)
        return Selection(obj, [], q.count, [] if q.count else page, len(page), aggregate=True,
                         store=store, query=q)
    items = _items(q, store, obj)
    columns = [i for i in items if isinstance(i, Column)]
    sort_rows(q, store, obj, matched)
    matched = _page(q, matched)
    return Selection(obj, columns, q.count, [] if q.count else matched, len(matched), items,
                     store=store, where=pred, query=q)


def _page(q: Query, rows: list) -> list:
    if q.offset:
        rows = rows[q.offset:]
    return rows if q.limit is None else rows[: q.limit]


def _items(q: Query, store: RecordStore, obj: ObjectSchema) -> list[Column | ChildQuery]:
    items: list[Column | ChildQuery] = []
    seen: set[str] = set()
    for item in q.items:
        if isinstance(item, SubQuery):
            items.append(_child(q, store, obj, item))
            continue
        for col, pos in _expand(q, store, obj, item):
            key = col.path.lower()
            if key in seen:
                raise SoqlError("MALFORMED_QUERY", q.text, pos,
                                f"duplicate field selected: {col.path}")
            seen.add(key)
            items.append(col)
    return items


def _expand(q: Query, store: RecordStore, obj: ObjectSchema,
            item: FieldRef | FieldsMacro | Aggregate) -> list[tuple[Column, int]]:
    if isinstance(item, FieldsMacro):
        if item.kind != "STANDARD" and (q.limit is None or q.limit > FIELDS_LIMIT):
            raise SoqlError("MALFORMED_QUERY", q.text, item.pos,
                            f"The SOQL FIELDS function must have a LIMIT of at most {FIELDS_LIMIT}")
        wanted = [f for f in obj.visible_fields()
                  if item.kind == "ALL" or f.custom == (item.kind == "CUSTOM")]
        return [(Column((), f), item.pos) for f in wanted]
    assert isinstance(item, FieldRef)
    if item.alias:
        raise SoqlError("MALFORMED_QUERY", q.text, item.pos,
                        "Only aggregate expressions use field aliasing")
    return [(resolve(q, store.schema, obj, item.path, item.pos), item.pos)]


def _child(q: Query, store: RecordStore, parent: ObjectSchema, item: SubQuery) -> ChildQuery:
    sub = item.query
    obj, lookup = child(q, parent, sub.sobject, sub.sobject_pos)
    if sub.group_by or any(isinstance(i, (Aggregate, SubQuery)) for i in sub.items):
        raise SoqlError("MALFORMED_QUERY", q.text, item.pos,
                        "Nesting of semi join sub-selects or aggregates is not supported")
    items = _items(sub, store, obj)
    pred = compile_condition(sub, store, obj, sub.where) if sub.where is not None else None
    sel = Selection(obj, [i for i in items if isinstance(i, Column)], False, [], 0, items,
                    store=store, where=pred, query=sub)
    return ChildQuery(lookup.child_name or sub.sobject, obj, lookup, sel)


def child_records(cq: ChildQuery, parent_id: str) -> list[dict]:
    """The live child records of one parent, filtered, sorted and limited as the subquery says."""
    store, q = cq.sel.store, cq.sel.query
    assert store is not None and q is not None
    ids = store.lookup(cq.obj.name, (cq.lookup.name,), (parent_id,))
    live = store.live[cq.obj.name]
    rows = [live[i] for i in sorted(ids)]
    pred = cq.sel.where
    if pred is not None:
        rows = [r for r in rows if pred(r)]  # type: ignore[operator]
    sort_rows(q, store, cq.obj, rows)
    return rows if q.limit is None else rows[: q.limit]


def project(rows: list[dict], sel: Selection, version: str) -> list[dict]:
    """Records as the REST API returns them: attributes first, then the selected items in
    select-list order; parent paths nest ("Account": {"attributes": ..., "Name": ...})."""
    if sel.aggregate:
        return rows
    return [_shape(r, sel, version) for r in rows]


def _shape(r: dict, sel: Selection, version: str) -> dict:
    out: dict = {"attributes": _attributes(sel.obj.name, r["Id"], version)}
    for item in sel.items:
        if isinstance(item, ChildQuery):
            kids = child_records(item, r["Id"])
            out[item.name] = {"totalSize": len(kids), "done": True, "records": [
                _shape(k, item.sel, version) for k in kids]} if kids else None
        else:
            _put_path(out, r, item, sel.store, version)
    return out


def _put_path(out: dict, r: dict, col: Column, store: RecordStore | None, version: str) -> None:
    """Set `col` on `out`, nesting one {"attributes", ...} object per parent hop."""
    container: dict = out
    rec: dict | None = r
    for hop in col.hops:
        parent = store.live[hop.target.name].get(rec.get(hop.lookup.name) or "") \
            if store is not None and rec is not None else None
        if hop.name not in container:
            container[hop.name] = None if parent is None else {
                "attributes": _attributes(hop.target.name, parent["Id"], version)}
        nested = container[hop.name]
        if nested is None:
            return
        container, rec = nested, parent
    container[col.field.name] = rec.get(col.field.name) if rec is not None else None


def _attributes(sobject: str, rid: str, version: str) -> dict:
    return {"type": sobject, "url": f"/services/data/v{version}/sobjects/{sobject}/{rid}"}
