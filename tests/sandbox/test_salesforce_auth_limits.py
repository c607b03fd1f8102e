"""OAuth grants, session expiry, the daily allocation, Sforce-Limit-Info, injected faults."""

from __future__ import annotations

import base64
import time

import httpx
import jwt
import pytest

from connector.sandbox.faults import FaultConfig
from connector.sandbox.salesforce import SalesforceSandbox
from tests.sandbox.conftest import SfApi

EXPIRED = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def assertion(sf, **claims):
    c = sf.credentials
    payload = {"iss": c["client_id"], "sub": c["username"], "aud": "https://login.salesforce.com",
               "exp": int(time.time()) + 180, **claims}
    return jwt.encode(payload, c["private_key"], algorithm="RS256")


def token(api, data, **kw):
    return api.http.post("/services/oauth2/token", data=data, **kw)


GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def test_jwt_bearer_grant(api, sf):
    r = token(api, {"grant_type": GRANT, "assertion": assertion(sf)})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"access_token", "instance_url", "id", "token_type", "scope"}
    assert body["instance_url"] == "https://segsync-sandbox.my.salesforce.com"
    assert body["token_type"] == "Bearer"
    assert SfApi(sf, body["access_token"])("GET", "limits").status_code == 200


@pytest.mark.parametrize("claims, error", [
    ({"aud": "https://evil.example.com"}, ("invalid_grant", "audience is invalid")),
    ({"iss": "someone-else"}, ("invalid_client_id", "client identifier invalid")),
    ({"sub": "other@user"}, ("invalid_grant", "user hasn't approved this consumer")),
    ({"exp": int(time.time()) - 600}, ("invalid_grant", "expired authorization code")),
])
def test_jwt_refusals(api, sf, claims, error):
    r = token(api, {"grant_type": GRANT, "assertion": assertion(sf, **claims)})
    assert r.status_code == 400
    assert (r.json()["error"], r.json()["error_description"]) == error


def test_jwt_signed_with_another_key_is_refused(api, sf):
    from connector.sandbox.salesforce.auth import generate_keypair

    other, _ = generate_keypair()
    bad = jwt.encode({"iss": "x", "sub": "y", "aud": "https://login.salesforce.com",
                      "exp": int(time.time()) + 60}, other, algorithm="RS256")
    r = token(api, {"grant_type": GRANT, "assertion": bad})
    assert r.json() == {"error": "invalid_grant", "error_description": "invalid assertion"}


def test_client_credentials_basic_auth_and_login_host_refusal(api, sf):
    c = sf.credentials
    basic = base64.b64encode(f"{c['client_id']}:{c['client_secret']}".encode()).decode()
    ok = token(api, {"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"})
    assert ok.status_code == 200 and {"signature", "issued_at"} <= set(ok.json())
    login = api.http.post("https://login.salesforce.com/services/oauth2/token",
                          data={"grant_type": "client_credentials"},
                          headers={"Authorization": f"Basic {basic}"})
    assert login.json() == {"error": "invalid_grant",
                            "error_description": "request not supported on this domain"}
    wrong = base64.b64encode(f"{c['client_id']}:nope".encode()).decode()
    r = token(api, {"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {wrong}"})
    assert r.json()["error"] == "invalid_client"


def test_password_grant_and_unsupported_grant(api, sf):
    c = sf.credentials
    r = token(api, {"grant_type": "password", "client_id": c["client_id"],
                    "client_secret": c["client_secret"], "username": c["username"], "password": "x"})
    assert r.json() == {"error": "invalid_grant", "error_description": "authentication failure"}
    r = token(api, {"grant_type": "authorization_code"})
    assert r.json()["error"] == "unsupported_grant_type"


def test_session_expires_after_inactivity(api, clock):
    assert api("GET", "limits").status_code == 200
    clock.advance(seconds=7000)
    assert api("GET", "limits").status_code == 200  # activity extends the session
    clock.advance(seconds=7201)
    r = api("GET", "limits")
    assert (r.status_code, r.json()) == (401, EXPIRED)
    assert "sforce-limit-info" not in r.headers
    r = api.http.get("/services/data/v66.0/limits")  # no header at all
    assert r.status_code == 401 and r.json() == EXPIRED


def test_limit_header_on_every_reply_and_403_at_the_cap(clock):
    sb = SalesforceSandbox(clock=clock, daily_api_limit=3)
    api = SfApi(sb)
    seen = [api("GET", "limits").headers["sforce-limit-info"] for _ in range(3)]
    assert seen == [f"api-usage={n}/3; api-bursts=0/750" for n in (1, 2, 3)]
    r = api.query("SELECT Id FROM Contact")
    assert r.status_code == 403
    assert r.json() == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    assert r.headers["sforce-limit-info"] == "api-usage=3/3; api-bursts=0/750"
    assert api("GET", "sobjects/Nope/describe").headers["sforce-limit-info"].startswith("api-usage=3/3")
    clock.advance(days=1, seconds=60)  # rolling 24 h window
    api.token = api.login()
    r = api("GET", "limits")
    assert r.json()["DailyApiRequests"] == {"Max": 3, "Remaining": 2}


def test_bursts_let_a_few_calls_past_the_limit(clock):
    sb = SalesforceSandbox(clock=clock, daily_api_limit=2, burst_allowance=2)
    api = SfApi(sb)
    headers = [api("GET", "limits").headers["sforce-limit-info"] for _ in range(4)]
    assert headers[-1] == "api-usage=4/2; api-bursts=1/750"
    assert api("GET", "limits").status_code == 403


def test_request_count_by_kind_and_status(api, sf):
    api.query("SELECT Id FROM Contact")
    api.query("SELECT Nope FROM Contact")
    api("GET", "sobjects/Contact/describe")
    assert sf.request_count["oauth"] == 1
    assert sf.request_count[("query", 200)] == 1 and sf.request_count[("query", 400)] == 1
    assert sf.request_count["describe"] == 1 and sf.request_count["total"] == 4


def test_injected_faults_have_salesforce_shapes(clock):
    sb = SalesforceSandbox(clock=clock, faults=FaultConfig(seed=1, p_500=0.3, p_503=0.3, p_drop=0.2,
                                                           exempt_paths=("/services/oauth2",)))
    api = SfApi(sb)
    seen = {}
    for _ in range(40):
        try:
            r = api("GET", "limits")
            seen[r.status_code] = r
        except httpx.RemoteProtocolError:
            seen["drop"] = None
    assert {200, 500, 503, "drop"} <= set(seen)
    assert seen[500].json()[0]["errorCode"] == "UNKNOWN_EXCEPTION"
    assert seen[503].headers["content-type"] == "text/html"
    assert sb.request_count[("limits", "DroppedConnection")] == sb.faults.counts["drop"]
