"""Incremental sources on the sandboxes, as the kill-and-resume property tests drive them.

Each `ResumeSource` owns one sandbox on an injected `SandboxClock`, builds a fresh connector
per run (a run is a new process after a kill -9), applies edits the way a CRM user would (by
the lowest, highest or any id; ties on the modification time when the clock does not move),
and reads both sides: the CRM's live records and the mirror, as {id: value}.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import SecretStr

from connector.config import HttpConfig, HubSpotAuth, HubSpotSource, SalesforceSource
from connector.crm.base import PullBatch
from connector.crm.hubspot import HubSpotConnector
from connector.crm.salesforce import SalesforceConnector
from connector.sandbox.clock import SandboxClock, TransportClock
from connector.sandbox.hubspot import HubSpotSandbox
from connector.sandbox.salesforce import SalesforceSandbox
from connector.state import StateStore

START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
Pull = Callable[[Callable[[PullBatch], None], Any], Any]


class ResumeSource:
    """One stream of one CRM. Subclasses name the stream and implement the CRM's side."""

    name = ""
    stream = "customers"

    def __init__(self) -> None:
        self.clock = SandboxClock(START)
        self.version = 0

    # the CRM's side
    def seed(self, n: int) -> None: ...
    def ids(self) -> list[str]: ...
    def create(self) -> None: ...
    def change(self, rid: str) -> None: ...
    def delete(self, rid: str) -> None: ...
    def crm(self) -> dict[str, str]: ...
    def pull(self) -> Pull: ...

    def pick(self, where: float) -> str | None:
        """The live id at `where` in id order: 0 the lowest, 1 the highest."""
        ids = self.ids()
        return ids[round(where * (len(ids) - 1))] if ids else None

    def mirror(self, store: StateStore) -> dict[str, str]:
        if self.stream == "customers":
            frame = store.mirror.customers(self.name)
            return dict(zip(frame["source_id"], frame["email"], strict=True))
        frame = store.mirror.transactions(self.name)
        return {k: f"{float(v):.2f}" for k, v in zip(frame["source_id"], frame["amount"], strict=True)}


class HubSpotStream(ResumeSource):
    """HubSpot contacts or deals, paged 10 at a time so small populations make many pages."""

    name = "hubspot"

    def __init__(self, stream: str, overlap_minutes: int = 1) -> None:
        super().__init__()
        self.stream = stream
        self.kind = "contacts" if stream == "customers" else "deals"
        self.hs = HubSpotSandbox(self.clock, tier_requests_per_10s=190, rate_limits=False)
        self.overlap = overlap_minutes

    def _values(self) -> dict[str, str]:
        self.version += 1
        if self.kind == "contacts":
            return {"email": f"v{self.version}@x.com"}
        return {"dealname": f"d{self.version}", "dealstage": "closedwon", "pipeline": "default",
                "closedate": "2026-05-20T00:00:00Z", "amount": f"{self.version}.25"}

    def seed(self, n: int) -> None:
        self.hs.store.create(self.kind, [self._values() for _ in range(n)])

    def ids(self) -> list[str]:
        return sorted((str(r["id"]) for r in self.hs.store.records(self.kind)), key=int)

    def create(self) -> None:
        self.hs.store.create(self.kind, [self._values()])

    def change(self, rid: str) -> None:
        values = self._values()
        if self.kind == "deals" and self.version % 4 == 0:
            values["dealstage"] = "closedlost"  # no longer a purchase: must leave the mirror
        self.hs.store.update(self.kind, rid, values)

    def delete(self, rid: str) -> None:
        self.hs.store.archive(self.kind, rid)

    def crm(self) -> dict[str, str]:
        out = {}
        for r in self.hs.store.records(self.kind):
            p = r["properties"]
            if self.kind == "contacts":
                out[str(r["id"])] = p["email"]
            elif p.get("dealstage") == "closedwon":
                out[str(r["id"])] = f"{float(p['amount']):.2f}"
        return out

    def pull(self) -> Pull:
        source = HubSpotSource(base_url="https://hubspot.test", auth=HubSpotAuth(method="token", token=SecretStr(self.hs.credentials["token"])),
                               tier_requests_per_10s=190, search_overlap_minutes=self.overlap, http=HttpConfig(concurrency=1))
        conn = HubSpotConnector(source, clock=TransportClock(self.clock), transport=httpx.WSGITransport(app=self.hs.app),
                                now=self.clock.now)
        for reader in (conn._contacts, conn._deals):
            reader.list_page = reader.search_page = 10
        return conn.pull_customers if self.stream == "customers" else conn.pull_transactions


class SalesforceStream(ResumeSource):
    """Salesforce Contacts or won Opportunities: REST pages of 200, or Bulk 2.0 above
    `bulk_query_threshold` with result pages of `bulk_page` rows."""

    name = "salesforce"

    def __init__(self, stream: str, *, bulk_query_threshold: int = 10_000, bulk_page: int = 50_000) -> None:
        super().__init__()
        self.stream = stream
        self.sobject = "Contact" if stream == "customers" else "Opportunity"
        self.sf = SalesforceSandbox(clock=self.clock)
        self.threshold, self.bulk_page = bulk_query_threshold, bulk_page

    def _values(self) -> dict[str, Any]:
        self.version += 1
        if self.sobject == "Contact":
            return {"LastName": f"C{self.version}", "Email": f"v{self.version}@x.com"}
        return {"Name": f"o{self.version}", "StageName": "Closed Won", "CloseDate": "2026-05-20",
                "Amount": self.version + 0.25}

    def seed(self, n: int) -> None:
        self.sf.store.insert(self.sobject, [self._values() for _ in range(n)])

    def ids(self) -> list[str]:
        return sorted(r["Id"] for r in self.sf.store.records(self.sobject))

    def create(self) -> None:
        self.sf.store.insert(self.sobject, [self._values()])

    def change(self, rid: str) -> None:
        values = self._values()
        if self.sobject == "Opportunity" and self.version % 4 == 0:
            values["StageName"] = "Closed Lost"  # stops matching `IsWon = true`: must leave the mirror
        values.pop("LastName", None)
        self.sf.store.update(self.sobject, rid, values)

    def delete(self, rid: str) -> None:
        self.sf.store.delete(self.sobject, rid)

    def crm(self) -> dict[str, str]:
        if self.sobject == "Contact":
            return {r["Id"]: r["Email"] for r in self.sf.store.records("Contact")}
        return {r["Id"]: f"{float(r['Amount']):.2f}" for r in self.sf.store.records("Opportunity") if r["IsWon"]}

    def pull(self) -> Pull:
        creds = self.sf.credentials
        source = SalesforceSource.model_validate({
            "instance_url": creds["instance_url"], "login_url": creds["login_url"],
            "auth": {"method": "client_credentials", "client_id": creds["client_id"], "client_secret": creds["client_secret"]},
            "page_size": 200, "bulk_query_threshold": self.threshold, "http": {"concurrency": 1},
        })
        conn = SalesforceConnector(source, clock=TransportClock(self.clock), transport=httpx.WSGITransport(app=self.sf.app),
                                   now=self.clock.now)
        conn.bulk.results_page = self.bulk_page
        conn.bulk.poll_initial = 0.001
        return conn.pull_customers if self.stream == "customers" else conn.pull_transactions
