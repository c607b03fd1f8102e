"""hubspot-api-client against the sandbox: search paging, upsert, and the SDK's exceptions
for an expired token, a rate limit and invalid values."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

hubspot = pytest.importorskip("hubspot")

from hubspot import HubSpot  # noqa: E402
from hubspot.crm.contacts import (  # noqa: E402
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputUpsert,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputUpsert,
)

from connector.sandbox.clock import SandboxClock  # noqa: E402
from connector.sandbox.hubspot import HubSpotSandbox  # noqa: E402
from connector.sandbox.server import SandboxServer  # noqa: E402

pytestmark = pytest.mark.conformance
START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def server():
    """One loopback server per module (stopping one costs 0.5 s); each test gets a fresh
    sandbox behind it."""
    current: list[HubSpotSandbox] = []
    with SandboxServer(lambda environ, start_response: current[-1].app(environ, start_response)) as srv:
        yield srv, current


@pytest.fixture
def served(server):
    srv, current = server
    hs = HubSpotSandbox(SandboxClock(START), seed=12, rate_limits=True, search_requests_per_second=4)
    hs.store.create("contacts", [{"email": f"s{i}@example.com", "firstname": "Sam" if i % 2 else "Kim"}
                                 for i in range(30)])
    current.append(hs)
    return hs, srv.url


def test_search_pages_with_after_until_no_paging(served):
    hs, url = served
    client = HubSpot(access_token=hs.credentials["token"], host=url)
    request = PublicObjectSearchRequest(
        filter_groups=[FilterGroup(filters=[Filter(property_name="firstname", operator="EQ", value="sam")])],
        sorts=["-hs_object_id"], properties=["email"], limit=10, after="0")
    first = client.crm.contacts.search_api.do_search(request)
    assert first.total == 15 and len(first.results) == 10 and first.paging.next.after == "10"
    assert first.results[0].properties["email"] == "s29@example.com"
    request.after = first.paging.next.after
    second = client.crm.contacts.search_api.do_search(request)
    assert len(second.results) == 5 and second.paging is None


def test_upsert_by_email(served):
    hs, url = served
    client = HubSpot(access_token=hs.credentials["token"], host=url)
    reply = client.crm.contacts.batch_api.upsert(BatchInputSimplePublicObjectBatchInputUpsert(inputs=[
        SimplePublicObjectBatchInputUpsert(id="s1@example.com", id_property="email", properties={"lastname": "Old"}),
        SimplePublicObjectBatchInputUpsert(id="n@example.com", id_property="email", properties={"lastname": "New"})]))
    assert {r.properties["email"]: r.new for r in reply.results} == {"s1@example.com": False, "n@example.com": True}


def test_expired_oauth_token_is_an_unauthorized_exception(served):
    hs, url = served
    token = HubSpot(host=url).oauth.tokens_api.create(
        grant_type="refresh_token", client_id=hs.credentials["client_id"],
        client_secret=hs.credentials["client_secret"], refresh_token=hs.credentials["refresh_token"]).access_token
    hs.clock.advance(seconds=1830)
    with pytest.raises(ApiException) as caught:
        HubSpot(access_token=token, host=url).crm.contacts.basic_api.get_page(limit=1)
    assert caught.value.status == 401 and type(caught.value).__name__ == "UnauthorizedException"
    body = json.loads(caught.value.body)
    assert body["category"] == "EXPIRED_AUTHENTICATION"
    assert body["message"] == "The OAuth token used to make this call expired 30 second(s) ago."


def test_rate_limit_is_a_429_with_policy_and_headers(served):
    hs, url = served
    client = HubSpot(access_token=hs.credentials["token"], host=url)
    for _ in range(100):
        client.crm.contacts.basic_api.get_page(limit=1)
    with pytest.raises(ApiException) as caught:
        client.crm.contacts.basic_api.get_page(limit=1)
    assert caught.value.status == 429
    assert json.loads(caught.value.body)["policyName"] == "TEN_SECONDLY_ROLLING"
    assert caught.value.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert "Retry-After" not in caught.value.headers


def test_invalid_email_is_a_400_validation_error(served):
    hs, url = served
    client = HubSpot(access_token=hs.credentials["token"], host=url)
    first = next(iter(hs.store.records("contacts")))["id"]
    batch = BatchInputSimplePublicObjectBatchInput(
        inputs=[SimplePublicObjectBatchInput(id=first, properties={"email": "x@@example"})])
    with pytest.raises(ApiException) as caught:
        client.crm.contacts.batch_api.update(batch)
    body = json.loads(caught.value.body)
    assert caught.value.status == 400 and body["category"] == "VALIDATION_ERROR"
    assert '"error":"INVALID_EMAIL"' in body["message"]
