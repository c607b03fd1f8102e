"""SOQL aggregate queries: COUNT(field), COUNT_DISTINCT, SUM, AVG, MIN, MAX, GROUP BY, HAVING.

Rows come back as AggregateResult records, `{"attributes": {"type": "AggregateResult"}, ...}`,
keyed by alias, else `expr0`, `expr1`, ... for unaliased aggregates (counted in select-list
order) and by the field name for grouped fields (`Account.Name` groups under `Name`)
[SOQL and SOSL Reference, Aggregate Functions; Alias Notation]. Without GROUP BY there is
one row, even over no records (COUNT 0, SUM null). A selected field that is neither grouped
nor aggregated is MALFORMED_QUERY, as is SUM or AVG of a non-numeric field (INVALID_FIELD).
"""

from __future__ import annotations

from dataclasses import dataclass

from connector.sandbox.salesforce.conditions import Getter, compile_with, sort_by
from connector.sandbox.salesforce.relationships import Column, resolve
from connector.sandbox.salesforce.schema import TEXT_TYPES, Field, ObjectSchema
from connector.sandbox.salesforce.soql_ast import Aggregate, Cmp, FieldRef, Query, SoqlError
from connector.sandbox.salesforce.store import RecordStore

NUMERIC = {"double", "currency", "percent", "int"}


@dataclass
class _Measure:
    agg: Aggregate
    column: Column | None  # None for COUNT()

    @property
    def key(self) -> str:
        return f"{self.agg.func}({(self.agg.path or '').lower()})"

    def result_field(self) -> Field:
        if self.agg.func in ("COUNT", "COUNT_DISTINCT"):
            return Field(self.key, "int")
        if self.agg.func in ("SUM", "AVG"):
            return Field(self.key, "double")
        assert self.column is not None
        return Field(self.key, self.column.field.type)


def aggregate(q: Query, store: RecordStore, obj: ObjectSchema, rows: list[dict]) -> list[dict]:
    """AggregateResult rows of `rows` (already filtered by WHERE), HAVING and ORDER BY applied."""
    groups = [resolve(q, store.schema, obj, g.path, g.pos) for g in q.group_by]
    group_keys = [c.path.lower() for c in groups]
    out_keys, measures = _outputs(q, store, obj, group_keys)
    for cmp in _comparisons(q.having):
        if cmp.agg is not None:
            _measure(q, store, obj, cmp.agg, measures)
    for key in q.order:
        if key.agg is not None:
            _measure(q, store, obj, key.agg, measures)
    envs = _environments(store, groups, group_keys, list(measures.values()), rows)
    if q.having is not None:
        having = compile_with(q, q.having, _binder(q, groups, group_keys, measures),
                              store.clock.now().date())
        envs = [e for e in envs if having(e)]
    _order(q, envs, groups, group_keys, measures)
    return [{"attributes": {"type": "AggregateResult"}, **{k: e[src] for k, src in out_keys}}
            for e in envs]


def _outputs(q: Query, store: RecordStore, obj: ObjectSchema,
             group_keys: list[str]) -> tuple[list[tuple[str, str]], dict[str, _Measure]]:
    """(output name, environment key) per select item, and the measures they need."""
    out: list[tuple[str, str]] = []
    measures: dict[str, _Measure] = {}
    n = 0
    for item in q.items:
        if isinstance(item, Aggregate):
            m = _measure(q, store, obj, item, measures)
            name = item.alias or f"expr{n}"
            n += 0 if item.alias else 1
            out.append((name, m.key))
        elif isinstance(item, FieldRef):
            col = resolve(q, store.schema, obj, item.path, item.pos)
            if col.path.lower() not in group_keys:
                raise SoqlError("MALFORMED_QUERY", q.text, item.pos,
                                f"Field must be grouped or aggregated: {col.field.name}")
            out.append((item.alias or col.field.name, col.path.lower()))
        else:
            pos = getattr(item, "pos", 0)
            raise SoqlError("MALFORMED_QUERY", q.text, pos,
                            "FIELDS() and subqueries are not allowed in an aggregate query")
    return out, measures


def _measure(q: Query, store: RecordStore, obj: ObjectSchema, agg: Aggregate,
             measures: dict[str, _Measure]) -> _Measure:
    col = resolve(q, store.schema, obj, agg.path, agg.pos) if agg.path else None
    if col is not None and agg.func in ("SUM", "AVG") and col.field.type not in NUMERIC:
        raise SoqlError("INVALID_FIELD", q.text, agg.pos,
                        f"field {col.field.name} does not support aggregate operator {agg.func}")
    m = _Measure(agg, col)
    return measures.setdefault(m.key, m)


def _environments(store: RecordStore, groups: list[Column], group_keys: list[str],
                  measures: list[_Measure], rows: list[dict]) -> list[dict]:
    readers = [c.reader(store) for c in groups]
    folds = [c.field.type in TEXT_TYPES and c.field.type not in ("id", "reference") for c in groups]
    buckets: dict[tuple, list[dict]] = {}
    firsts: dict[tuple, tuple] = {}
    for r in rows:
        values = tuple(read(r) for read in readers)
        key = tuple(v.casefold() if fold and isinstance(v, str) else v
                    for v, fold in zip(values, folds, strict=True))
        buckets.setdefault(key, []).append(r)
        firsts.setdefault(key, values)
    if not groups and not buckets:
        buckets[()] = []
        firsts[()] = ()
    m_readers = [(m, m.column.reader(store) if m.column else None) for m in measures]
    envs = []
    for key, members in buckets.items():
        env = dict(zip(group_keys, firsts[key], strict=True))
        for m, read in m_readers:
            env[m.key] = _compute(m.agg.func, [read(r) for r in members] if read else members)
        envs.append(env)
    return envs


def _compute(func: str, values: list) -> object:
    if func == "COUNT":
        return sum(1 for v in values if v is not None)
    present = [v for v in values if v is not None]
    if func == "COUNT_DISTINCT":
        return len({v.casefold() if isinstance(v, str) else v for v in present})
    if not present:
        return None
    if func == "SUM":
        return float(sum(present))
    if func == "AVG":
        return float(sum(present)) / len(present)
    return min(present) if func == "MIN" else max(present)


def _comparisons(node: object) -> list[Cmp]:
    if node is None:
        return []
    if isinstance(node, Cmp):
        return [node]
    parts = getattr(node, "parts", None) or [getattr(node, "part", None)]
    return [c for p in parts for c in _comparisons(p)]


def _binder(q: Query, groups: list[Column], group_keys: list[str],
            measures: dict[str, _Measure]):  # noqa: ANN202 - a Binder
    def bind(cmp: Cmp) -> tuple[Field, Getter]:
        if cmp.agg is not None:
            m = measures[_Measure(cmp.agg, None).key]
            return m.result_field(), _env_reader(m.key)
        return _grouped(q, cmp.field, cmp.pos, groups, group_keys)

    return bind


def _grouped(q: Query, path: str, pos: int, groups: list[Column],
             group_keys: list[str]) -> tuple[Field, Getter]:
    wanted = path.lower()
    for col, key in zip(groups, group_keys, strict=True):
        if key == wanted or key.endswith("." + wanted) or col.field.name.lower() == wanted:
            return col.field, _env_reader(key)
    raise SoqlError("MALFORMED_QUERY", q.text, pos,
                    f"Ordered field must be grouped or aggregated: {path}")


def _order(q: Query, envs: list[dict], groups: list[Column], group_keys: list[str],
           measures: dict[str, _Measure]) -> None:
    for key in reversed(q.order):
        get: Getter
        if key.agg is not None:
            m = measures[_Measure(key.agg, None).key]
            f, get = m.result_field(), _env_reader(m.key)
        else:
            f, get = _grouped(q, key.field, key.pos, groups, group_keys)
        sort_by(envs, get, f, key.desc, key.nulls_last)


def _env_reader(key: str) -> Getter:
    return lambda env: env.get(key)
