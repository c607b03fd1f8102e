"""The Salesforce harness of the contract suite: the in-process Salesforce sandbox."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

from connector.config import SalesforceDestination, SalesforceSource
from connector.crm.base import FieldSpec, FieldUpdate
from connector.crm.clock import ManualClock
from connector.crm.salesforce import SalesforceConnector
from connector.sandbox.clock import SandboxClock
from connector.sandbox.faults import FaultConfig, WSGIFaultTransport
from connector.sandbox.salesforce import SalesforceSandbox

SEGMENT_FIELD = "Segsync_Segment__c"


class SalesforceHarness:
    name = "salesforce"
    page_size = 200

    def __init__(self, *, faults: FaultConfig | None = None, daily_limit: int | None = None,
                 expiring_tokens: bool = False) -> None:
        # sessions always expire in Salesforce: expiring_tokens changes nothing here
        self.sandbox = SalesforceSandbox(clock=SandboxClock(datetime(2026, 3, 1, tzinfo=UTC)), faults=faults,
                                         daily_api_limit=daily_limit or 100_000)
        self._n = itertools.count()
        self._connector: SalesforceConnector | None = None

    def connector(self, fresh: bool = False) -> SalesforceConnector:
        if fresh and self._connector is not None:
            self._connector.close()
            self._connector = None
        if self._connector is None:
            creds = self.sandbox.credentials
            source = SalesforceSource.model_validate({
                "instance_url": creds["instance_url"], "login_url": creds["login_url"],
                "auth": {"method": "client_credentials", "client_id": creds["client_id"],
                         "client_secret": creds["client_secret"]},
                "page_size": self.page_size, "http": {"concurrency": 2}, "quota_stop_share": 1.0,
            })
            destination = SalesforceDestination(fields={"segment_name": SEGMENT_FIELD}, create_missing_fields=True)
            self._connector = SalesforceConnector(source, destination, clock=ManualClock(), now=self.sandbox.clock.now,
                                                  transport=WSGIFaultTransport(app=self.sandbox.app))
        return self._connector

    def seed_customers(self, n: int) -> list[str]:
        rows = []
        for _ in range(n):
            i = next(self._n)
            rows.append({"LastName": f"Contract{i}", "Email": f"contract{i}@example.com"})
        ids = self.sandbox.store.insert("Contact", rows)
        # the data predates the pulls: a row written in the very millisecond a scan starts is
        # read again by the next scan (connector.cursor), which a quiet run must not show
        self.sandbox.clock.advance(seconds=1)
        return ids

    def seed_purchase(self, customer_id: str, amount: float, closed: date) -> str:
        [oid] = self.sandbox.store.insert("Opportunity", [{
            "Name": "deal", "StageName": "Closed Won", "CloseDate": closed.isoformat(),
            "Amount": amount, "ContactId": customer_id}])
        return oid

    def touch_customers(self, ids: list[str]) -> None:
        self.sandbox.clock.advance(seconds=60)
        for rid in ids:
            self.sandbox.store.update("Contact", rid, {"Email": f"touched-{rid.lower()}@example.com"})

    def delete_customer(self, customer_id: str) -> None:
        self.sandbox.clock.advance(seconds=60)
        self.sandbox.store.delete("Contact", customer_id)

    def missing_id(self) -> str:
        return "003000000000000ZZZ"

    def field_specs(self) -> list[FieldSpec]:
        return [FieldSpec("segment_name", "Segment")]

    def update_for(self, customer_id: str, segment_name: str) -> FieldUpdate:
        return FieldUpdate(customer_id, {"segment_name": segment_name})

    def read_segment_name(self, customer_id: str) -> Any:
        return self.sandbox.store.get("Contact", customer_id).get(SEGMENT_FIELD)

    def injected(self) -> Counter[str]:
        return self.sandbox.faults.counts if self.sandbox.faults is not None else Counter()

    def expire_tokens(self) -> None:
        self.sandbox.expire_sessions()

    def spend_quota(self, calls: int) -> None:
        self.sandbox.limits.use(calls)

    def next_day(self) -> None:
        self.sandbox.clock.advance(days=1, seconds=60)  # the 24-hour window rolls past every call

    def close(self) -> None:
        if self._connector is not None:
            self._connector.close()


HARNESS = SalesforceHarness
