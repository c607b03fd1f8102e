"""Composite resources: `POST /composite` (up to 25 subrequests in one call, later ones
reading earlier results through `@{referenceId.path}`) and `POST /composite/tree/{SObject}`
(a record tree created in one transaction) [REST API Developer Guide, Composite; sObject Tree].

Composite answers 200 with one `{body, httpHeaders, httpStatusCode, referenceId}` per
subrequest. With allOrNone a failure rolls everything back and every other subrequest
reports PROCESSING_HALTED; without it, a subrequest that references a failed one is halted
and the rest run. A tree is all or nothing: 201 `{hasErrors: false, results: [{referenceId,
id}]}`, or 400 with the failing record's errors and nothing created.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from connector.sandbox.salesforce.store import DmlError
from connector.sandbox.salesforce.wire import ApiError, Request, Response, sf_error

if TYPE_CHECKING:
    from connector.sandbox.salesforce.sandbox import SalesforceSandbox

MAX_SUBREQUESTS, MAX_TREE_RECORDS, MAX_TREE_DEPTH = 25, 200, 5
Route = Callable[["SalesforceSandbox", Request, str, list[str]], Response]
_REF = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])+)\}")
_PATH = re.compile(r"^/services/data/v(\d+\.0)(?:/(.*))?$")
_ROLLED_BACK = "The transaction was rolled back since another operation in the same transaction failed."


def composite(sb: SalesforceSandbox, req: Request, route: Route) -> Response:
    body = req.json()
    subs = body.get("compositeRequest") if isinstance(body, dict) else None
    if not isinstance(subs, list) or not subs or not all(isinstance(s, dict) for s in subs):
        raise sf_error(400, "JSON_PARSER_ERROR", "compositeRequest must be a non-empty array")
    if len(subs) > MAX_SUBREQUESTS:
        raise sf_error(400, "INVALID_API_INPUT", f"Maximum number of subrequests is {MAX_SUBREQUESTS}")
    all_or_none = bool(body.get("allOrNone", False)) if isinstance(body, dict) else False
    results: dict[str, Any] = {}
    out: list[dict[str, Any]] = []
    with sb.store.transaction() as tx:
        for sub in subs:
            ref = str(sub.get("referenceId") or "")
            if all_or_none and any(r["httpStatusCode"] >= 400 for r in out):
                out.append(_halted(ref, _ROLLED_BACK))
                continue
            out.append(_run(sb, req, sub, ref, results, route))
        if all_or_none and any(r["httpStatusCode"] >= 400 for r in out):
            tx.rollback()
            out = [r if r["httpStatusCode"] >= 400 else _halted(r["referenceId"], _ROLLED_BACK)
                   for r in out]
    return Response.json(200, {"compositeResponse": out})


def _run(sb: SalesforceSandbox, req: Request, sub: dict, ref: str, results: dict,
         route: Route) -> dict[str, Any]:
    try:
        url = _resolve(str(sub.get("url") or ""), results)
        payload = _resolve_json(sub.get("body"), results)
    except KeyError as missing:
        return _halted(ref, f"Invalid reference specified. No value for {missing.args[0]} found "
                       f"in {str(missing.args[0]).split('.')[0]}. Provided referenceId ...")
    parts = urlsplit(url)
    m = _PATH.match(parts.path.rstrip("/"))
    if m is None:
        return _reply(ref, 400, [{"errorCode": "INVALID_API_INPUT",
                                  "message": f"Unsupported subrequest url: {url}"}], {})
    inner = Request(str(sub.get("method") or "GET").upper(), parts.path.rstrip("/"),
                    {k: v[0] for k, v in parse_qs(parts.query).items()}, dict(req.headers),
                    json.dumps(payload).encode() if payload is not None else b"", req.environ)
    try:
        resp = route(sb, inner, m.group(1), [p for p in (m.group(2) or "").split("/") if p])
        status, body = resp.status, json.loads(resp.body) if resp.body else None
    except ApiError as err:
        status, body = err.status, err.body
    headers = {}
    if status == 201 and isinstance(body, dict) and body.get("id"):
        headers["Location"] = f"{parts.path.rstrip('/')}/{body['id']}"
    if status < 400:
        results[ref] = body
    return _reply(ref, status, body, headers)


def _reply(ref: str, status: int, body: Any, headers: dict) -> dict[str, Any]:
    return {"body": body, "httpHeaders": headers, "httpStatusCode": status, "referenceId": ref}


def _halted(ref: str, message: str) -> dict[str, Any]:
    return _reply(ref, 400, [{"errorCode": "PROCESSING_HALTED", "message": message}], {})


def _resolve(text: str, results: dict) -> str:
    return _REF.sub(lambda m: str(_lookup(results, m.group(1), m.group(2))), text)


def _resolve_json(value: Any, results: dict) -> Any:
    if isinstance(value, str):
        whole = _REF.fullmatch(value)
        return _lookup(results, whole.group(1), whole.group(2)) if whole else _resolve(value, results)
    if isinstance(value, dict):
        return {k: _resolve_json(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_json(v, results) for v in value]
    return value


def _lookup(results: dict, ref: str, path: str) -> Any:
    """results[ref] walked by ".id" / "[0]" steps; KeyError("ref.path") when absent."""
    if ref not in results:
        raise KeyError(f"{ref}{path}")
    value = results[ref]
    for key, index in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", path):
        try:
            value = value[int(index)] if index else value[key]
        except (KeyError, IndexError, TypeError):
            raise KeyError(f"{ref}{path}") from None
    return value


def tree(sb: SalesforceSandbox, req: Request, sobject: str) -> Response:
    body = req.json()
    records = body.get("records") if isinstance(body, dict) else None
    if not isinstance(records, list) or not records:
        raise sf_error(400, "JSON_PARSER_ERROR", "The request body must have a records array")
    if _count(records, 1) > MAX_TREE_RECORDS:
        raise sf_error(400, "LIMIT_EXCEEDED", f"Too many records: a tree holds at most "
                       f"{MAX_TREE_RECORDS}")
    created: list[dict[str, str]] = []
    with sb.store.transaction() as tx:
        for rec in records:
            failure = _insert(sb, sobject, rec, None, created)
            if failure is not None:
                tx.rollback()
                return Response.json(400, {"hasErrors": True, "results": [failure]})
    return Response.json(201, {"hasErrors": False, "results": created})


def _count(records: list, depth: int) -> int:
    if depth > MAX_TREE_DEPTH:
        raise sf_error(400, "INVALID_INPUT", f"A tree can be at most {MAX_TREE_DEPTH} levels deep")
    total = 0
    for rec in records:
        total += 1
        for value in rec.values() if isinstance(rec, dict) else ():
            if isinstance(value, dict) and isinstance(value.get("records"), list):
                total += _count(value["records"], depth + 1)
    return total


def _insert(sb: SalesforceSandbox, sobject: str, rec: Any, parent: tuple[str, str] | None,
            created: list[dict[str, str]]) -> dict | None:
    """Create `rec` and its children; the failing record's result entry, or None."""
    attrs = rec.get("attributes") if isinstance(rec, dict) else None
    ref = str((attrs or {}).get("referenceId") or "")
    try:
        if not ref or str((attrs or {}).get("type", "")).lower() != sobject.lower():
            raise DmlError("INVALID_INPUT", f"Each record needs attributes with type {sobject} "
                           "and a referenceId")
        obj = sb.store.obj(sobject)
        children = {k: v["records"] for k, v in rec.items()
                    if isinstance(v, dict) and isinstance(v.get("records"), list)}
        fields = {k: v for k, v in rec.items() if k != "attributes" and k not in children}
        if parent is not None:
            fields[parent[0]] = parent[1]
        rid = sb.dml.create(obj.name, fields)
    except DmlError as exc:
        return {"referenceId": ref, "errors": [exc.as_result()]}
    created.append({"referenceId": ref, "id": rid})
    for name, kids in children.items():
        link = obj.children.get(name.lower())
        if link is None:
            return {"referenceId": ref, "errors": [{"statusCode": "INVALID_FIELD", "message":
                    f"No such relationship '{name}' on {obj.name}", "fields": [name]}]}
        child_obj, lookup = link
        for kid in kids:
            failure = _insert(sb, child_obj.name, kid, (lookup.name, rid), created)
            if failure is not None:
                return failure
    return None
