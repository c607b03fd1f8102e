"""A Salesforce API session on the shared transport: versioned paths, auth, quota guard.

Every call of the connector goes through `SalesforceClient.call`, which prefixes the
versioned data path (`/services/data/v66.0`), lets the transport authenticate, retry and
count it, and lets the quota guard read `Sforce-Limit-Info` from every reply and stop the
run before the next call once the configured share of the daily limit is used.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator, Iterator, Mapping
from datetime import datetime
from typing import Any

import httpx

from connector.config import SalesforceSource
from connector.crm.auth import Authenticator
from connector.crm.clock import Clock, ServerClock
from connector.crm.counters import RequestCounter
from connector.crm.http import Transport
from connector.crm.salesforce.auth import build_authenticator
from connector.crm.salesforce.classifier import classify
from connector.crm.salesforce.limits import QuotaGuard

CRM = "salesforce"


class SalesforceClient:
    """One org, one API version, one transport."""

    def __init__(
        self,
        source: SalesforceSource,
        *,
        transport: httpx.BaseTransport | None = None,
        authenticator: Authenticator | None = None,
        clock: Clock | None = None,
        counter: RequestCounter | None = None,
        rng: random.Random | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.source = source
        self.api = f"/services/data/v{source.api_version}"
        self.guard = QuotaGuard(source.quota_stop_share, crm=CRM)
        self.authenticator = authenticator or build_authenticator(source)
        self.http = Transport(
            CRM,
            source.http,
            base_url=source.instance_url.rstrip("/"),
            authenticator=self.authenticator,
            classify=classify,
            clock=clock,
            counter=counter,
            transport=transport,
            rng=rng,
            before_request=self.guard.check,
            on_response=self._observe,
        )
        self.server_clock = ServerClock(now, self.http.clock)

    def _observe(self, response: httpx.Response) -> None:
        self.guard.observe(response)
        self.server_clock.observe(response)

    @property
    def clock(self) -> Clock:
        return self.http.clock

    def url(self, path: str) -> str:
        """`path` under the versioned data path, unless it is already a /services path."""
        return path if path.startswith("/services/") else f"{self.api}/{path.lstrip('/')}"

    def call(self, method: str, path: str, *, kind: str, **kw: Any) -> httpx.Response:
        return self.http.request(method, self.url(path), kind=kind, **kw)

    def json(self, method: str, path: str, *, kind: str, **kw: Any) -> Any:
        response = self.call(method, path, kind=kind, **kw)
        return response.json() if response.content else None

    def query_pages(
        self, soql: str, *, include_deleted: bool = False, kind: str = "query"
    ) -> Generator[dict[str, Any], None, None]:
        """REST query replies, following nextRecordsUrl until done (one page in memory)."""
        endpoint = "queryAll" if include_deleted else "query"
        headers = {"Sforce-Query-Options": f"batchSize={self.source.page_size}"}
        page = self.json("GET", endpoint, kind=kind, params={"q": soql}, headers=headers)
        while True:
            yield page
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            page = self.json("GET", next_url, kind=kind, headers=headers)

    def query_records(self, soql: str, *, include_deleted: bool = False, kind: str = "query") -> Iterator[dict[str, Any]]:
        """Every record of a REST query, streamed."""
        for page in self.query_pages(soql, include_deleted=include_deleted, kind=kind):
            yield from page.get("records", [])

    def collections(self, method: str, path: str, body: Mapping[str, Any] | None = None, *, kind: str,
                    params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """An sObject Collections call; its reply is one result per record, in input order."""
        return self.json(method, f"composite/sobjects{path}", kind=kind, json=body, params=params) or []

    def close(self) -> None:
        self.http.close()
