"""HubSpotConnector: the Connector protocol (connector.crm.base) for HubSpot."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pandas as pd

from connector.config import HubSpotDestination, HubSpotSource
from connector.crm.base import (
    Cursor,
    CustomerRecord,
    FieldSpec,
    FieldUpdate,
    LineItemRecord,
    OutcomeRecord,
    ProvisionReport,
    PullBatch,
    QuotaInfo,
    RecordResult,
    Sink,
    TransactionRecord,
)
from connector.crm.clock import Clock
from connector.crm.counters import RequestCounter
from connector.crm.errors import ConfigurationError
from connector.crm.hubspot import outcomes, provision
from connector.crm.hubspot.api import HubSpotApi
from connector.crm.hubspot.associations import associated_ids
from connector.crm.hubspot.classifier import CRM
from connector.crm.hubspot.lists import MembershipOutcome
from connector.crm.hubspot.membership import ListManager
from connector.crm.hubspot.reader import ObjectReader, Page
from connector.crm.hubspot.records import (
    CONTACT_CORE,
    DEAL_PROPERTIES,
    LINE_ITEM_PROPERTIES,
    customer_record,
    is_won,
    line_item_records,
    transaction_records,
)
from connector.crm.hubspot.tickets import read_tickets
from connector.crm.hubspot.writes import PropertyWriter
from connector.crm.plugin import Accepts, WriteSpec, pull_entity

log = logging.getLogger("segsync.hubspot")


class HubSpotConnector:
    """Contacts and won deals in; properties and static list memberships out.

    source: credentials, API version, rate tier and what to pull.
    destination: how to write (None for a pull-only configuration).
    clock / transport / counter: injected by tests and benchmarks (the sandbox's WSGI app
    behind `httpx.WSGITransport`, a ManualClock so pacing never sleeps for real).
    now: HubSpot's wall-clock time (default: the replies' Date header), which bounds how far
    a pull cursor may advance.
    """

    name = CRM
    #: customers, transactions, outcomes, and line_items when the source config asks for them
    provides: frozenset[str]
    accepts = Accepts(fields=True, lists=True)
    #: The customers column that holds this CRM's record ids.
    id_column: str | None = "hubspot_id"

    def __init__(
        self,
        source: HubSpotSource,
        destination: HubSpotDestination | None = None,
        *,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
        counter: RequestCounter | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.source = source
        self.destination = destination
        self.provides = frozenset({"customers", "transactions", "outcomes",
                                   *(["line_items"] if source.line_items.enabled else []),
                                   *(["events"] if source.events is not None else [])})
        self.api = HubSpotApi(source, clock=clock, counter=counter, transport=transport, now=now)
        self.lists = ListManager(self.api)
        self._writer = PropertyWriter(self.api, destination) if destination is not None else None
        self.skipped: dict[str, int] = {}
        overlap = timedelta(minutes=source.search_overlap_minutes)
        contact_props = [*CONTACT_CORE, *source.contact_properties, *source.attributes.values()]
        self._contacts = ObjectReader(self.api, "contacts", contact_props, overlap)
        self._deals = ObjectReader(self.api, "deals", DEAL_PROPERTIES, overlap)
        category = source.line_items.category_property
        self._line_items = ObjectReader(self.api, "line_items", [*LINE_ITEM_PROPERTIES, *([category] if category else [])],
                                        overlap)

    @property
    def counter(self) -> RequestCounter:
        return self.api.transport.counter

    # ------------------------------------------------------------------ pulls

    def pull(self, entity: str, sink: Sink, since: Cursor | None = None) -> Cursor | None:
        pulls = {"customers": self.pull_customers, "transactions": self.pull_transactions,
                 "line_items": self.pull_line_items}
        return pull_entity(self.name, {e: pulls[e] for e in self.provides if e in pulls}, entity, sink, since)

    def pull_customers(self, sink: Sink, since: Cursor | None = None) -> Cursor | None:
        def rows(page: Page) -> tuple[list[CustomerRecord], list[str]]:
            out: list[CustomerRecord] = []
            for record in page.records:
                row = customer_record(record, self.source.attributes)
                if row is None:
                    self.skipped["contact_without_dates"] = self.skipped.get("contact_without_dates", 0) + 1
                else:
                    out.append(row)
            return out, []

        return self._pull(self._contacts, sink, since, rows)

    def pull_transactions(self, sink: Sink, since: Cursor | None = None) -> Cursor | None:
        def rows(page: Page) -> tuple[list[TransactionRecord], list[str]]:
            won = [d for d in page.records if is_won(d)]
            # A deal seen by an incremental read that is no longer won (reopened, lost) must
            # leave the mirror if it was a transaction before.
            gone = [str(d["id"]) for d in page.records if not is_won(d)] if page.incremental else []
            contacts = associated_ids(self.api, "deals", "contacts", [str(d["id"]) for d in won]) if won else {}
            return list(transaction_records(won, contacts, self.skipped)), gone

        last = self._pull(self._deals, sink, since, rows)
        if self.skipped:
            log.warning("hubspot: incomplete deals by reason (quarantined with the reason, not dropped): %s", self.skipped)
        return last

    def pull_line_items(self, sink: Sink, since: Cursor | None = None) -> Cursor | None:
        """Line items with the deal each belongs to (v4 associations, one batch read per page),
        incremental by hs_lastmodifieddate like deals (None when not configured)."""
        if not self.source.line_items.enabled:
            return None
        category = self.source.line_items.category_property

        def rows(page: Page) -> tuple[list[LineItemRecord], list[str]]:
            ids = [str(r["id"]) for r in page.records]
            deals = associated_ids(self.api, "line_items", "deals", ids) if ids else {}
            return list(line_item_records(page.records, deals, category)), []

        return self._pull(self._line_items, sink, since, rows)

    def read_events(self) -> pd.DataFrame | None:
        """Tickets as canonical events keyed by contact id (sources.hubspot.events), read whole;
        None when not configured."""
        if self.source.events is None:
            return None
        reader = ObjectReader(self.api, "tickets", ["subject", "createdate"], timedelta(0))
        return read_tickets(reader, self.source.events)

    def _pull(self, reader: ObjectReader, sink: Sink, since: Cursor | None,
              rows: Callable[[Page], tuple[Sequence[Any], list[str]]]) -> Cursor | None:
        """Sink each page with its scan-in-progress cursor; after an incremental scan, the
        records archived in its window; then the completed cursor, so a crash anywhere before
        resumes the same scan and the window's bound moves only once everything is stored."""
        at, done = since, None
        for page in reader.pages(since):
            found, gone = rows(page)
            if page.done is not None and not (page.incremental and self.source.track_deletions):
                sink(PullBatch(rows=found, deleted_ids=gone, cursor=page.done))
                return page.done
            if page.records:
                sink(PullBatch(rows=found, deleted_ids=gone, cursor=page.cursor))
            at, done = page.cursor, page.done
        if done is None or at is None:
            return at
        for ids in reader.archived_since(at.timestamp):  # the window's bound: kept by every page
            if ids:
                sink(PullBatch(rows=[], deleted_ids=ids, cursor=at))
        sink(PullBatch(rows=[], deleted_ids=(), cursor=done))
        return done

    # ------------------------------------------------------------------ writes

    def write_spec(self) -> WriteSpec | None:
        d = self.destination
        if d is None:
            return None
        # by email: upsert on the contact's email as HubSpot holds it (the identity-normalised
        # one may differ, strip_plus_tags, and would create a second contact)
        return WriteSpec(dict(d.properties), "email" if d.match == "email" else "id", d.lists if d.lists.enabled else None)

    def _require_writer(self) -> PropertyWriter:
        if self._writer is None:
            raise ConfigurationError("destinations.hubspot is not configured: nothing may be written to HubSpot")
        return self._writer

    def provision(self, fields: Sequence[FieldSpec]) -> ProvisionReport:
        writer = self._require_writer()
        report, types = provision.provision(self.api, writer.destination, fields)
        writer.types.update(types)
        return report

    def push_updates(self, updates: Iterable[FieldUpdate]) -> Iterator[RecordResult]:
        return self._require_writer().push(updates)

    # ------------------------------------------------------------------ lists

    def ensure_list(self, name: str) -> str:
        return self.lists.ensure_list(name)

    def list_members(self, list_id: str) -> set[str]:
        return self.lists.members(list_id)

    def add_members(self, list_id: str, record_ids: Iterable[str]) -> Iterator[RecordResult]:
        return self.lists.results(list_id, record_ids, add=True)

    def remove_members(self, list_id: str, record_ids: Iterable[str]) -> Iterator[RecordResult]:
        return self.lists.results(list_id, record_ids, add=False)

    def change_members(self, list_id: str, to_add: Sequence[str], to_remove: Sequence[str]) -> MembershipOutcome:
        """Adds and removals in shared add-and-remove calls (fewer calls than add, then remove)."""
        return self.lists.change(list_id, to_add, to_remove)

    def change_member_results(
        self, list_id: str, to_add: Sequence[str], to_remove: Sequence[str]
    ) -> tuple[list[RecordResult], list[RecordResult]]:
        """(results of the adds, results of the removals) from shared add-and-remove calls.

        A missing id is refused on an add (the contact does not exist) and a success on a
        removal (it is not a member), as in add_members / remove_members.
        """
        out = self.change_members(list_id, to_add, to_remove)
        missing = set(out.missing)
        adds = [RecordResult(i, True, crm_id=i) for i in out.added if i in set(map(str, to_add))]
        adds += [RecordResult(i, False, crm_id=i, error_code="OBJECT_NOT_FOUND", message="no such HubSpot contact (deleted?)")
                 for i in dict.fromkeys(map(str, to_add)) if i in missing]
        removes = [RecordResult(i, True, crm_id=i) for i in out.removed if i in set(map(str, to_remove))]
        removes += [RecordResult(i, True, crm_id=i) for i in dict.fromkeys(map(str, to_remove)) if i in missing]
        return adds, removes

    # ------------------------------------------------------------------ outcomes, quota

    def read_outcomes(self, lists: Mapping[str, Sequence[str]], since: date) -> Iterator[OutcomeRecord]:
        return outcomes.read_outcomes(self.api, self.lists, lists, since)

    def quota(self) -> QuotaInfo:
        return self.api.quota()

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> HubSpotConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
