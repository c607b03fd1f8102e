"""The CRM search endpoint used as an incremental cursor, past its 10,000-result cap.

Facts (crm-apis.md B2, Airbyte source-hubspot BEHAVIOR.md): one query returns at most
10,000 results (HubSpot answers 400 beyond), pages hold at most 200, date filter values
are epoch milliseconds, at most 5 filter groups (ORed) of 10 filters, and search is
eventually consistent: a fresh write may be missing for a while.

A scan asks for records after a tie-safe (modified, id) cursor: `modified > ts` OR
(`modified = ts` AND `hs_object_id > id`). It sorts by `hs_object_id` ascending and pages
with `after`; before the offset would pass the cap it starts a new query with
`hs_object_id > last id seen` added to every group. Sorting by id keeps the order stable
while records change under the scan (a record modified mid-scan still matches and keeps
its place), and the id filter makes the restart exact: nothing skipped, nothing read twice.
Records at or before the cursor, or at or below the last id emitted, are dropped, so a
retried page cannot duplicate rows.

Eventual consistency is handled by where the *next* cursor may go (reader.py): never past
the scan's start minus the overlap window, so the last window is read again next run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector.crm.hubspot.values import epoch_ms, parse_timestamp

RESULT_CAP = 10_000
MAX_PAGE = 200
ID_PROPERTY = "hs_object_id"


def last_modified_property(object_type: str) -> str:
    """Contacts use `lastmodifieddate`; every other object `hs_lastmodifieddate`."""
    return "lastmodifieddate" if object_type == "contacts" else "hs_lastmodifieddate"


def _filter(name: str, op: str, value: int | str) -> dict[str, Any]:
    return {"propertyName": name, "operator": op, "value": str(value)}


@dataclass
class SearchScan:
    """Builds the request bodies of one search scan and digests its replies.

    since / since_id: the cursor; with `since_id` None every record modified at or after
    `since` matches (used for date filters such as closedate).
    Usage: `while (body := scan.next_request()) is not None: rows = scan.feed(post(body))`.
    """

    modified_property: str
    since: datetime
    properties: Sequence[str]
    since_id: int | None = None
    extra_filters: Sequence[Mapping[str, Any]] = ()
    page_size: int = MAX_PAGE
    cap: int = RESULT_CAP
    last_id: int | None = None
    after: str | None = None
    done: bool = False
    pages: int = 0
    restarts: int = 0
    high_water: datetime | None = None
    high_water_id: str = ""

    def __post_init__(self) -> None:
        if not 1 <= self.page_size <= MAX_PAGE:
            raise ValueError(f"search page size must be 1..{MAX_PAGE} (got {self.page_size})")
        self._since_ms = max(0, epoch_ms(self.since))
        # The id the current query starts after: set by a restart (or a resumed scan), not
        # by every page, since `after` already moves within one query.
        self._floor_id = self.last_id

    def filter_groups(self) -> list[dict[str, Any]]:
        mod = self.modified_property
        if self.since_id is None:
            groups = [[_filter(mod, "GTE", self._since_ms)]]
        else:
            groups = [
                [_filter(mod, "GT", self._since_ms)],
                [_filter(mod, "EQ", self._since_ms), _filter(ID_PROPERTY, "GT", self.since_id)],
            ]
        tail = [dict(f) for f in self.extra_filters]
        if self._floor_id is not None:
            tail.append(_filter(ID_PROPERTY, "GT", self._floor_id))
        return [{"filters": g + tail} for g in groups]

    def next_request(self) -> dict[str, Any] | None:
        """The body of the next search call, or None when the scan is complete."""
        if self.done:
            return None
        props = list(dict.fromkeys([*self.properties, ID_PROPERTY, self.modified_property]))
        body: dict[str, Any] = {
            "filterGroups": self.filter_groups(),
            "sorts": [{"propertyName": ID_PROPERTY, "direction": "ASCENDING"}],
            "properties": props,
            "limit": self.page_size,
        }
        if self.after is not None:
            body["after"] = self.after
        return body

    def feed(self, reply: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Digest one reply; returns its records not emitted before, in id order."""
        self.pages += 1
        fresh: list[dict[str, Any]] = []
        results = reply.get("results") or []
        for record in results:
            rid = int(record["id"])
            if self.last_id is not None and rid <= self.last_id:
                continue
            self.last_id = rid
            moment = parse_timestamp((record.get("properties") or {}).get(self.modified_property))
            if not self._after_cursor(moment, rid):
                continue
            self._track(moment, rid)
            fresh.append(record)
        self._advance(reply, got=len(results))
        return fresh

    def _after_cursor(self, moment: datetime | None, rid: int) -> bool:
        if moment is None:
            return True
        ms = epoch_ms(moment)
        if self.since_id is None:
            return ms >= self._since_ms
        return ms > self._since_ms or (ms == self._since_ms and rid > self.since_id)

    def _track(self, moment: datetime | None, rid: int) -> None:
        # ids ascend within the scan, so a tie on the timestamp moves the id forward
        if moment is not None and (self.high_water is None or moment >= self.high_water):
            self.high_water = moment
            self.high_water_id = str(rid)

    def _advance(self, reply: Mapping[str, Any], got: int) -> None:
        nxt = ((reply.get("paging") or {}).get("next") or {}).get("after")
        if nxt is None or got == 0:
            self.done = True
            return
        if int(nxt) + self.page_size > self.cap:
            # The next page would pass the cap: start a new query after the last id seen.
            self.after = None
            self._floor_id = self.last_id
            self.restarts += 1
            return
        self.after = str(nxt)
