"""Tokens (static and OAuth refresh on both paths), expiry, rate limits and injected faults."""

from __future__ import annotations

import httpx
import pytest

from connector.sandbox.faults import FaultConfig, WSGIFaultTransport
from tests.sandbox.hubspot_fixtures import assert_hubspot_error, client_for, make_sandbox


def refresh(api: httpx.Client, hs, path: str = "/oauth/v1/token", **changes: str) -> httpx.Response:
    form = {"grant_type": "refresh_token", "client_id": hs.credentials["client_id"],
            "client_secret": hs.credentials["client_secret"],
            "refresh_token": hs.credentials["refresh_token"]} | changes
    return api.post(path, data=form)


@pytest.mark.parametrize("path", ["/oauth/v1/token", "/oauth/2026-03/token"])
def test_refresh_then_token_expires_after_1800_seconds(path):
    hs = make_sandbox()
    with client_for(hs, token="none") as api:
        r = refresh(api, hs, path)
        assert r.status_code == 200
        body = r.json()
        assert set(body) == {"access_token", "refresh_token", "expires_in", "token_type"}
        assert body["expires_in"] == 1800 and body["token_type"] == "bearer"
        assert body["refresh_token"] == hs.credentials["refresh_token"]  # does not rotate
        auth = {"Authorization": f"Bearer {body['access_token']}"}
        assert api.get("/crm/v3/objects/contacts", headers=auth).status_code == 200
        hs.clock.advance(seconds=1799)
        assert api.get("/crm/v3/objects/contacts", headers=auth).status_code == 200
        hs.clock.advance(seconds=76)
        expired = assert_hubspot_error(api.get("/crm/v3/objects/contacts", headers=auth), 401,
                                       "EXPIRED_AUTHENTICATION")
        assert expired["message"] == "The OAuth token used to make this call expired 75 second(s) ago."


def test_bad_refresh_token_and_bad_bearer():
    hs = make_sandbox()
    with client_for(hs, token="pat-na1-wrong") as api:
        bad = refresh(api, hs, refresh_token="stolen")
        assert bad.status_code == 400
        assert bad.json()["status"] == "BAD_REFRESH_TOKEN" and bad.json()["error"] == "invalid_grant"
        assert refresh(api, hs, client_secret="x").json()["status"] == "BAD_CLIENT_SECRET"
        assert_hubspot_error(api.get("/crm/v3/objects/contacts"), 401, "INVALID_AUTHENTICATION")
        assert_hubspot_error(api.get("/crm/v3/objects/contacts", headers={"Authorization": ""}), 401,
                             "INVALID_AUTHENTICATION")


def test_ten_second_rolling_window_and_headers():
    hs = make_sandbox(rate_limits=True, tier_requests_per_10s=100, daily_limit=1000)
    with client_for(hs) as api:
        first = api.get("/crm/v3/objects/contacts")
        assert first.headers["X-HubSpot-RateLimit-Max"] == "100"
        assert first.headers["X-HubSpot-RateLimit-Remaining"] == "99"
        assert first.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
        assert first.headers["X-HubSpot-RateLimit-Daily"] == "1000"
        assert first.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "999"
        for _ in range(99):
            assert api.get("/crm/v3/objects/contacts").status_code == 200
        refused = api.get("/crm/v3/objects/contacts")
        assert refused.status_code == 429 and "Retry-After" not in refused.headers
        body = refused.json()
        assert body["policyName"] == "TEN_SECONDLY_ROLLING" and body["errorType"] == "RATE_LIMIT"
        assert body["message"] == "You have reached your ten_secondly_rolling limit."
        assert body["correlationId"] and body["groupName"]
        assert refused.headers["X-HubSpot-RateLimit-Remaining"] == "0"
        hs.clock.advance(seconds=10)
        assert api.get("/crm/v3/objects/contacts").status_code == 200
    assert hs.calls("objects.list", 200) == 101 and hs.calls("objects.list", 429) == 1


def test_professional_tier_allows_190_and_oauth_has_no_daily_headers():
    hs = make_sandbox(rate_limits=True, tier_requests_per_10s=190)
    with client_for(hs) as api:
        statuses = [api.get("/crm/v3/objects/deals").status_code for _ in range(191)]
        assert statuses.count(200) == 190 and statuses[-1] == 429
        token = refresh(api, hs).json()["access_token"]
        oauth = api.get("/crm/v3/objects/deals", headers={"Authorization": f"Bearer {token}"})
        assert oauth.status_code == 200 and oauth.headers["X-HubSpot-RateLimit-Max"] == "110"
        assert "X-HubSpot-RateLimit-Daily" not in oauth.headers


def test_daily_limit_then_reset_at_midnight_utc():
    hs = make_sandbox(rate_limits=True, daily_limit=3)
    with client_for(hs) as api:
        for _ in range(3):
            hs.clock.advance(seconds=11)
            assert api.get("/crm/v3/objects/contacts").status_code == 200
        refused = api.get("/crm/v3/objects/contacts")
        assert refused.status_code == 429 and refused.json()["policyName"] == "DAILY"
        hs.clock.advance(days=1)
        assert api.get("/crm/v3/objects/contacts").status_code == 200


def test_search_has_its_own_per_second_limit_without_standard_headers():
    hs = make_sandbox(rate_limits=True, search_requests_per_second=4)
    with client_for(hs) as api:
        replies = [api.post("/crm/v3/objects/contacts/search", json={}) for _ in range(5)]
        assert [r.status_code for r in replies] == [200, 200, 200, 200, 429]
        assert replies[-1].json()["policyName"] == "SECONDLY"
        assert "X-HubSpot-RateLimit-Max" not in replies[0].headers
        assert api.get("/crm/v3/objects/contacts").status_code == 200  # other calls unaffected
        hs.clock.advance(seconds=1)
        assert api.post("/crm/v3/objects/contacts/search", json={}).status_code == 200


def test_injected_faults_use_hubspot_bodies_and_are_seeded():
    def run() -> list[str]:
        hs = make_sandbox(faults=FaultConfig(seed=3, p_429=0.2, p_502=0.1, p_drop=0.1))
        out = []
        with httpx.Client(transport=WSGIFaultTransport(app=hs.app), base_url="http://hubspot.test",
                          headers={"Authorization": f"Bearer {hs.credentials['token']}"}) as api:
            for _ in range(40):
                try:
                    r = api.get("/crm/v3/objects/contacts")
                except httpx.RemoteProtocolError:
                    out.append("drop")
                    continue
                if r.status_code == 429:
                    assert r.json()["policyName"] == "TEN_SECONDLY_ROLLING"
                    assert r.json()["errorType"] == "RATE_LIMIT"
                out.append(str(r.status_code))
        return out

    first = run()
    assert first == run()
    assert {"200", "429", "502", "drop"} <= set(first)
