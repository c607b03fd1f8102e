"""Incremental pulls by SystemModstamp with a tie-safe (timestamp, Id) cursor.

    SELECT ... FROM Contact
    WHERE (SystemModstamp > ts OR (SystemModstamp = ts AND Id > 'id')) AND (<configured where>)
    ORDER BY SystemModstamp, Id

The first REST page is also the size check: its `totalSize` says how many rows match, so no
separate COUNT() call is spent. At or below `bulk_query_threshold` the REST pages are
followed; above it the first page is kept and the rest is read by one Bulk API 2.0 query
job from the cursor after that page. SystemModstamp is the cursor field because it also
moves on system changes and deletes (Airbyte's source-salesforce prefers it for the same
reason).

Deletes: incremental pulls and resumed scans (a killed first sync's too) use queryAll and
select IsDeleted, so rows deleted since the cursor or the position come back flagged and are
reported as `deleted_ids` (an id never mirrored leaves a harmless tombstone). A row that stops
matching the configured `where` (an Opportunity no longer won) is reported as deleted too:
before the main query, a small query for rows modified since the cursor that do NOT match it.

Cursor safety (connector.cursor): every page keeps the window's bound and records the scan's
position, the last (timestamp, Id) read, so a crash resumes the same query from there. Bulk
results are unordered, so every Bulk page keeps the position where the job started: a crash
re-reads the job's rows rather than skipping some. Only the completed scan moves the bound,
to the highest (timestamp, Id) read over all its runs (at least the position it resumed
from: a resume that finds nothing new must not leave a first sync's bound at the beginning,
where the next run would be a full sync again, which reads no deletions), but strictly before
the moment the scan first started (the org's time, from the replies' Date header): whatever
changed while a killed scan waited, deletions and rows that stopped matching `where`
included, is read by the next scan.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from connector.crm.base import Cursor, PullBatch, Sink
from connector.crm.salesforce.bulk import BulkJobs
from connector.crm.salesforce.client import SalesforceClient
from connector.crm.salesforce.records import MODSTAMP, flatten, parse_bool, row_cursor
from connector.crm.salesforce.soql import after_cursor, select
from connector.cursor import BEGINNING, decode_mark, encode_mark, query_key


class RowMapping(Protocol):
    @property
    def sobject(self) -> str: ...

    def fields(self) -> list[str]: ...

    def record(self, row: Mapping[str, Any]) -> Any: ...


class StreamPuller:
    """Pulls one object (customers, transactions or line items) into a sink."""

    def __init__(self, client: SalesforceClient, bulk: BulkJobs, mapping: RowMapping, where: str | None) -> None:
        self.client = client
        self.bulk = bulk
        self.mapping = mapping
        self.where = where

    def soql(self, since: Cursor | None, *, ordered: bool = True, negate_where: bool = False,
             fields: list[str] | None = None) -> str:
        conditions = [after_cursor(since)] if since is not None else []
        if self.where:
            conditions.append(f"NOT ({self.where})" if negate_where else self.where)
        order = ["SystemModstamp", "Id"] if ordered else []
        return select(fields or self.mapping.fields(), self.mapping.sobject, conditions, order)

    def pull(self, sink: Sink, since: Cursor | None) -> Cursor | None:
        """Stream every row modified after `since` (all when None); return the completed cursor."""
        window = since if since is not None else Cursor(BEGINNING)
        query = query_key("salesforce", self.mapping.sobject, self.where or "")
        scan = window.resumable(query)
        started = scan.started_at if scan is not None else self.client.server_clock.known()
        at = window.scanning(query, scan.position if scan is not None else "", started)
        incremental = not window.full_sync
        if incremental and self.where:
            self._retract(sink, window)
        resumed = _position(at)
        # A resumed scan reads deletions too, even a full sync's: rows the killed runs already
        # mirrored may have been deleted since (their SystemModstamp moved past the position).
        include_deleted = incremental or resumed is not None
        start = resumed or (window.bound if incremental else None)
        pages = self.client.query_pages(self.soql(start), include_deleted=include_deleted, kind="query")
        first = next(pages)
        at = self.client.server_clock.stamp(at)
        # The killed runs read every row up to the position: the scan's high-water mark starts
        # there, so a resume that finds nothing new still completes the window the scan covered.
        at, high = self._emit(sink, first.get("records", []), at, resumed, flat=False)
        if first.get("done", True):
            return self._complete(sink, at, high, since)
        if first.get("totalSize", 0) > self.client.source.bulk_query_threshold:
            pages.close()  # abandon the REST locator; Bulk reads the rest from the position
            return self._bulk(sink, at, high, include_deleted, since)
        for page in pages:
            at, high = self._emit(sink, page.get("records", []), at, high, flat=False)
        return self._complete(sink, at, high, since)

    def _retract(self, sink: Sink, window: Cursor) -> None:
        """Rows changed in the window that no longer match `where`: gone from the stream."""
        soql = self.soql(window.bound, ordered=False, negate_where=True, fields=["Id", MODSTAMP])
        ids = [str(r["Id"]) for r in self.client.query_records(soql, include_deleted=True, kind="query")]
        for start in range(0, len(ids), 2000):
            sink(PullBatch(rows=[], deleted_ids=ids[start : start + 2000], cursor=window))

    def _split(self, records: Iterable[Mapping[str, Any]], flat: bool) -> tuple[list[Any], list[str], Cursor | None]:
        """(canonical rows, deleted ids, highest cursor) of one page."""
        rows, deleted, last = [], [], None
        for raw in records:
            row = raw if flat else flatten(raw)
            if parse_bool(row.get("IsDeleted")):
                deleted.append(str(row["Id"]))
            else:
                rows.append(self.mapping.record(row))
            last = later(last, row_cursor(row))
        return rows, deleted, last

    def _emit(self, sink: Sink, records: Iterable[Mapping[str, Any]], at: Cursor, high: Cursor | None, *,
              flat: bool) -> tuple[Cursor, Cursor | None]:
        """Sink an ordered page with the scan's position moved to its last row."""
        rows, deleted, last = self._split(records, flat)
        if last is None:
            return at, high
        at = at.moved(encode_mark(last.timestamp, last.id))
        sink(PullBatch(rows=rows, deleted_ids=deleted, cursor=at))
        return at, later(high, last)

    def _bulk(self, sink: Sink, at: Cursor, high: Cursor | None, include_deleted: bool,
              since: Cursor | None) -> Cursor | None:
        """The rest of the scan by one Bulk query job; its pages keep the job's start as position."""
        for page in self.bulk.query(self.soql(_position(at), ordered=False), include_deleted=include_deleted):
            rows, deleted, last = self._split(page, flat=True)
            high = later(high, last)
            if rows or deleted:
                sink(PullBatch(rows=rows, deleted_ids=deleted, cursor=at))
        return self._complete(sink, at, high, since)

    def _complete(self, sink: Sink, at: Cursor, high: Cursor | None, since: Cursor | None) -> Cursor:
        """Commit the completed scan's cursor (not when a quiet run leaves it as it was)."""
        done = at.complete((high.timestamp, high.id) if high is not None else None)
        if done != since:
            sink(PullBatch(rows=[], deleted_ids=(), cursor=done))
        return done


def _position(at: Cursor) -> Cursor | None:
    """The (timestamp, Id) an unfinished scan got to, as a cursor to query after."""
    if at.scan is None or not at.scan.position:
        return None
    return Cursor(*decode_mark(at.scan.position))


def later(a: Cursor | None, b: Cursor | None) -> Cursor | None:
    """The later of two cursors, either possibly None."""
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)
