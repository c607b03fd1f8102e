"""The pull cursor: where an incremental source resumes, shared by every source.

A cursor is a time window's lower bound, a tie-safe (timestamp, id) pair: rows are read when
`modified > timestamp OR (modified = timestamp AND id > id)`, so ties on a timestamp are
neither skipped nor read twice. While a scan of that window is unfinished the cursor also
carries the `Scan`: which query it runs, when it started (the source's clock) and how far it
got (an opaque position: HubSpot's list `after` token, the last id a search emitted, the last
(timestamp, id) of a time-ordered scan). A crash commits pages with such a cursor; the three
rules that keep a resumed scan from losing edits (issue 23) are:

1. The lower bound does not move while a scan runs: every page of a scan carries the bound
   the scan started from, only its position moves (`Cursor.scanning`).
2. A position is valid only inside the same (window, query): a source resumes it through
   `Cursor.resumable(query)`, which yields nothing for a scan of another query, and the
   window is the cursor's own bound, so a position never outlives its window.
3. The bound advances only when a scan completes (`Cursor.complete`): to the scan's
   high-water mark, but never to or past the moment the scan *first* started minus the
   overlap window, however many runs it took. A row edited while nothing ran, below the
   resume position, is modified after that start and is read by the next scan.

Choosing the overlap. A row written at moment t must be visible to the source's query before
a scan that starts after t passes it; where the CRM cannot promise that (HubSpot's search
index lags writes; clocks skew between the CRM's servers), the overlap is the safety net: the
completed bound is held back to (scan start − overlap), so the last `overlap` of changes is
read again by the next scan, and the mirror's upsert by id absorbs the re-read rows. Pick it
longer than the worst indexing lag plus clock skew the CRM shows (HubSpot documents neither;
Estuary and Airbyte hold back about an hour, the `search_overlap_minutes` default). Sources
whose query reads the primary store in (timestamp, id) order (Salesforce's SystemModstamp,
a SQL table) use no overlap. When a resumed scan started longer ago than the overlap,
`warn_if_stale` says so: correctness does not depend on it (rule 3 holds the bound at the
first start), but every row changed since then will be read again, and an overlap shorter
than the gap between runs hints that the window was chosen for runs that are never killed.

This module is CRM-agnostic on purpose (stdlib only): Salesforce, HubSpot and any further
incremental source (a SQL table) keep their positions in the same type and the state store
persists it without knowing the source (`connector.state.mirror`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import total_ordering
from typing import Any

__all__ = ["BEGINNING", "Cursor", "Scan", "decode_mark", "encode_mark", "query_key", "utc", "warn_if_stale"]

log = logging.getLogger("segsync.cursor")

#: The lower bound of a source never pulled: a full sync.
BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)


def utc(value: datetime) -> datetime:
    """`value` as an aware UTC datetime; naive values are refused (they hide a time zone bug)."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()}: CRM timestamps must carry a zone")
    return value.astimezone(UTC)


def query_key(*parts: str) -> str:
    """A short, stable name for a query: its first part (readable) and a digest of all parts.

    Pass everything that decides which rows match (object, filters, a configured WHERE), not
    what is selected: a position is reusable as long as the set of rows it walks is the same.
    """
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]
    return f"{parts[0]}:{digest}" if parts else digest


def encode_mark(timestamp: datetime, id: str) -> str:
    """A (timestamp, id) position of a time-ordered scan as a Scan position."""
    return f"{utc(timestamp).isoformat()}|{id}"


def decode_mark(position: str) -> tuple[datetime, str]:
    """The (timestamp, id) that `encode_mark` wrote; ValueError names a malformed position."""
    stamp, sep, rid = position.partition("|")
    if not sep:
        raise ValueError(f"scan position {position!r} is not a (timestamp, id) mark")
    return utc(datetime.fromisoformat(stamp)), rid


@dataclass(frozen=True, slots=True)
class Scan:
    """An unfinished scan: its query's key, how far it got, and when it first started
    (the source's clock; None where the source cannot tell, which disables the hold-back)."""

    query: str
    position: str
    started_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.started_at is not None:
            object.__setattr__(self, "started_at", utc(self.started_at))


@total_ordering
@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a source resumes: the window's lower bound (timestamp UTC, id) and, while a scan
    of it is unfinished, that scan. Ordered by the bound alone."""

    timestamp: datetime
    id: str = ""
    scan: Scan | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "timestamp", utc(self.timestamp))

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Cursor):
            return NotImplemented
        return (self.timestamp, self.id) < (other.timestamp, other.id)

    @property
    def bound(self) -> Cursor:
        """This cursor without its scan: the window's lower bound."""
        return Cursor(self.timestamp, self.id) if self.scan is not None else self

    @property
    def full_sync(self) -> bool:
        """Whether the window starts at the beginning (nothing was ever completed)."""
        return self.timestamp == BEGINNING

    def after(self, timestamp: datetime, id: str) -> bool:
        """Whether a row at (timestamp, id) lies after the lower bound."""
        return (utc(timestamp), id) > (self.timestamp, self.id)

    def resumable(self, query: str) -> Scan | None:
        """The unfinished scan to resume when it ran `query`; None to scan the window afresh."""
        if self.scan is None or self.scan.query != query:
            return None
        return self.scan

    def scanning(self, query: str, position: str, started_at: datetime | None) -> Cursor:
        """The same window with an unfinished scan of `query` at `position` (rule 1)."""
        return Cursor(self.timestamp, self.id, Scan(query, position, started_at))

    def moved(self, position: str) -> Cursor:
        """The same unfinished scan, got as far as `position`."""
        if self.scan is None:
            raise ValueError("only a scan in progress has a position to move")
        return self.scanning(self.scan.query, position, self.scan.started_at)

    def complete(self, high: tuple[datetime, str] | None, overlap: timedelta = timedelta(0)) -> Cursor:
        """The bound after the scan finished (rule 3): its high-water mark `high`, held strictly
        before the scan's first start minus `overlap` (a row written in the very moment the
        scan passed it may have been missed), never before this window's bound."""
        cursor = Cursor(*high) if high is not None else self.bound
        started = self.scan.started_at if self.scan is not None else None
        if started is not None and cursor.timestamp >= started - overlap:
            cursor = Cursor(started - overlap, "")
        return max(cursor, self.bound)

    # ------------------------------------------------------------------ persistence

    def scan_json(self) -> str:
        """The scan as the state store keeps it ("{}" when none)."""
        if self.scan is None:
            return "{}"
        s = self.scan
        started = s.started_at.isoformat() if s.started_at is not None else None
        return json.dumps({"scan": {"query": s.query, "position": s.position, "started_at": started}}, sort_keys=True)

    @classmethod
    def stored(cls, timestamp: str, id: str, extra: str | None) -> Cursor:
        """A cursor from its stored form (`scan_json` for `extra`)."""
        data: dict[str, Any] = json.loads(extra or "{}").get("scan") or {}
        scan = None
        if data:
            started = data.get("started_at")
            scan = Scan(str(data["query"]), str(data["position"]), datetime.fromisoformat(started) if started else None)
        return cls(datetime.fromisoformat(timestamp), id, scan)


def warn_if_stale(cursor: Cursor | None, now: datetime, overlap: timedelta, *, stream: str, setting: str) -> bool:
    """Warn when resuming a scan that started longer ago than the overlap window; True if so."""
    if cursor is None or cursor.scan is None or cursor.scan.started_at is None:
        return False
    age = utc(now) - cursor.scan.started_at
    if age <= overlap:
        return False
    log.warning(
        "%s: resuming a scan that started %s ago, longer than the overlap window (%s = %s): the cursor "
        "stays before that start, so what changed since is read again by the next run; if runs are "
        "often killed or the CRM lags by more than that, raise %s",
        stream, _span(age), setting, _span(overlap), setting,
    )
    return True


def _span(value: timedelta) -> str:
    return str(timedelta(seconds=round(value.total_seconds())))
