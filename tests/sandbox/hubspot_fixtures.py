"""Shared helpers for the HubSpot sandbox tests: a sandbox on a frozen clock and an httpx
client mounted on its WSGI app (no sockets)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from connector.sandbox.clock import SandboxClock
from connector.sandbox.hubspot import HubSpotSandbox

START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def make_sandbox(**kwargs: Any) -> HubSpotSandbox:
    kwargs.setdefault("rate_limits", False)
    return HubSpotSandbox(SandboxClock(START), **kwargs)


def client_for(hs: HubSpotSandbox, token: str | None = None) -> httpx.Client:
    token = token or hs.credentials["token"]
    return httpx.Client(transport=httpx.WSGITransport(app=hs.app), base_url="http://hubspot.test",
                        headers={"Authorization": f"Bearer {token}"})


def seed_contacts(hs: HubSpotSandbox, n: int) -> list[str]:
    return hs.store.create("contacts", [
        {"email": f"user{i}@example.com", "firstname": f"First{i}", "lastname": f"Last{i}"} for i in range(n)])


def assert_hubspot_error(response: httpx.Response, status: int, category: str | None) -> dict[str, Any]:
    """Every HubSpot error carries status "error", a message and a correlationId (a UUID)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "error"
    assert body["message"]
    assert len(body["correlationId"]) == 36 and body["correlationId"].count("-") == 4
    if category is not None:
        assert body["category"] == category, body
    return body
