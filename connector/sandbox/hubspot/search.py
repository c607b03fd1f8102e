"""POST /crm/v3/objects/{type}/search: filterGroups (OR of ANDs), one sort, `after` offsets.

Limits (reference §B2): at most 5 groups, 10 filters per group and 25 filters in all; a
page is at most 200 results; no query can page past 10,000 results (400 beyond, the
reason connectors restart from the last `hs_object_id`). Search is eventually consistent in
reality; `search_lag_seconds` hides records written less than that long ago.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from connector.sandbox.hubspot.errors import ErrorFactory
from connector.sandbox.hubspot.objects import ObjectsApi
from connector.sandbox.hubspot.records import Record
from connector.sandbox.hubspot.routing import Reply, Request, Router
from connector.sandbox.hubspot.schema import LAST_MODIFIED, parse_instant
from connector.sandbox.hubspot.store import FIRST_ID, Store

MAX_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS = 5, 10, 25
MAX_LIMIT, RESULT_CAP = 200, 10_000
OPERATORS = {"EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY",
             "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"}
_QUERY_FIELDS = {"contacts": ("email", "firstname", "lastname", "phone", "company"), "deals": ("dealname",),
                 "companies": ("name", "domain"), "products": ("name", "hs_sku"), "line_items": ("name", "hs_sku"),
                 "tickets": ("subject", "content")}
Getter = Callable[[int, Record], Any]
Predicate = Callable[[int, Record], bool]


class SearchApi:
    def __init__(self, store: Store, errors: ErrorFactory, objects: ObjectsApi, *,
                 search_lag_seconds: float = 0.0) -> None:
        self.store = store
        self.errors = errors
        self.objects = objects
        self.lag_ms = int(search_lag_seconds * 1000)
        self._cache: OrderedDict[tuple, list[int]] = OrderedDict()

    def register(self, router: Router) -> None:
        router.add("POST", "/crm/v3/objects/{objectType}/search", "objects.search", self.search)

    def search(self, request: Request) -> Reply:
        object_type = self.objects.object_type(request)
        body = request.json(self.errors)
        if not isinstance(body, dict):
            raise self.errors.validation("search body must be an object")
        limit = _as_int(body.get("limit", 10), self.errors, "limit")
        after = _as_int(body.get("after", 0) or 0, self.errors, "after")
        if not 0 < limit <= MAX_LIMIT:
            raise self.errors.validation(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
        if after + limit > RESULT_CAP:
            raise self.errors.validation(
                f"The search API returns at most {RESULT_CAP} results per query; after={after} "
                f"with limit={limit} goes past it.")  # message text unverified; status and cap are real
        with self.store.lock:
            ids = self._matching(object_type, body)
            page = ids[after:after + limit]
            results = [self.store.render(object_type, i, self.store.row(object_type, i),  # type: ignore[arg-type]
                                         body.get("properties") or None) for i in page]
        reply: dict[str, Any] = {"total": len(ids), "results": results}
        if after + limit < len(ids):
            reply["paging"] = {"next": {"after": str(after + limit)}}
        return Reply(200, reply)

    def _matching(self, object_type: str, body: dict[str, Any]) -> list[int]:
        key = (object_type, self.store.version, self.store.now_ms() if self.lag_ms else 0,
               json.dumps([body.get("filterGroups"), body.get("sorts"), body.get("query")], sort_keys=True))
        if key in self._cache:
            return self._cache[key]
        groups = body.get("filterGroups") or []
        predicate = self._predicate(object_type, groups, body.get("query"))
        candidates = self._modified_since(object_type, groups)
        if candidates is None:
            ids = [i for i, rec in self.store.iter_rows(object_type) if predicate(i, rec)]
        else:
            rows = ((i, self.store.row(object_type, i)) for i in candidates)
            ids = [i for i, rec in rows if rec is not None and predicate(i, rec)]
        ids = self._sorted(object_type, ids, body.get("sorts") or [])
        self._cache[key] = ids
        while len(self._cache) > 8:
            self._cache.popitem(last=False)
        return ids

    def _modified_since(self, object_type: str, groups: list[Any]) -> list[int] | None:
        """When every group bounds the last-modified date from below (an incremental pull),
        the ids written since the lowest bound, from the store's touch log; else None (scan).
        The full predicate still runs on each candidate."""
        name = LAST_MODIFIED[object_type]
        bounds = []
        for group in groups:
            lows = [parse_instant(f.get("value")) for f in group.get("filters", [])
                    if f.get("propertyName") == name and f.get("operator") in ("GT", "GTE", "EQ", "BETWEEN")]
            known = [low for low in lows if low is not None]
            if not known:
                return None
            bounds.append(max(known))
        if not bounds:
            return None
        found = self.store.touched[object_type].since(min(bounds))
        return None if found is None else sorted(found)

    def _predicate(self, object_type: str, groups: Any, query: Any) -> Predicate:
        if not isinstance(groups, list) or len(groups) > MAX_GROUPS:
            raise self.errors.validation(f"filterGroups must be a list of at most {MAX_GROUPS} groups")
        compiled: list[list[Predicate]] = []
        for group in groups:
            filters = group.get("filters", []) if isinstance(group, dict) else None
            if not isinstance(filters, list) or len(filters) > MAX_FILTERS_PER_GROUP:
                raise self.errors.validation(f"a filter group has at most {MAX_FILTERS_PER_GROUP} filters")
            compiled.append([self._filter(object_type, f) for f in filters])
        if sum(len(g) for g in compiled) > MAX_FILTERS:
            raise self.errors.validation(f"a search has at most {MAX_FILTERS} filters in all")
        cutoff = self.store.now_ms() - self.lag_ms
        text = str(query).lower() if query else ""
        fields = _QUERY_FIELDS[object_type]

        def matches(record_id: int, rec: Record) -> bool:
            if self.lag_ms and rec.updated > cutoff:
                return False
            if text and not any(text in rec.props.get(f, "").lower() for f in fields):
                return False
            return not compiled or any(all(p(record_id, rec) for p in g) for g in compiled)

        return matches

    def _getter(self, object_type: str, name: str) -> Getter:
        prop = self.store.properties[object_type].get(name)
        if prop is None:
            raise self.errors.validation(f"There was a problem with the request: unknown property {name}")
        if name == "hs_object_id":
            return lambda i, rec: i
        if name == "createdate":
            return lambda i, rec: rec.created
        if name == LAST_MODIFIED[object_type]:
            return lambda i, rec: rec.updated
        store = self.store
        if prop["type"] == "number":
            return lambda i, rec: _float(store.value(object_type, i, rec, name))
        if prop["type"] in ("date", "datetime"):
            return lambda i, rec: _instant(store.value(object_type, i, rec, name))
        return lambda i, rec: _lower(store.value(object_type, i, rec, name))

    def _filter(self, object_type: str, spec: Any) -> Predicate:
        if not isinstance(spec, dict) or spec.get("operator") not in OPERATORS:
            raise self.errors.validation(f"invalid filter {spec!r}: operator must be one of {sorted(OPERATORS)}")
        op = spec["operator"]
        get = self._getter(object_type, str(spec.get("propertyName", "")))
        prop = self.store.properties[object_type][spec["propertyName"]]
        coerce = _coercer(prop["type"], spec["propertyName"])
        if op in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
            want = op == "HAS_PROPERTY"
            return lambda i, rec: (get(i, rec) not in (None, "")) == want
        if op in ("IN", "NOT_IN"):
            values = {coerce(v) for v in spec.get("values") or []}
            inside = op == "IN"
            return lambda i, rec: (get(i, rec) in values) == inside
        if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
            token = str(spec.get("value", "")).replace("*", "").lower()
            has = op == "CONTAINS_TOKEN"
            return lambda i, rec: (token in str(get(i, rec) or "")) == has
        value = coerce(spec.get("value"))
        if op == "BETWEEN":
            high = coerce(spec.get("highValue"))
            return lambda i, rec: _cmp(get(i, rec), value, "GTE") and _cmp(get(i, rec), high, "LTE")
        return lambda i, rec: _cmp(get(i, rec), value, op)

    def _sorted(self, object_type: str, ids: list[int], sorts: Any) -> list[int]:
        if not isinstance(sorts, list) or len(sorts) > 1:
            raise self.errors.validation("sorts takes at most one sort")
        if not sorts:
            return ids
        sort = sorts[0]
        if isinstance(sort, str):  # "-createdate" shorthand
            sort = {"propertyName": sort.lstrip("-"), "direction": "DESCENDING" if sort.startswith("-") else "ASCENDING"}
        get = self._getter(object_type, str(sort.get("propertyName", "")))
        descending = str(sort.get("direction", "ASCENDING")).upper() == "DESCENDING"
        rows, base = self.store.rows[object_type], FIRST_ID[object_type]
        keyed = [(get(i, rows[i - base]), i) for i in ids]  # type: ignore[arg-type]
        present = sorted((k for k in keyed if k[0] not in (None, "")), reverse=descending)
        absent = [k for k in keyed if k[0] in (None, "")]
        return [i for _, i in present] + [i for _, i in absent]


def _coercer(type_: str, name: str) -> Callable[[Any], Any]:
    if name == "hs_object_id":
        return lambda v: int(str(v))
    if type_ == "number":
        return _float
    if type_ in ("date", "datetime"):
        return _instant
    return _lower


def _cmp(left: Any, right: Any, op: str) -> bool:
    if op == "EQ":
        return left == right
    if op == "NEQ":
        return left != right
    if left is None or right is None:
        return False
    try:
        return {"LT": left < right, "LTE": left <= right, "GT": left > right, "GTE": left >= right}[op]
    except TypeError:
        return False


def _float(v: Any) -> float | None:
    try:
        return float(v) if v not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _instant(v: Any) -> int | None:
    return parse_instant(v) if v not in (None, "") else None


def _lower(v: Any) -> str | None:
    return None if v is None else str(v).lower()


def _as_int(value: Any, errors: ErrorFactory, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise errors.validation(f"{name} must be an integer, got {value!r}") from None
