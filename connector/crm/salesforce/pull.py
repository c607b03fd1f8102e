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

Deletes: incremental pulls use queryAll and select IsDeleted, so rows deleted since the
cursor come back flagged and are reported as `deleted_ids`. A row that stops matching the
configured `where` (an Opportunity no longer won) is reported as deleted too: before the
main query, a small query for rows modified since the cursor that do NOT match it.

Cursor safety: REST pages arrive in cursor order, so each page carries the cursor after its
last row. Bulk results are unordered, so every Bulk page carries the cursor from before the
job except the last, which carries the highest (timestamp, Id) seen: a crash re-reads the
job's rows next time rather than skipping some.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from connector.crm.base import Cursor, PullBatch, Sink
from connector.crm.salesforce.bulk import BulkJobs
from connector.crm.salesforce.client import SalesforceClient
from connector.crm.salesforce.records import MODSTAMP, flatten, parse_bool, row_cursor
from connector.crm.salesforce.soql import after_cursor, select


class RowMapping(Protocol):
    @property
    def sobject(self) -> str: ...

    def fields(self) -> list[str]: ...

    def record(self, row: Mapping[str, Any]) -> Any: ...


class StreamPuller:
    """Pulls one object (customers or transactions) into a sink."""

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
        """Stream every row modified after `since`; return the final cursor (or `since`)."""
        incremental = since is not None
        if since is not None and self.where:
            self._retract(sink, since)
        cursor = since
        pages = self.client.query_pages(self.soql(since), include_deleted=incremental, kind="query")
        first = next(pages)
        cursor = self._emit(sink, first.get("records", []), cursor, flat=False)
        if first.get("done", True):
            return cursor
        if first.get("totalSize", 0) > self.client.source.bulk_query_threshold:
            pages.close()  # abandon the REST locator; Bulk reads the rest from `cursor`
            return self._bulk(sink, cursor, incremental)
        for page in pages:
            cursor = self._emit(sink, page.get("records", []), cursor, flat=False)
        return cursor

    def _retract(self, sink: Sink, since: Cursor) -> None:
        """Rows changed since the cursor that no longer match `where`: gone from the stream."""
        soql = self.soql(since, ordered=False, negate_where=True, fields=["Id", MODSTAMP])
        ids = [str(r["Id"]) for r in self.client.query_records(soql, include_deleted=True, kind="query")]
        for start in range(0, len(ids), 2000):
            sink(PullBatch(rows=[], deleted_ids=ids[start : start + 2000], cursor=since))

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

    def _emit(self, sink: Sink, records: Iterable[Mapping[str, Any]], cursor: Cursor | None, *, flat: bool) -> Cursor | None:
        rows, deleted, last = self._split(records, flat)
        if last is None:
            return cursor
        sink(PullBatch(rows=rows, deleted_ids=deleted, cursor=last))
        return last

    def _bulk(self, sink: Sink, start: Cursor | None, include_deleted: bool) -> Cursor | None:
        best = start
        held: list[dict[str, str]] | None = None
        for page in self.bulk.query(self.soql(start, ordered=False), include_deleted=include_deleted):
            if held is not None:
                best = self._sink_unordered(sink, held, best, cursor=start)
            held = page
        if held is not None:
            best = self._sink_unordered(sink, held, best, cursor=None)
        return best

    def _sink_unordered(self, sink: Sink, page: list[dict[str, str]], best: Cursor | None,
                        cursor: Cursor | None) -> Cursor | None:
        """Sink a Bulk page with `cursor` (the job's start) or, for the last page, the best seen."""
        rows, deleted, last = self._split(page, flat=True)
        best = later(best, last)
        at = cursor if cursor is not None else best
        if at is not None:
            sink(PullBatch(rows=rows, deleted_ids=deleted, cursor=at))
        return best


def later(a: Cursor | None, b: Cursor | None) -> Cursor | None:
    """The later of two cursors, either possibly None."""
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)
