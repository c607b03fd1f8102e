"""HubSpot tickets in the sandbox read as usage events through the connector (list + v4 associations)."""

from __future__ import annotations

import pandas as pd
import pytest

from connector.config import EventFeaturesConfig, HubSpotEvents
from connector.sandbox.clock import SandboxClock
from connector.sandbox.hubspot import HubSpotSandbox
from connector.usage import build_usage
from tests.connector.hubspot.test_hubspot_sandbox import START, connect


@pytest.fixture
def hs() -> HubSpotSandbox:
    return HubSpotSandbox(SandboxClock(START), tier_requests_per_10s=190)


def test_tickets_of_contacts_become_ticket_events_and_ticket_counts(hs: HubSpotSandbox) -> None:
    ada, bob = hs.store.create("contacts", [{"email": "ada@example.com"}, {"email": "bob@example.com"}])
    first = hs.store.create("tickets", [{"subject": "cannot export", "hs_pipeline": "0", "hs_pipeline_stage": "1"}])[0]
    hs.clock.advance(seconds=3 * 86_400)
    later, orphan = hs.store.create("tickets", [{"subject": "billing"}, {"subject": "nobody's"}])
    hs.store.associate("tickets", first, "contacts", ada)
    hs.store.associate("tickets", later, "contacts", ada)
    hs.store.associate("tickets", later, "contacts", bob)
    assert orphan
    conn, _ = connect(hs, events=HubSpotEvents())

    events = conn.read_events()
    assert events is not None
    assert sorted(events["customer_source_id"]) == sorted([ada, ada, bob])
    assert set(events["type"]) == {"ticket"}
    assert events["event_id"].is_unique
    when = events.set_index("event_id")["occurred_at"]
    assert (when[f"ticket/{later}/{ada}"] - when[f"ticket/{first}/{ada}"]) == pd.Timedelta(days=3)

    keyed = events.assign(customer_id=events["customer_source_id"])
    usage = build_usage(EventFeaturesConfig(types=["ticket"], windows=[2, 30]), [keyed], pd.Index([ada, bob]))
    assert usage is not None
    features = usage.features(pd.Timestamp(hs.clock.now()) + pd.Timedelta(minutes=1))
    assert features.loc[ada, ["ticket_count_2d", "ticket_count_30d"]].tolist() == [1, 2]
    assert features.loc[bob, "ticket_count_30d"] == 1
    assert connect(hs)[0].read_events() is None  # off unless configured
