"""sObject Collections: create, update, upsert by external id, delete (<= 200 records) and
retrieve by ids (GET with ?ids=&fields=, or POST {ids, fields} for longer lists).

The reply is 200 with one result per record in input order, even when records fail
(`{"success":false,"errors":[{"statusCode","message","fields"}]}`): partial success looks
like success at the HTTP level. With allOrNone=true a single failure rolls every record
back and the others report ALL_OR_NONE_OPERATION_ROLLED_BACK [REST API Developer Guide,
sObject Collections; AllOrNoneHeader].
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from connector.sandbox.salesforce.rest import full_record
from connector.sandbox.salesforce.store import DmlError
from connector.sandbox.salesforce.wire import Request, Response, sf_error

if TYPE_CHECKING:
    from connector.sandbox.salesforce.sandbox import SalesforceSandbox

MAX_RECORDS = 200
ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was "
               "using AllOrNone header",
    "fields": [],
}


def _body(req: Request) -> tuple[list[dict], bool]:
    body = req.json()
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise sf_error(400, "JSON_PARSER_ERROR", "The request body must be a JSON object with a "
                       "records array")
    records = body["records"]
    _cap(len(records))
    if not all(isinstance(r, dict) for r in records):
        raise sf_error(400, "JSON_PARSER_ERROR", "Each record must be a JSON object")
    return records, bool(body.get("allOrNone", False))


def _cap(n: int) -> None:
    if n > MAX_RECORDS:
        raise sf_error(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than "
                       f"{MAX_RECORDS} records into this call", [])


def _type(rec: dict) -> str:
    t = (rec.get("attributes") or {}).get("type") if isinstance(rec.get("attributes"), dict) else None
    if not t:
        raise DmlError("INVALID_TYPE", "Must send a concrete entity type.")
    return str(t)


def _fields(rec: dict) -> dict:
    return {k: v for k, v in rec.items() if k != "attributes"}


def _run(sb: SalesforceSandbox, items: list, all_or_none: bool,
         one: Callable[[object], dict], *, strip_created: bool = False) -> Response:
    results: list[dict] = []
    with sb.store.transaction() as tx:
        for item in items:
            try:
                results.append(one(item))
            except DmlError as exc:
                failed = {"success": False, "errors": [exc.as_result()]}
                rid = _rid(item) if isinstance(item, dict) else None
                if rid:
                    failed = {"id": rid, **failed}
                results.append(failed)
        if all_or_none and any(not r["success"] for r in results):
            tx.rollback()
            results = [_rolled_back(r) for r in results]
    if strip_created:  # plain creates do not report "created"
        results = [{k: v for k, v in r.items() if k != "created"} for r in results]
    return Response.json(200, results)


def _rolled_back(result: dict) -> dict:
    if not result["success"]:
        return result
    # A rolled-back insert has no id to report (the documented DUPLICATES_DETECTED sample).
    drop = ("errors", "created", "id") if result.get("created", False) else ("errors", "created")
    out = {k: v for k, v in result.items() if k not in drop}
    out.update(success=False, errors=[dict(ROLLED_BACK)])
    return out


def create(sb: SalesforceSandbox, req: Request) -> Response:
    records, all_or_none = _body(req)

    def one(rec: object) -> dict:
        assert isinstance(rec, dict)
        sobject = _type(rec)
        if any(k.lower() == "id" for k in rec):
            raise DmlError("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
        return {"id": sb.dml.create(sobject, _fields(rec)), "success": True, "errors": [],
                "created": True}

    return _run(sb, records, all_or_none, one, strip_created=True)


def update(sb: SalesforceSandbox, req: Request) -> Response:
    records, all_or_none = _body(req)

    def one(rec: object) -> dict:
        assert isinstance(rec, dict)
        sobject = _type(rec)
        rid = _rid(rec)
        if not rid:
            raise DmlError("MISSING_ARGUMENT", "Id not specified in an update call")
        sb.dml.update(sobject, str(rid), _fields(rec))
        return {"id": sb.store.get(sobject, str(rid))["Id"], "success": True, "errors": []}

    return _run(sb, records, all_or_none, one)


def _rid(rec: dict) -> str | None:
    return next((v for k, v in rec.items() if k.lower() == "id" and v), None)


def upsert(sb: SalesforceSandbox, req: Request, sobject: str, field: str) -> Response:
    records, all_or_none = _body(req)

    def one(rec: object) -> dict:
        assert isinstance(rec, dict)
        if _type(rec).lower() != sobject.lower():
            raise DmlError("INVALID_TYPE", f"Record type must be {sobject}")
        fields = _fields(rec)
        value = next((v for k, v in fields.items() if k.lower() == field.lower()), None)
        if value in (None, ""):
            raise DmlError("MISSING_ARGUMENT", f"{field} not specified", [field])
        rid, created = sb.dml.upsert(sobject, field, str(value), fields)
        return {"id": rid, "success": True, "errors": [], "created": created}

    return _run(sb, records, all_or_none, one)


def delete(sb: SalesforceSandbox, req: Request) -> Response:
    ids = [i for i in req.query.get("ids", "").split(",") if i]
    if not ids:
        raise sf_error(400, "MISSING_ARGUMENT", "ids parameter is required")
    _cap(len(ids))
    all_or_none = req.query.get("allOrNone", "false").lower() == "true"

    def one(rid: object) -> dict:
        rid = str(rid)
        sobject = sb.store.sobject_of(rid)
        if sobject is None:
            raise DmlError("MALFORMED_ID", f"malformed id {rid}")
        rec, _ = sb.store.find(sobject, rid)
        sb.dml.delete(sobject, rid)
        return {"id": rec["Id"] if rec else rid, "success": True, "errors": []}

    return _run(sb, ids, all_or_none, lambda rid: _with_id(one, rid))


def _with_id(one: Callable[[object], dict], rid: object) -> dict:
    try:
        return one(rid)
    except DmlError as exc:
        return {"id": rid, "success": False, "errors": [exc.as_result()]}


MAX_RETRIEVE = 2000


def retrieve(sb: SalesforceSandbox, req: Request, version: str, sobject: str) -> Response:
    """Records in the order of the ids asked for; null where an id names no live record."""
    obj = sb.schema.get(sobject)
    if obj is None:
        raise sf_error(404, "NOT_FOUND", "The requested resource does not exist")
    if req.method == "POST":
        body = req.json()
        body = body if isinstance(body, dict) else {}
        ids, fields = [str(i) for i in body.get("ids") or []], [str(f) for f in body.get("fields") or []]
    else:
        ids = [i for i in req.query.get("ids", "").split(",") if i]
        fields = [f for f in req.query.get("fields", "").split(",") if f]
    if not ids or not fields:
        raise sf_error(400, "MISSING_ARGUMENT", "Both ids and fields are required")
    if len(ids) > MAX_RETRIEVE:
        raise sf_error(400, "EXCEEDED_ID_LIMIT", f"record limit reached. cannot retrieve more than "
                       f"{MAX_RETRIEVE} records in this call", [])
    names = ",".join(dict.fromkeys(["Id", *fields]))
    out: list[dict | None] = []
    with sb.store.lock:
        for rid in ids:
            rec, deleted = sb.store.find(obj.name, rid) if len(rid) in (15, 18) else (None, False)
            out.append(None if rec is None or deleted else
                       full_record(sb, obj.name, rec, version, names))
    return Response.json(200, out)
