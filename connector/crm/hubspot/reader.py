"""Reading one object type page by page: the list endpoint for a full sync, search after.

A full sync pages `GET /crm/objects/2026-03/{type}?limit=100&properties=...&after=` (no
`paging` on the last page). Property names travel in that URL, and long lists overflow it
(414; Airbyte chunks at 15,000 characters), so only a first chunk goes in the URL and the
rest is read for the same page by `POST .../batch/read`, whose body has no such limit.
Later runs search for records after the (modified, id) cursor (search.py).

Each page comes with the cursor a crash may resume from. While a scan is unfinished that
cursor says where the scan was (`after:<token>` for the list, `search:<cursor id>:<last id>`
for a search) at the scan's starting timestamp; only the last page carries the scan's
high-water mark, so a cursor never claims data the mirror does not hold. That mark is held
back to the scan's start minus `search_overlap_minutes`: search is eventually consistent,
so writes from the last window may not be visible yet and are searched again next run
(Estuary holds back an hour for the same reason). Re-read records are the same rows, and
the mirror's upsert by id absorbs them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.crm.base import Cursor
from connector.crm.hubspot.api import HubSpotApi
from connector.crm.hubspot.search import SearchScan, last_modified_property
from connector.crm.hubspot.values import parse_timestamp

#: Cursor timestamp of a full sync that has not finished yet.
FULL_SYNC = datetime(1970, 1, 1, tzinfo=UTC)
LIST_PAGE = 100
URL_PROPERTY_BUDGET = 8_000


def split_properties(names: Sequence[str], budget: int = URL_PROPERTY_BUDGET) -> list[list[str]]:
    """Property names in chunks whose comma-joined length stays within `budget` characters."""
    chunks: list[list[str]] = [[]]
    size = 0
    for name in dict.fromkeys(names):
        cost = len(name) + (1 if chunks[-1] else 0)
        if chunks[-1] and size + cost > budget:
            chunks.append([])
            size, cost = 0, len(name)
        chunks[-1].append(name)
        size += cost
    return chunks


@dataclass
class Page:
    records: list[dict[str, Any]]
    cursor: Cursor
    final: bool
    incremental: bool


class ObjectReader:
    """Pages of one object type (contacts, deals) with the properties asked for."""

    def __init__(self, api: HubSpotApi, object_type: str, properties: Sequence[str], overlap: timedelta) -> None:
        self.api = api
        self.object_type = object_type
        self.modified = last_modified_property(object_type)
        self.properties = list(dict.fromkeys([*properties, self.modified]))
        self.overlap = overlap

    def pages(self, since: Cursor | None) -> Iterator[Page]:
        if since is None or since.timestamp == FULL_SYNC:
            resume = since.id.removeprefix("after:") if since is not None and since.id.startswith("after:") else None
            yield from self._list_pages(resume)
            return
        if since.id.startswith("search:"):
            _, since_id, last_id = since.id.split(":")
            yield from self._search_pages(Cursor(since.timestamp, since_id), int(last_id) if last_id else None)
            return
        yield from self._search_pages(since, None)

    def _settle(self, high: tuple[datetime, str] | None, floor: Cursor | None, horizon: datetime) -> Cursor:
        """The cursor after a finished scan: its high-water mark, but never later than the
        scan's start minus the overlap (writes HubSpot may not have indexed yet are read
        again next run) and never earlier than where the scan began."""
        cursor = Cursor(*high) if high is not None else floor
        if cursor is None:
            return Cursor(FULL_SYNC, "")
        if cursor.timestamp > horizon:
            cursor = Cursor(horizon, "")
        return max(cursor, floor) if floor is not None else cursor

    # ------------------------------------------------------------------ full sync

    def _list_pages(self, after: str | None) -> Iterator[Page]:
        first, *rest = split_properties(self.properties)
        high: tuple[datetime, str] | None = None
        horizon: datetime | None = None
        while True:
            params: dict[str, Any] = {"limit": LIST_PAGE, "properties": ",".join(first), "archived": "false"}
            if after:
                params["after"] = after
            reply = self.api.call("GET", self.api.paths.objects(self.object_type), kind=f"{self.object_type}_list", params=params)
            horizon = horizon or self.api.server_now() - self.overlap
            records = list(reply.get("results") or [])
            for chunk in rest:
                self._fill(records, chunk)
            for record in records:
                high = _later(high, self._modified_at(record), str(record["id"]))
            after = ((reply.get("paging") or {}).get("next") or {}).get("after")
            if after:
                yield Page(records, Cursor(FULL_SYNC, f"after:{after}"), final=False, incremental=False)
                continue
            yield Page(records, self._settle(high, None, horizon), final=True, incremental=False)
            return

    def _fill(self, records: list[dict[str, Any]], properties: list[str]) -> None:
        if not records:
            return
        body = {"properties": properties, "inputs": [{"id": str(r["id"])} for r in records]}
        reply = self.api.call("POST", self.api.paths.batch(self.object_type, "read"), kind=f"{self.object_type}_read", json=body)
        extra = {str(r["id"]): r.get("properties") or {} for r in reply.get("results") or []}
        for record in records:
            record.setdefault("properties", {}).update(extra.get(str(record["id"]), {}))

    # ------------------------------------------------------------------ incremental

    def _search_pages(self, since: Cursor, last_id: int | None) -> Iterator[Page]:
        since_id = int(since.id) if since.id.isdigit() else None
        scan = SearchScan(self.modified, since.timestamp, self.properties, since_id=since_id, last_id=last_id)
        path = self.api.paths.search(self.object_type)
        horizon: datetime | None = None
        while (body := scan.next_request()) is not None:
            reply = self.api.call("POST", path, kind=f"{self.object_type}_search", json=body, search=True)
            horizon = horizon or self.api.server_now() - self.overlap
            records = scan.feed(reply)
            if not scan.done:
                resume = f"search:{since.id}:{scan.last_id if scan.last_id is not None else ''}"
                yield Page(records, Cursor(since.timestamp, resume), final=False, incremental=True)
                continue
            high = (scan.high_water, scan.high_water_id) if scan.high_water is not None else None
            yield Page(records, self._settle(high, since, horizon), final=True, incremental=True)

    # ------------------------------------------------------------------ deletions

    def archived_since(self, since: datetime) -> Iterator[list[str]]:
        """Ids archived at or after `since`, one list per page.

        Search never returns archived records and the list endpoint has no archived-since
        filter, so every archived record is listed (`archived=true`, 100 per call) and
        filtered on `archivedAt` here.
        """
        after: str | None = None
        path = self.api.paths.objects(self.object_type)
        while True:
            params: dict[str, Any] = {"limit": LIST_PAGE, "archived": "true", "properties": "hs_object_id"}
            if after:
                params["after"] = after
            reply = self.api.call("GET", path, kind=f"{self.object_type}_archived", params=params)
            yield [
                str(r["id"])
                for r in reply.get("results") or []
                if (parse_timestamp(r.get("archivedAt")) or parse_timestamp(r.get("updatedAt")) or since) >= since
            ]
            after = ((reply.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return

    def _modified_at(self, record: dict[str, Any]) -> datetime:
        props = record.get("properties") or {}
        return parse_timestamp(props.get(self.modified)) or parse_timestamp(record.get("updatedAt")) or FULL_SYNC


def _later(current: tuple[datetime, str] | None, ts: datetime, rid: str) -> tuple[datetime, str]:
    key = (ts, int(rid) if rid.isdigit() else 0)
    if current is None or key > (current[0], int(current[1]) if current[1].isdigit() else 0):
        return ts, rid
    return current
