"""hubspot-api-client (the official SDK, urllib3 underneath) against the sandbox on loopback.

These are the proof that the sandbox speaks HubSpot's protocol: each test drives the SDK the
way its users do and checks, field by field, the answers the real service gives.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

hubspot = pytest.importorskip("hubspot")

from hubspot import HubSpot  # noqa: E402
from hubspot.crm.associations.v4 import (  # noqa: E402
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.contacts import (  # noqa: E402
    BatchInputSimplePublicObjectBatchInput,
    SimplePublicObjectBatchInput,
)
from hubspot.crm.lists import ListCreateRequest  # noqa: E402
from hubspot.crm.properties import ApiException as PropertiesApiException  # noqa: E402
from hubspot.crm.properties import OptionInput, PropertyCreate  # noqa: E402

from connector.sandbox.clock import SandboxClock  # noqa: E402
from connector.sandbox.hubspot import HubSpotSandbox  # noqa: E402
from connector.sandbox.server import SandboxServer  # noqa: E402

pytestmark = pytest.mark.conformance
START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def served():
    hs = HubSpotSandbox(SandboxClock(START), seed=11, rate_limits=False)
    with SandboxServer(hs.app) as server:
        yield hs, server.url


@pytest.fixture(scope="module")
def client(served):
    hs, url = served
    return HubSpot(access_token=hs.credentials["token"], host=url)


@pytest.fixture(scope="module")
def contacts(served):
    hs, _ = served
    return hs.store.create("contacts", [
        {"email": f"conf{i}@example.com", "firstname": f"F{i}", "lastname": "Conformance"} for i in range(250)])


def test_basic_api_get_page_through_every_page(client, contacts):
    seen, after, pages = [], None, 0
    while True:
        page = client.crm.contacts.basic_api.get_page(limit=100, after=after, properties=["email", "firstname"])
        pages += 1
        seen += page.results
        if page.paging is None:  # HubSpot omits paging on the last page; the SDK sees None
            break
        assert page.paging.next.link.startswith("http://127.0.0.1:")
        after = page.paging.next.after
    assert pages == 3 and [c.id for c in seen] == contacts
    first = seen[0]
    assert first.properties == {"createdate": "2026-06-01T12:00:00.000Z", "email": "conf0@example.com",
                                "firstname": "F0", "hs_object_id": contacts[0],
                                "lastmodifieddate": "2026-06-01T12:00:00.000Z"}
    assert first.created_at == START and first.updated_at == START and first.archived is False
    assert len(client.crm.contacts.get_all()) == 250  # the SDK's own loop stops on paging=None


def test_batch_update_with_a_207(client, contacts, served):
    hs, _ = served
    batch = BatchInputSimplePublicObjectBatchInput(inputs=[
        SimplePublicObjectBatchInput(id=contacts[0], properties={"lastname": "Updated"}),
        SimplePublicObjectBatchInput(id="9999999", properties={"lastname": "Ghost"})])
    reply = client.crm.contacts.batch_api.update(batch)
    assert type(reply).__name__ == "BatchResponseSimplePublicObjectWithErrors"  # the 207 model
    assert reply.status == "COMPLETE" and reply.num_errors == 1
    error = reply.errors[0]
    assert error.status == "error" and error.category == "OBJECT_NOT_FOUND"
    assert error.message == ("Could not get some CONTACT objects, they may be deleted or not exist. "
                             "Check that ids are valid.")
    assert error.context == {"ids": ["9999999"]}
    assert [r.id for r in reply.results] == [contacts[0]]
    assert reply.results[0].properties["lastname"] == "Updated"
    assert reply.started_at == START and reply.completed_at == START
    assert hs.store.get("contacts", contacts[0])["properties"]["lastname"] == "Updated"


def test_properties_create_conflict_is_an_api_exception_409(client):
    spec = PropertyCreate(name="segsync_segment", label="Segment", type="enumeration", field_type="select",
                          group_name="contactinformation",
                          options=[OptionInput(label="A", value="a", display_order=0, hidden=False)])
    created = client.crm.properties.core_api.create("contacts", spec)
    assert created.name == "segsync_segment" and created.type == "enumeration"
    assert created.field_type == "select" and created.options[0].value == "a"
    with pytest.raises(PropertiesApiException) as caught:
        client.crm.properties.core_api.create("contacts", spec)
    assert caught.value.status == 409
    body = __import__("json").loads(caught.value.body)
    assert body["category"] == "OBJECT_ALREADY_EXISTS" and body["status"] == "error" and body["correlationId"]


def test_lists_memberships_add_then_read(client, contacts):
    made = client.crm.lists.lists_api.create(
        ListCreateRequest(name="segsync_conformance", object_type_id="0-1", processing_type="MANUAL"))
    assert made.list.name == "segsync_conformance" and made.list.processing_type == "MANUAL"
    list_id = made.list.list_id
    found = client.crm.lists.lists_api.get_by_name("segsync_conformance", "0-1")
    assert found.list.list_id == list_id
    added = client.crm.lists.memberships_api.add(list_id, contacts[:3] + ["424242"])
    assert added.records_ids_added == contacts[:3]  # HubSpot's recordsIdsAdded, as the SDK maps it
    assert added.record_ids_missing == ["424242"]
    page = client.crm.lists.memberships_api.get_page(list_id, limit=2)
    assert [m.record_id for m in page.results] == contacts[:2]
    assert page.results[0].membership_timestamp == START
    rest = client.crm.lists.memberships_api.get_page(list_id, after=page.paging.next.after, limit=2)
    assert [m.record_id for m in rest.results] == [contacts[2]] and rest.paging is None


def test_associations_v4_batch_read(client, contacts, served):
    hs, _ = served
    deals = hs.store.create("deals", [{"dealname": "conf deal", "amount": "10"}])
    hs.store.associate("contacts", contacts[5], "deals", deals[0])
    request = BatchInputPublicFetchAssociationsBatchRequest(inputs=[PublicFetchAssociationsBatchRequest(id=contacts[5])])
    reply = client.crm.associations.v4.batch_api.get_page("contacts", "deals", request)
    assert reply.status == "COMPLETE"
    (result,) = reply.results
    assert result._from.id == contacts[5]
    (target,) = result.to
    # The wire carries a number (v4 replies do); the SDK's model types it "str" and converts.
    assert target.to_object_id == deals[0]
    assert [(t.category, t.type_id, t.label) for t in target.association_types] == [("HUBSPOT_DEFINED", 4, None)]


def test_oauth_refresh_through_the_sdk(served):
    hs, url = served
    anonymous = HubSpot(host=url)
    tokens = anonymous.oauth.tokens_api.create(
        grant_type="refresh_token", client_id=hs.credentials["client_id"],
        client_secret=hs.credentials["client_secret"], refresh_token=hs.credentials["refresh_token"])
    assert tokens.expires_in == 1800 and tokens.token_type == "bearer"
    assert tokens.refresh_token == hs.credentials["refresh_token"]
    oauth = HubSpot(access_token=tokens.access_token, host=url)
    assert oauth.crm.contacts.basic_api.get_page(limit=1).results
