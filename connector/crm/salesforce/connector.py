"""The Salesforce implementation of the Connector protocol."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime

import httpx
import pandas as pd

from connector.config import SalesforceDestination, SalesforceSource
from connector.crm.auth import Authenticator
from connector.crm.base import (
    Cursor,
    FieldSpec,
    FieldUpdate,
    OutcomeRecord,
    ProvisionReport,
    QuotaInfo,
    RecordResult,
    Sink,
)
from connector.crm.clock import Clock
from connector.crm.counters import RequestCounter
from connector.crm.errors import ConfigurationError
from connector.crm.plugin import Accepts, WriteSpec, pull_entity
from connector.crm.salesforce.activities import read_activities
from connector.crm.salesforce.bulk import BulkJobs
from connector.crm.salesforce.campaigns import CampaignLists
from connector.crm.salesforce.client import SalesforceClient
from connector.crm.salesforce.outcomes import OutcomeReader
from connector.crm.salesforce.provisioning import FieldProvisioner
from connector.crm.salesforce.pull import StreamPuller
from connector.crm.salesforce.push import FieldWriter
from connector.crm.salesforce.records import CustomerMapping, LineItemMapping, TransactionMapping


class SalesforceConnector:
    """Pulls, pushes, Campaign lists and outcome reads for one org.

    `destination` may be None for a pull-only source; write methods then raise
    ConfigurationError. `transport` injects an httpx transport (the in-process sandbox),
    `clock` the time source, `counter` a shared RequestCounter for metrics, `now` the org's
    wall-clock time (default: the replies' Date header), which bounds how far a pull cursor
    may advance.
    """

    name = "salesforce"
    #: customers, transactions, outcomes, and line_items when the source config asks for them
    provides: frozenset[str]
    accepts = Accepts(fields=True, lists=True)
    #: The customers column that holds this CRM's record ids.
    id_column: str | None = "salesforce_id"

    def __init__(
        self,
        source: SalesforceSource,
        destination: SalesforceDestination | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        authenticator: Authenticator | None = None,
        clock: Clock | None = None,
        counter: RequestCounter | None = None,
        rng: random.Random | None = None,
        bulk: BulkJobs | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.source = source
        self.destination = destination
        self.provides = frozenset({"customers", "transactions", "outcomes",
                                   *(["line_items"] if source.line_items.enabled else []),
                                   *(["events"] if source.events is not None else [])})
        self.client = SalesforceClient(
            source, transport=transport, authenticator=authenticator, clock=clock, counter=counter, rng=rng, now=now
        )
        self.bulk = bulk or BulkJobs(self.client)
        self._customers = StreamPuller(self.client, self.bulk, CustomerMapping(source.customers), source.customers.where)
        self._transactions = StreamPuller(
            self.client, self.bulk, TransactionMapping(source.transactions), source.transactions.where
        )
        self._line_items = StreamPuller(self.client, self.bulk, LineItemMapping(source.line_items), source.line_items.where)
        dest = destination or SalesforceDestination.model_validate({"enabled": False})
        self._writer = FieldWriter(self.client, self.bulk, dest)
        self._lists = CampaignLists(self.client, dest)
        self._outcomes = OutcomeReader(self.client, source.transactions, self._lists.member_field)
        self._provisioner = FieldProvisioner(self.client, dest, self._writer)

    @property
    def counter(self) -> RequestCounter:
        return self.client.http.counter

    def _need_destination(self) -> None:
        if self.destination is None:
            raise ConfigurationError("destinations.salesforce is not configured: nothing may be written")

    # ------------------------------------------------------------------ pulls

    def pull(self, entity: str, sink: Sink, since: Cursor | None = None) -> Cursor | None:
        pulls = {"customers": self.pull_customers, "transactions": self.pull_transactions,
                 "line_items": self.pull_line_items}
        return pull_entity(self.name, {e: pulls[e] for e in self.provides if e in pulls}, entity, sink, since)

    def pull_customers(self, sink: Sink, since: Cursor | None = None) -> Cursor | None:
        return self._customers.pull(sink, since)

    def pull_transactions(self, sink: Sink, since: Cursor | None = None) -> Cursor | None:
        return self._transactions.pull(sink, since)

    def pull_line_items(self, sink: Sink, since: Cursor | None = None) -> Cursor | None:
        """OpportunityLineItem with Product2, incremental like the other pulls (None when off)."""
        if not self.source.line_items.enabled:
            return None
        return self._line_items.pull(sink, since)

    def read_events(self) -> pd.DataFrame | None:
        """Tasks and Cases as canonical events keyed by Contact Id (sources.salesforce.events), read
        whole; None when not configured."""
        if self.source.events is None:
            return None
        return read_activities(self.client, self.source.events)

    # ------------------------------------------------------------------ writes

    def write_spec(self) -> WriteSpec | None:
        d = self.destination
        if d is None:
            return None
        # by Id unless told to upsert on the External ID; either way segsync stamps its key there
        fields = {**d.fields, "customer_id": d.external_id_field} if d.external_id_field else dict(d.fields)
        return WriteSpec(fields, "customer_id" if d.match == "external_id" else "id", d.lists if d.lists.enabled else None)

    def provision(self, fields: Sequence[FieldSpec]) -> ProvisionReport:
        self._need_destination()
        return self._provisioner.provision(fields)

    def push_updates(self, updates: Iterable[FieldUpdate]) -> Iterator[RecordResult]:
        self._need_destination()
        return self._writer.push(updates)

    def ensure_list(self, name: str) -> str:
        self._need_destination()
        return self._lists.ensure(name)

    def list_members(self, list_id: str) -> set[str]:
        return self._lists.members(list_id)

    def add_members(self, list_id: str, record_ids: Iterable[str]) -> Iterator[RecordResult]:
        self._need_destination()
        return self._lists.add(list_id, record_ids)

    def remove_members(self, list_id: str, record_ids: Iterable[str]) -> Iterator[RecordResult]:
        self._need_destination()
        return self._lists.remove(list_id, record_ids)

    # ------------------------------------------------------------------ reads

    def read_outcomes(self, lists: Mapping[str, Sequence[str]], since: date) -> Iterator[OutcomeRecord]:
        return self._outcomes.read(lists, since)

    def quota(self) -> QuotaInfo:
        return self.client.guard.info()

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> SalesforceConnector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
