"""Data replication: sObject Get Updated and Get Deleted [REST API Developer Guide,
resources_getupdated / resources_getdeleted].

    GET /sobjects/Contact/updated/?start=2026-05-20T00:00:00+00:00&end=2026-06-01T00:00:00+00:00
    -> {"ids": [...], "latestDateCovered": "2026-06-01T00:00:00.000+0000"}
    GET /sobjects/Contact/deleted/?start=...&end=...
    -> {"deletedRecords": [{"id", "deletedDate"}], "earliestDateAvailable", "latestDateCovered"}

A record counts as updated when its SystemModstamp falls in [start, end), as deleted when
its deletion does. Both ends are truncated to the minute, as Salesforce does. start may go
back 30 days for updates and 15 for deletions; older, or an end before the start, is
INVALID_REPLICATION_DATE. More than 600,000 ids is EXCEEDED_ID_LIMIT.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from connector.sandbox.salesforce.values import BadValue, format_datetime, parse_datetime
from connector.sandbox.salesforce.wire import Request, Response, sf_error

if TYPE_CHECKING:
    from connector.sandbox.salesforce.sandbox import SalesforceSandbox

MAX_IDS = 600_000
WINDOW_DAYS = {"updated": 30, "deleted": 15}


def replicate(sb: SalesforceSandbox, req: Request, sobject: str, kind: str) -> Response:
    """The updated or deleted ids of `sobject` between ?start and ?end."""
    obj = sb.store.obj(sobject)
    now = sb.clock.now()
    start, end = _when(req, "start"), _when(req, "end")
    if end < start:
        raise sf_error(400, "INVALID_REPLICATION_DATE", "EndDate can not be before StartDate")
    oldest = _minute(format_datetime(now - timedelta(days=WINDOW_DAYS[kind])))
    if start < oldest:
        raise sf_error(400, "INVALID_REPLICATION_DATE", f"startDate cannot be more than "
                       f"{WINDOW_DAYS[kind]} days ago")
    latest = min(end, _minute(format_datetime(now)))
    with sb.store.lock:
        table = sb.store.live if kind == "updated" else sb.store.deleted
        hits = [(r["SystemModstamp"], r["Id"]) for r in table[obj.name].values()
                if start <= r["SystemModstamp"] < end]
    if len(hits) > MAX_IDS:
        raise sf_error(400, "EXCEEDED_ID_LIMIT", f"More than {MAX_IDS} ids found: choose start "
                       "and end dates closer together")
    hits.sort()
    if kind == "updated":
        return Response.json(200, {"ids": [rid for _, rid in hits], "latestDateCovered": latest})
    return Response.json(200, {
        "deletedRecords": [{"id": rid, "deletedDate": stamp} for stamp, rid in hits],
        "earliestDateAvailable": oldest, "latestDateCovered": latest})


def _when(req: Request, name: str) -> str:
    raw = req.query.get(name)
    if not raw:
        raise sf_error(400, "MISSING_ARGUMENT", f"The '{name}' parameter is required")
    try:
        return _minute(parse_datetime(raw.replace(" ", "+")))  # an unescaped '+' reads as ' '
    except BadValue as exc:
        raise sf_error(400, "INVALID_REPLICATION_DATE", f"{name}: '{raw}' is not a valid "
                       "dateTime") from exc


def _minute(stamp: str) -> str:
    """A wire datetime truncated to the minute ("...T12:34:00.000+0000")."""
    moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z").replace(second=0, microsecond=0)
    return format_datetime(moment)
