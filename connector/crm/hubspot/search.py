"""The CRM search endpoint used as an incremental cursor, past its 10,000-result cap.

Facts (crm-apis.md B2, Airbyte source-hubspot BEHAVIOR.md): one query returns at most
10,000 results (HubSpot answers 400 beyond), pages hold at most 200, filter values for
dates are epoch milliseconds, and search is eventually consistent, so a fresh write may be
missing for a while.

The scan therefore sorts by `hs_object_id` ascending and pages with `after`; before the
offset would pass the cap it starts a new query with `hs_object_id > last id seen`. Sorting
by id keeps the order stable while records change under the scan (a record modified
mid-scan still matches `lastmodifieddate >= since` and keeps its place), and the id filter
makes the restart exact: nothing is skipped and nothing is read twice. Records already
emitted (id <= last id) are dropped, so a retried page cannot duplicate rows. The next
run starts `overlap` before the highest modification time seen, re-reading late-indexed
writes; the mirror's upsert by id makes those re-reads harmless.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from connector.crm.hubspot.values import epoch_ms, parse_timestamp

RESULT_CAP = 10_000
MAX_PAGE = 200
ID_PROPERTY = "hs_object_id"


def last_modified_property(object_type: str) -> str:
    """Contacts use `lastmodifieddate`; every other object `hs_lastmodifieddate`."""
    return "lastmodifieddate" if object_type == "contacts" else "hs_lastmodifieddate"


def search_since(high_water: datetime | None, overlap: timedelta) -> int:
    """Epoch ms the incremental search starts at: the cursor minus the overlap window."""
    if high_water is None:
        return 0
    return max(0, epoch_ms(high_water - overlap))


@dataclass
class SearchScan:
    """Builds the request bodies of one incremental search and digests its replies.

    Usage: `while (body := scan.next_request()) is not None: rows = scan.feed(post(body))`.
    """

    modified_property: str
    since_ms: int
    properties: Sequence[str]
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

    def _filters(self) -> list[dict[str, Any]]:
        filters: list[dict[str, Any]] = [
            {"propertyName": self.modified_property, "operator": "GTE", "value": str(self.since_ms)}
        ]
        filters.extend(dict(f) for f in self.extra_filters)
        if self.last_id is not None:
            filters.append({"propertyName": ID_PROPERTY, "operator": "GT", "value": str(self.last_id)})
        return filters

    def next_request(self) -> dict[str, Any] | None:
        """The body of the next search call, or None when the scan is complete."""
        if self.done:
            return None
        props = list(dict.fromkeys([*self.properties, ID_PROPERTY, self.modified_property]))
        body: dict[str, Any] = {
            "filterGroups": [{"filters": self._filters()}],
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
        for record in reply.get("results") or []:
            rid = int(record["id"])
            if self.last_id is not None and rid <= self.last_id:
                continue
            self.last_id = rid
            self._track(record, rid)
            fresh.append(record)
        self._advance(reply, got=len(reply.get("results") or []))
        return fresh

    def _track(self, record: Mapping[str, Any], rid: int) -> None:
        moment = parse_timestamp((record.get("properties") or {}).get(self.modified_property))
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
            self.restarts += 1
            return
        self.after = str(nxt)
