"""Shared pieces for the Salesforce connector tests (respx and sandbox)."""

from __future__ import annotations

import json
import random
from typing import Any

import httpx

from connector.config import SalesforceDestination, SalesforceSource
from connector.crm.base import PullBatch
from connector.crm.clock import ManualClock
from connector.crm.salesforce import SalesforceConnector

INSTANCE = "https://acme.my.salesforce.com"
API = f"{INSTANCE}/services/data/v66.0"
TOKEN_URL = f"{INSTANCE}/services/oauth2/token"
LIMIT_HEADER = {"Sforce-Limit-Info": "api-usage=10/100000; api-bursts=0/750"}


def source(**overrides: Any) -> SalesforceSource:
    data: dict[str, Any] = {
        "instance_url": INSTANCE,
        "auth": {"method": "client_credentials", "client_id": "3MVG9key", "client_secret": "shh-secret"},
        "http": {"max_attempts": 4, "max_wait_seconds": 120, "concurrency": 1},
    }
    data.update(overrides)
    return SalesforceSource.model_validate(data)


def destination(**overrides: Any) -> SalesforceDestination:
    return SalesforceDestination.model_validate(overrides)


def connector(src: SalesforceSource | None = None, dest: SalesforceDestination | None = None,
              **kw: Any) -> SalesforceConnector:
    kw.setdefault("clock", ManualClock())
    kw.setdefault("rng", random.Random(0))
    return SalesforceConnector(src or source(), dest, **kw)


def token_reply(n: int = 1) -> httpx.Response:
    return httpx.Response(200, json={"access_token": f"00Dtok{n}", "instance_url": INSTANCE, "token_type": "Bearer",
                                     "id": "https://login.salesforce.com/id/00D/005", "issued_at": "1", "signature": "x"})


def session_expired() -> httpx.Response:
    return httpx.Response(401, json=[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])


def body(call: Any) -> Any:
    return json.loads(call.request.content)


class ListSink:
    """Collects pull batches."""

    def __init__(self) -> None:
        self.batches: list[PullBatch] = []

    def __call__(self, batch: PullBatch) -> None:
        self.batches.append(batch)

    @property
    def rows(self) -> list[Any]:
        return [r for b in self.batches for r in b.rows]

    @property
    def deleted(self) -> list[str]:
        return [i for b in self.batches for i in b.deleted_ids]
