"""The HubSpot harness of the contract suite: the in-process HubSpot sandbox.

The transport's clock is the sandbox's clock (sleeping for pacing or a 429 moves simulated
time), so the sandbox's rate limiter stays on and nobody sleeps. Seeds and touches happen
two hours before the next pull: HubSpot pulls deliberately re-read the last
`search_overlap_minutes` (60) before each read, because search is eventually consistent;
that window is tested in tests/connector/hubspot, and kept out of the way here.
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

from pydantic import SecretStr

from connector.config import HttpConfig, HubSpotAuth, HubSpotDestination, HubSpotSource
from connector.crm.base import FieldSpec, FieldUpdate
from connector.crm.hubspot import HubSpotConnector
from connector.sandbox.clock import SandboxClock, TransportClock
from connector.sandbox.faults import FaultConfig, WSGIFaultTransport
from connector.sandbox.hubspot import HubSpotSandbox

SEGMENT_PROPERTY = "segsync_segment"
SETTLE_SECONDS = 2 * 3600


class HubSpotHarness:
    name = "hubspot"
    page_size = 100  # a list call's maximum
    # Search does not return archived records; incremental pulls list them (track_deletions).

    def __init__(self, *, faults: FaultConfig | None = None, daily_limit: int | None = None,
                 expiring_tokens: bool = False) -> None:
        self.sandbox = HubSpotSandbox(SandboxClock(datetime(2026, 3, 1, tzinfo=UTC)), faults,
                                      tier_requests_per_10s=190, daily_limit=daily_limit or 250_000)
        self.oauth = expiring_tokens  # a private app's static key never expires; OAuth tokens do
        self._n = itertools.count()
        self._connector: HubSpotConnector | None = None

    def _auth(self) -> HubSpotAuth:
        creds = self.sandbox.credentials
        if self.oauth:
            return HubSpotAuth(method="oauth", client_id=creds["client_id"], client_secret=SecretStr(creds["client_secret"]),
                               refresh_token=SecretStr(creds["refresh_token"]))
        return HubSpotAuth(method="token", token=SecretStr(creds["token"]))

    def connector(self, fresh: bool = False) -> HubSpotConnector:
        if fresh and self._connector is not None:
            self._connector.close()
            self._connector = None
        if self._connector is None:
            source = HubSpotSource(
                base_url="https://hubspot.test",
                auth=self._auth(),
                tier_requests_per_10s=190,
                http=HttpConfig(concurrency=2),
            )
            destination = HubSpotDestination(properties={"segment_name": SEGMENT_PROPERTY})
            self._connector = HubSpotConnector(
                source, destination, clock=TransportClock(self.sandbox.clock),
                transport=WSGIFaultTransport(app=self.sandbox.app), now=self.sandbox.clock.now,
            )
        return self._connector

    def _settle(self) -> None:
        self.sandbox.clock.advance(seconds=SETTLE_SECONDS)

    def seed_customers(self, n: int) -> list[str]:
        rows = []
        for _ in range(n):
            i = next(self._n)
            rows.append({"email": f"contract{i}@example.com", "lastname": f"Contract{i}"})
        ids = self.sandbox.store.create("contacts", rows)
        self._settle()
        return ids

    def seed_purchase(self, customer_id: str, amount: float, closed: date) -> str:
        [deal] = self.sandbox.store.create("deals", [{
            "dealname": "deal", "dealstage": "closedwon", "pipeline": "default",
            "amount": str(amount), "closedate": f"{closed.isoformat()}T00:00:00Z"}])
        self.sandbox.store.associate("deals", deal, "contacts", customer_id)
        self._settle()
        return deal

    def touch_customers(self, ids: list[str]) -> None:
        self.sandbox.clock.advance(seconds=60)
        for rid in ids:
            self.sandbox.store.update("contacts", rid, {"email": f"touched-{rid}@example.com"})
        self._settle()

    def delete_customer(self, customer_id: str) -> None:
        self.sandbox.clock.advance(seconds=60)
        self.sandbox.store.archive("contacts", customer_id)
        self._settle()

    def missing_id(self) -> str:
        return "999999999"

    def field_specs(self) -> list[FieldSpec]:
        return [FieldSpec("segment_name", "Segment")]

    def update_for(self, customer_id: str, segment_name: str) -> FieldUpdate:
        return FieldUpdate(customer_id, {"segment_name": segment_name})

    def read_segment_name(self, customer_id: str) -> Any:
        return self.sandbox.store.get("contacts", customer_id)["properties"].get(SEGMENT_PROPERTY)

    def injected(self) -> Counter[str]:
        return self.sandbox.faults.counts if self.sandbox.faults is not None else Counter()

    def expire_tokens(self) -> None:
        self.sandbox.expire_tokens()

    def spend_quota(self, calls: int) -> None:
        self.sandbox.limits.use(calls)

    def next_day(self) -> None:
        self.sandbox.clock.advance(days=1)

    def close(self) -> None:
        if self._connector is not None:
            self._connector.close()


HARNESS = HubSpotHarness
