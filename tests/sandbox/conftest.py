"""Shared sandbox fixtures: a frozen clock, and a Salesforce sandbox with a logged-in client
mounted in-process (no sockets). HubSpot's helpers live in hubspot_fixtures.py."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from connector.sandbox.clock import SandboxClock
from connector.sandbox.faults import WSGIFaultTransport
from connector.sandbox.salesforce import SalesforceSandbox

START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
VERSION = "66.0"


@pytest.fixture
def clock() -> SandboxClock:
    return SandboxClock(START)


class SfApi:
    """httpx client on a Salesforce sandbox; paths are relative to /services/data/vXX.X/."""

    def __init__(self, sb: SalesforceSandbox, token: str | None = None) -> None:
        self.sb = sb
        self.http = httpx.Client(transport=WSGIFaultTransport(app=sb.app),
                                 base_url="https://segsync-sandbox.my.salesforce.com")
        self.token = token or self.login()

    def login(self) -> str:
        c = self.sb.credentials
        r = self.http.post("/services/oauth2/token", data={
            "grant_type": "password", "client_id": c["client_id"],
            "client_secret": c["client_secret"], "username": c["username"],
            "password": c["password"] + c["security_token"]})
        assert r.status_code == 200, r.text
        return r.json()["access_token"]

    def __call__(self, method: str, path: str, version: str = VERSION, **kw) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kw.pop("headers", {})}
        url = path if path.startswith("/") else f"/services/data/v{version}/{path}"
        return self.http.request(method, url, headers=headers, **kw)

    def query(self, soql: str, **kw) -> httpx.Response:
        return self("GET", "query", params={"q": soql}, **kw)


@pytest.fixture
def sf(clock: SandboxClock) -> SalesforceSandbox:
    return SalesforceSandbox(clock=clock, custom_fields={"Contact": [
        {"name": "Ext_Id__c", "type": "Text", "length": 40, "externalId": True, "unique": True},
        {"name": "Segment__c", "type": "Text", "length": 80}]})


@pytest.fixture
def api(sf: SalesforceSandbox) -> SfApi:
    return SfApi(sf)
