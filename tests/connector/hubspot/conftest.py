from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from connector.config import HttpConfig, HubSpotAuth, HubSpotDestination, HubSpotSource
from connector.crm.clock import ManualClock
from connector.crm.hubspot import HubSpotConnector

#: HubSpot's wall clock in these tests (pull cursors are held back relative to it).
NOW = datetime(2026, 11, 20, tzinfo=UTC)


def _default_source() -> HubSpotSource:
    return HubSpotSource(
        auth=HubSpotAuth(method="token", token=SecretStr("pat-na1-test-secret-token")),
        http=HttpConfig(concurrency=1, max_attempts=4, backoff_base_seconds=0.5),
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1000.0)


@pytest.fixture
def make_connector(clock):
    made: list[HubSpotConnector] = []

    def build(source: HubSpotSource | None = None, destination: HubSpotDestination | None = None, **kw):
        kw.setdefault("now", lambda: NOW)
        conn = HubSpotConnector(source or _default_source(), destination or HubSpotDestination(), clock=clock, **kw)
        made.append(conn)
        return conn

    yield build
    for conn in made:
        conn.close()
