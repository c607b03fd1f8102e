"""REST resources: query/queryAll with cursors, sObject rows, describe, limits, Tooling.

Paging follows the REST API: `nextRecordsUrl` is /services/data/vXX.X/query/<locator>-<n>
where n is how many rows were already returned; batch size is 2,000 unless
`Sforce-Query-Options: batchSize=N` asks for 200..2,000. A cursor snapshots its rows at
query time and lives 2 days on the sandbox clock (then INVALID_QUERY_LOCATOR).
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING

from connector.sandbox.salesforce.dml import MultipleMatches
from connector.sandbox.salesforce.replication import replicate
from connector.sandbox.salesforce.selection import Selection, project, select
from connector.sandbox.salesforce.soql import SoqlError
from connector.sandbox.salesforce.store import DmlError
from connector.sandbox.salesforce.values import record_id
from connector.sandbox.salesforce.wire import ApiError, Request, Response, not_found, sf_error

if TYPE_CHECKING:
    from connector.sandbox.salesforce.sandbox import SalesforceSandbox

DEFAULT_BATCH, MIN_BATCH = 2000, 200
CURSOR_SECONDS = 2 * 24 * 3600
_BATCH = re.compile(r"batchSize\s*=\s*(\d+)", re.I)


class Cursors:
    def __init__(self) -> None:
        self._by_id: dict[str, tuple[Selection, float, int]] = {}
        self._n = 0
        self._lock = threading.Lock()

    def open(self, sel: Selection, now: float, batch: int) -> str:
        with self._lock:
            self._n += 1
            loc = record_id("01g", "5g", self._n)
            self._by_id[loc] = (sel, now, batch)
            # Forget cursors past their lifetime so long demos do not grow without bound.
            for key in [k for k, (_, t, _) in self._by_id.items() if now - t > CURSOR_SECONDS]:
                del self._by_id[key]
            return loc

    def get(self, loc: str, now: float) -> tuple[Selection, int]:
        with self._lock:
            item = self._by_id.get(loc)
        if item is None or now - item[1] > CURSOR_SECONDS:
            raise sf_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return item[0], item[2]


def batch_size(req: Request) -> int:
    m = _BATCH.search(req.headers.get("sforce-query-options", ""))
    return DEFAULT_BATCH if not m else min(DEFAULT_BATCH, max(MIN_BATCH, int(m.group(1))))


def query(sb: SalesforceSandbox, req: Request, version: str, include_deleted: bool) -> Response:
    text = req.query.get("q")
    if not text:
        raise sf_error(400, "MALFORMED_QUERY", "A query string has to be specified")
    try:
        sel = select(text, sb.store, include_deleted=include_deleted)
    except SoqlError as exc:
        raise sf_error(exc.status, exc.code, exc.message) from exc
    except DmlError as exc:
        raise sf_error(400, exc.code, exc.message) from exc
    batch = batch_size(req)
    loc = sb.cursors.open(sel, sb.clock.monotonic(), batch) if len(sel.records) > batch else ""
    return _page(sel, loc, 0, batch, version)


def query_more(sb: SalesforceSandbox, version: str, locator: str) -> Response:
    loc, _, start = locator.partition("-")
    if not start.isdigit():
        raise sf_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
    sel, batch = sb.cursors.get(loc, sb.clock.monotonic())
    return _page(sel, loc, int(start), batch, version)


def _page(sel: Selection, loc: str, start: int, batch: int, version: str) -> Response:
    rows = sel.records[start : start + batch]
    end = start + len(rows)
    body: dict = {"totalSize": sel.total, "done": end >= len(sel.records)}
    if not body["done"]:
        body["nextRecordsUrl"] = f"/services/data/v{version}/query/{loc}-{end}"
    body["records"] = project(rows, sel, version)
    return Response.json(200, body)


# ---- sObject rows ----------------------------------------------------------------------
def _record(sb: SalesforceSandbox, sobject: str, rid: str) -> dict:
    rec, deleted = sb.store.find(sobject, rid)
    if rec is None:
        raise not_found()
    if deleted:
        raise sf_error(404, "ENTITY_IS_DELETED", "entity is deleted", [])
    return rec


def full_record(sb: SalesforceSandbox, sobject: str, rec: dict, version: str, fields: str | None) -> dict:
    obj = sb.store.obj(sobject)
    names = [f.name for f in obj.visible_fields()]
    if fields:
        wanted = []
        for name in fields.split(","):
            f = obj.field(name.strip())
            if f is None:
                raise sf_error(400, "INVALID_FIELD",
                               f"No such column '{name.strip()}' on entity '{obj.name}'.")
            wanted.append(f.name)
        names = wanted
    out: dict[str, object] = {"attributes": {"type": obj.name,
                          "url": f"/services/data/v{version}/sobjects/{obj.name}/{rec['Id']}"}}
    out.update((n, rec.get(n)) for n in names)
    return out


def dml_failure(exc: DmlError) -> ApiError:
    return ApiError(400, [exc.as_rest()])


def sobject_root(sb: SalesforceSandbox, req: Request, version: str, sobject: str) -> Response:
    obj = sb.schema.get(sobject)
    if obj is None or not obj.visible_fields():
        raise not_found()
    if req.method == "GET":
        info = {k: v for k, v in obj.describe(version).items() if k != "fields"}
        return Response.json(200, {"objectDescribe": info, "recentItems": []})
    if req.method != "POST":
        raise _method(req)
    body = req.json()
    if not isinstance(body, dict):
        raise sf_error(400, "JSON_PARSER_ERROR", "Expected a JSON object for the record")
    try:
        rid = sb.dml.create(obj.name, body)
    except DmlError as exc:
        raise dml_failure(exc) from exc
    return Response.json(201, {"id": rid, "success": True, "errors": []})


def sobject_row(sb: SalesforceSandbox, req: Request, version: str, sobject: str, rid: str) -> Response:
    obj = sb.schema.get(sobject)
    if obj is None:
        raise not_found()
    if rid == "describe" and req.method == "GET":
        return Response.json(200, obj.describe(version))
    if rid in ("updated", "deleted") and req.method == "GET":
        return replicate(sb, req, obj.name, rid)
    if len(rid) not in (15, 18) or rid[:3] != obj.key_prefix:
        raise not_found()
    rec = _record(sb, obj.name, rid)
    try:
        if req.method == "GET":
            return Response.json(200, full_record(sb, obj.name, rec, version, req.query.get("fields")))
        if req.method == "PATCH":
            body = req.json()
            if not isinstance(body, dict):
                raise sf_error(400, "JSON_PARSER_ERROR", "Expected a JSON object for the record")
            sb.dml.update(obj.name, rec["Id"], body)
            return Response.empty(204)
        if req.method == "DELETE":
            sb.dml.delete(obj.name, rec["Id"])
            return Response.empty(204)
    except DmlError as exc:
        raise dml_failure(exc) from exc
    raise _method(req)


def sobject_by_key(sb: SalesforceSandbox, req: Request, version: str, sobject: str,
                   field: str, value: str) -> Response:
    obj = sb.schema.get(sobject)
    if obj is None:
        raise not_found()
    body = req.json() if req.method == "PATCH" else {}
    try:
        if req.method == "PATCH":
            if not isinstance(body, dict):
                raise sf_error(400, "JSON_PARSER_ERROR", "Expected a JSON object for the record")
            rid, created = sb.dml.upsert(obj.name, field, value, body)
            reply = {"id": rid, "success": True, "errors": [], "created": created}
            return Response.json(201 if created else 200, reply)
        f = obj.field(field)
        if f is None or not f.external_id:
            raise not_found()
        ids = sorted(sb.store.lookup(obj.name, (f.name,), (value,)))
        if len(ids) > 1:
            raise MultipleMatches(f.name, ids)
        if not ids:
            raise not_found()
        return Response.json(200, full_record(sb, obj.name, sb.store.live[obj.name][ids[0]], version, None))
    except MultipleMatches as exc:
        # 300 Multiple Choices: the body lists the matching records' URLs.
        urls = [f"/services/data/v{version}/sobjects/{obj.name}/{i}" for i in exc.ids]
        raise ApiError(300, urls) from exc
    except DmlError as exc:
        if exc.code == "INVALID_FIELD" and "external ID" in exc.message:
            raise sf_error(404, "NOT_FOUND", exc.message) from exc
        raise dml_failure(exc) from exc


def sobjects_list(sb: SalesforceSandbox, version: str) -> Response:
    items = []
    for obj in sb.schema.objects.values():
        info = obj.describe(version)
        items.append({k: info[k] for k in ("name", "label", "keyPrefix", "custom", "createable",
                                           "updateable", "deletable", "queryable", "urls")})
    return Response.json(200, {"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": items})


def tooling_custom_field(sb: SalesforceSandbox, req: Request) -> Response:
    if req.method != "POST":
        raise _method(req)
    body = req.json()
    if not isinstance(body, dict) or "." not in str(body.get("FullName", "")):
        raise sf_error(400, "INVALID_INPUT", "FullName must be Object.Field__c")
    sobject, name = str(body["FullName"]).split(".", 1)
    meta = body.get("Metadata") or {}
    obj = sb.schema.get(sobject)
    if obj is None:
        raise sf_error(400, "INVALID_TYPE", f"Cannot find entity: {sobject}")
    if not name.endswith("__c"):
        raise sf_error(400, "FIELD_INTEGRITY_EXCEPTION", "The API name of a custom field must end "
                       "with __c", ["FullName"])
    if name.lower() in obj.fields:
        raise sf_error(400, "DUPLICATE_DEVELOPER_NAME",
                       f"There is already a field named {name.removesuffix('__c')} on {obj.name}.", [])
    spec = {"name": name, "type": meta.get("type", "Text"), "length": meta.get("length"),
            "label": meta.get("label", ""), "externalId": meta.get("externalId", False),
            "unique": meta.get("unique", False), **_value_set(meta)}
    sb.schema.add_custom_field(obj.name, spec, visible=sb.fls_on_create)
    sb.tooling_ids += 1
    fid = record_id("00N", "5g", sb.tooling_ids)
    return Response.json(201, {"id": fid, "success": True, "errors": [], "warnings": [],
                               "infos": []})


def _value_set(meta: dict) -> dict:
    """A picklist's values and `restricted` flag from CustomField Metadata.valueSet
    [Metadata API, ValueSet: restricted, valueSetDefinition.value[].fullName]."""
    value_set = meta.get("valueSet") or {}
    values = (value_set.get("valueSetDefinition") or {}).get("value") or []
    return {"picklist": [str(v.get("fullName")) for v in values if isinstance(v, dict)],
            "restricted": bool(value_set.get("restricted", False))}


def _method(req: Request) -> ApiError:
    return sf_error(405, "METHOD_NOT_ALLOWED",
                    f"HTTP Method '{req.method}' not allowed. Allowed are GET,PATCH,DELETE,POST")
