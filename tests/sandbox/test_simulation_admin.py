"""The admin routes: advance days and read the truth over HTTP, beside (never inside) the CRM API."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from connector.sandbox.admin import admin_app, mount_admin
from connector.sandbox.clock import SandboxClock
from connector.sandbox.hubspot import HubSpotSandbox
from connector.sandbox.simulation import Simulation

START = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def sim_and_hs():
    hs = HubSpotSandbox(SandboxClock(START), rate_limits=False)
    sim = Simulation.synthetic(300, "default", hubspot=hs, history_days=90, random_state=4)
    return sim, hs


def _client(app) -> httpx.Client:
    return httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://127.0.0.1")


def test_advance_moves_the_shared_clock_and_creates_that_days_deals(sim_and_hs):
    sim, hs = sim_and_hs
    api = _client(admin_app(sim))
    deals_before = len(hs.store.rows["deals"])
    r = api.post("/__sandbox/advance", params={"days": 3})
    assert r.status_code == 200
    body = r.json()
    assert body["day"] == 3 and body["now"] == "2026-03-04T00:00:00+00:00"
    assert hs.clock.now() == datetime(2026, 3, 4, tzinfo=UTC)
    assert len(hs.store.rows["deals"]) - deals_before == body["purchases"]
    assert api.get("/__sandbox/clock").json() == {"now": "2026-03-04T00:00:00+00:00", "day": 3}
    assert api.post("/__sandbox/advance").json()["day"] == 4  # one day by default


def test_truth_routes_serve_the_latent_segments(sim_and_hs):
    sim, _ = sim_and_hs
    api = _client(admin_app(sim))
    summary = api.get("/__sandbox/truth").json()
    assert summary["scenario"] == "default" and summary["customers"] == 300
    assert [s["segment"] for s in summary["segments"]] == ["loyal", "regular", "lapsing"]
    assert sum(s["customers"] for s in summary["segments"]) == 300
    rows = api.get("/__sandbox/truth/customers", params={"offset": 10, "limit": 5}).json()
    expected = sim.truth().iloc[10:15]
    assert [r["customer_id"] for r in rows] == list(expected["customer_id"])
    assert [r["segment"] for r in rows] == list(expected["segment"].astype(str))
    assert [r["hubspot_id"] for r in rows] == list(expected["hubspot_id"])
    assert all(r["arm_kind"] == "none" and r["expected_conversion_effect"] is None for r in rows)


@pytest.mark.parametrize(("method", "path", "status", "needle"), [
    ("GET", "/__sandbox/advance", 405, "takes POST"),
    ("POST", "/__sandbox/advance?days=-1", 400, "between 0 and 3650"),
    ("POST", "/__sandbox/advance?days=two", 400, "must be an integer"),
    ("GET", "/__sandbox/nothing", 404, "no admin route"),
    ("GET", "/__sandbox/truth/customers?limit=0", 400, "limit"),
])
def test_bad_admin_requests_get_clear_errors(sim_and_hs, method, path, status, needle):
    sim, _ = sim_and_hs
    r = _client(admin_app(sim)).request(method, path)
    assert r.status_code == status and needle in r.json()["error"]
    assert sim.day == 0


def test_mounted_in_front_of_an_emulator_only_admin_paths_are_taken(sim_and_hs):
    sim, hs = sim_and_hs
    api = _client(mount_admin(sim, hs.app))
    assert api.post("/__sandbox/advance", params={"days": 1}).status_code == 200
    crm = api.get("/crm/v3/objects/contacts", params={"limit": 2, "properties": "email"},
                  headers={"Authorization": f"Bearer {hs.credentials['token']}"})
    assert crm.status_code == 200 and len(crm.json()["results"]) == 2
    # the CRM API knows nothing of the latent truth
    record = hs.store.get("contacts", crm.json()["results"][0]["id"])
    assert not {"loyal", "regular", "lapsing"} & set(map(str, record["properties"].values()))
