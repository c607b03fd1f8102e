"""Reading one object type page by page: the list endpoint for a full sync, search after.

A full sync pages `GET /crm/objects/2026-03/{type}?limit=100&properties=...&after=` (no
`paging` on the last page). Property names travel in that URL, and long lists overflow it
(414; Airbyte chunks at 15,000 characters), so only a first chunk goes in the URL and the
rest is read for the same page by `POST .../batch/read`, whose body has no such limit.
Later runs search for records after the (modified, id) cursor (search.py).

Each page comes with the cursor a crash may resume from (connector.cursor): the window's
lower bound, which stays put while the scan runs, and the scan's position (the list's `after`
token, or the last id a search emitted) and first start. A position is reused only by a scan
of the same query over the same window. The last page also carries the completed cursor: the
scan's high-water mark, held back to before the moment the scan *first* started minus
`search_overlap_minutes`, however many runs it took. Search is eventually consistent, so writes
from the last window may not be visible yet and are searched again next run (Estuary holds
back an hour for the same reason); and a record edited while a killed scan waited, below its
resume position, is modified after that start, so the next scan reads it (issue 23).
Re-read records are the same rows, and the mirror's upsert by id absorbs them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from connector.crm.hubspot.api import HubSpotApi
from connector.crm.hubspot.search import MAX_PAGE, SearchScan, last_modified_property
from connector.crm.hubspot.values import parse_timestamp
from connector.cursor import BEGINNING, Cursor, query_key, warn_if_stale

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
    """One page of a scan: its records, the cursor to commit with them (the scan unfinished),
    and on the last page `done`, the cursor once the scan is complete."""

    records: list[dict[str, Any]]
    cursor: Cursor
    done: Cursor | None
    incremental: bool


class ObjectReader:
    """Pages of one object type (contacts, deals) with the properties asked for."""

    def __init__(self, api: HubSpotApi, object_type: str, properties: Sequence[str], overlap: timedelta) -> None:
        self.api = api
        self.object_type = object_type
        self.modified = last_modified_property(object_type)
        self.properties = list(dict.fromkeys([*properties, self.modified]))
        self.overlap = overlap
        self.list_page = LIST_PAGE  # records per list call (HubSpot's maximum)
        self.search_page = MAX_PAGE  # records per search call (HubSpot's maximum); tests page smaller

    def pages(self, since: Cursor | None) -> Iterator[Page]:
        """The pages of the window after `since` (everything when None): the list endpoint
        until a full sync completed once, search after."""
        window = _window(since)
        kind = "list" if window.full_sync else "search"
        query = query_key(f"hubspot-{kind}", self.object_type)
        scan = window.resumable(query)
        if scan is not None:
            warn_if_stale(window, self.api.server_now(), self.overlap, stream=f"hubspot {self.object_type}",
                          setting="search_overlap_minutes")
        started = scan.started_at if scan is not None else self.api.server_clock.known()
        at = window.scanning(query, scan.position if scan is not None else "", started)
        if window.full_sync:
            yield from self._list_pages(at)
        else:
            yield from self._search_pages(at)

    # ------------------------------------------------------------------ full sync

    def _list_pages(self, at: Cursor) -> Iterator[Page]:
        assert at.scan is not None
        after = at.scan.position or None
        resumed = after is not None
        first, *rest = split_properties(self.properties)
        high: tuple[datetime, str] | None = None
        while True:
            params: dict[str, Any] = {"limit": self.list_page, "properties": ",".join(first), "archived": "false"}
            if after:
                params["after"] = after
            reply = self.api.call("GET", self.api.paths.objects(self.object_type), kind=f"{self.object_type}_list", params=params)
            at = self.api.server_clock.stamp(at)
            records = list(reply.get("results") or [])
            for chunk in rest:
                self._fill(records, chunk)
            for record in records:
                high = _later(high, self._modified_at(record), str(record["id"]))
            after = ((reply.get("paging") or {}).get("next") or {}).get("after")
            at = at.moved(after or "")
            if not after and high is None and resumed:
                high = _resumed_high(at)
            yield Page(records, at, None if after else at.complete(high, self.overlap), incremental=False)
            if not after:
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

    def _search_pages(self, at: Cursor) -> Iterator[Page]:
        assert at.scan is not None
        position = at.scan.position
        scan = SearchScan(self.modified, at.timestamp, self.properties, since_id=int(at.id) if at.id.isdigit() else None,
                          last_id=int(position) if position.isdigit() else None, page_size=self.search_page)
        path = self.api.paths.search(self.object_type)
        while (body := scan.next_request()) is not None:
            reply = self.api.call("POST", path, kind=f"{self.object_type}_search", json=body, search=True)
            at = self.api.server_clock.stamp(at)
            records = scan.feed(reply)
            at = at.moved("" if scan.last_id is None else str(scan.last_id))
            high = (scan.high_water, scan.high_water_id) if scan.high_water is not None else None
            yield Page(records, at, at.complete(high, self.overlap) if scan.done else None, incremental=True)

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
        return parse_timestamp(props.get(self.modified)) or parse_timestamp(record.get("updatedAt")) or BEGINNING


def _window(since: Cursor | None) -> Cursor:
    """The window to scan. Cursors stored before the shared cursor type kept a scan's position
    in the id ("after:<token>", "search:<id>:<last id>") without its start: those scans restart
    from their window's bound, the only position known to be safe."""
    if since is None:
        return Cursor(BEGINNING)
    if since.scan is None and since.id.startswith("after:"):
        return Cursor(BEGINNING)
    if since.scan is None and since.id.startswith("search:"):
        return Cursor(since.timestamp, since.id.split(":")[1])
    return since


def _resumed_high(at: Cursor) -> tuple[datetime, str] | None:
    """The high-water mark of a resumed list scan that read nothing in its last run (the records
    after its position were all archived meanwhile): the killed runs read every record modified
    before the scan first started, so that start (complete() holds it back by the overlap). Not
    the beginning: the next run would then be a full sync again, which never reads archived
    records, and a record archived after the killed runs mirrored it would stay."""
    started = at.scan.started_at if at.scan is not None else None
    return (started, "") if started is not None else None


def _later(current: tuple[datetime, str] | None, ts: datetime, rid: str) -> tuple[datetime, str]:
    key = (ts, int(rid) if rid.isdigit() else 0)
    if current is None or key > (current[0], int(current[1]) if current[1].isdigit() else 0):
        return ts, rid
    return current
