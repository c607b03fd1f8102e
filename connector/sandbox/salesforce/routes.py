"""URL routing of the Salesforce emulator: token endpoint, versions, /services/data/vXX.X/...

Every authorised REST call is charged to the daily allocation and answered with the
Sforce-Limit-Info header; the versions list (/services/data) is free, as documented.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from connector.sandbox.salesforce import collections, composite, rest
from connector.sandbox.salesforce.wire import ApiError, Request, Response, not_found, sf_error

if TYPE_CHECKING:
    from connector.sandbox.salesforce.sandbox import SalesforceSandbox

MIN_VERSION, MAX_VERSION = 31, 67  # v31-v67 served; older retired, newer not released
_VERSIONED = re.compile(r"^/services/data/v(\d+)\.0(?:/(.*))?$")
_LABELS = {67: "Summer '26", 66: "Spring '26", 65: "Winter '26"}


def kind_of(path: str) -> str:
    """A coarse label for request counting: oauth, query, sobject, describe, collections,
    bulk_query, bulk_ingest, limits, tooling, versions, other."""
    if path.startswith("/services/oauth2"):
        return "oauth"
    m = _VERSIONED.match(path)
    if not m:
        return "versions" if path == "/services/data" else "other"
    parts = (m.group(2) or "").split("/")
    head = parts[0]
    if head in ("query", "queryAll"):
        return "query"
    if head == "sobjects":
        return "describe" if parts[-1] == "describe" else "sobject"
    if head == "composite":
        return "collections"
    if head == "jobs" and len(parts) > 1:
        return f"bulk_{parts[1]}"
    return head if head in ("limits", "tooling") else "other"


def versions() -> Response:
    items = [{"label": _LABELS.get(v, f"v{v}.0"), "url": f"/services/data/v{v}.0",
              "version": f"{v}.0"} for v in range(MIN_VERSION, MAX_VERSION + 1)]
    return Response.json(200, items)


def dispatch(sb: SalesforceSandbox, req: Request) -> Response:
    if req.path == "/services/oauth2/token":
        return sb.auth.token(req)
    if req.path == "/services/data":
        return versions()
    m = _VERSIONED.match(req.path)
    if not m or not MIN_VERSION <= int(m.group(1)) <= MAX_VERSION:
        raise not_found()
    sb.auth.check(req)
    sb.limits.charge()
    try:
        resp = _versioned(sb, req, f"{m.group(1)}.0", [p for p in (m.group(2) or "").split("/") if p])
    except ApiError as err:
        err.headers.append(("Sforce-Limit-Info", sb.limits.header()))
        raise
    resp.headers.append(("Sforce-Limit-Info", sb.limits.header()))
    return resp


def _versioned(sb: SalesforceSandbox, req: Request, version: str, parts: list[str]) -> Response:
    if not parts:
        base = f"/services/data/v{version}"
        return Response.json(200, {k: f"{base}/{k}" for k in (
            "sobjects", "query", "queryAll", "limits", "composite", "jobs", "tooling")})
    head, rest_ = parts[0], parts[1:]
    if head in ("query", "queryAll"):
        _only(req, "GET")
        if rest_:
            return rest.query_more(sb, version, rest_[0])
        return rest.query(sb, req, version, include_deleted=head == "queryAll")
    if head == "sobjects":
        return _sobjects(sb, req, version, rest_)
    if head == "composite":
        return _composite(sb, req, version, rest_)
    if head == "limits":
        _only(req, "GET")
        return Response.json(200, sb.limits.body())
    if head == "jobs" and rest_[:1] == ["query"]:
        return sb.query_jobs.route(req, version, rest_[1:])
    if head == "jobs" and rest_[:1] == ["ingest"]:
        return sb.ingest_jobs.route(req, version, rest_[1:])
    if head == "tooling" and [p.lower() for p in rest_] == ["sobjects", "customfield"]:
        return rest.tooling_custom_field(sb, req)
    if head == "tooling" and [p.lower() for p in rest_] == ["sobjects"]:
        _only(req, "GET")  # the Tooling API's describe global (what `segsync check` reads)
        return Response.json(200, {"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": [
            {"name": "CustomField", "createable": True, "queryable": True,
             "urls": {"sobject": f"/services/data/v{version}/tooling/sobjects/CustomField"}}]})
    raise not_found()


def _sobjects(sb: SalesforceSandbox, req: Request, version: str, parts: list[str]) -> Response:
    if not parts:
        _only(req, "GET")
        return rest.sobjects_list(sb, version)
    if len(parts) == 1:
        return rest.sobject_root(sb, req, version, parts[0])
    if len(parts) == 2:
        return rest.sobject_row(sb, req, version, parts[0], parts[1])
    if len(parts) == 3:
        return rest.sobject_by_key(sb, req, version, *parts)
    raise not_found()


def _composite(sb: SalesforceSandbox, req: Request, version: str, parts: list[str]) -> Response:
    if parts[:1] == ["sobjects"]:
        return _collections(sb, req, version, parts[1:])
    if not parts:
        _only(req, "POST")
        return composite.composite(sb, req, _versioned)
    if parts[0] == "tree" and len(parts) == 2:
        _only(req, "POST")
        return composite.tree(sb, req, parts[1])
    if parts[0] in ("batch", "graph"):
        raise sf_error(501, "NOT_IMPLEMENTED",
                       f"composite/{parts[0]} is a Salesforce resource the segsync sandbox does not emulate")
    raise not_found()


def _collections(sb: SalesforceSandbox, req: Request, version: str, parts: list[str]) -> Response:
    if len(parts) == 1 and req.method in ("GET", "POST"):
        return collections.retrieve(sb, req, version, parts[0])
    if not parts:
        if req.method == "POST":
            return collections.create(sb, req)
        if req.method == "PATCH":
            return collections.update(sb, req)
        if req.method == "DELETE":
            return collections.delete(sb, req)
    elif len(parts) == 2 and req.method == "PATCH":
        return collections.upsert(sb, req, parts[0], parts[1])
    raise sf_error(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{req.method}' not allowed")


def _only(req: Request, method: str) -> None:
    if req.method != method:
        raise sf_error(405, "METHOD_NOT_ALLOWED",
                       f"HTTP Method '{req.method}' not allowed. Allowed are {method}")
