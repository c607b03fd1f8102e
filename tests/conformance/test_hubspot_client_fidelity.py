"""hubspot-api-client against the sandbox: what issue 15 §2 found missing. Associations in
create bodies and on reads, the default contact properties, companies, v4 association
archive (basic and batch), labeled v4 creates, a record's list memberships, list rename and
lists by ids. Each test drives the official SDK and checks the reply and the portal's state."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

hubspot = pytest.importorskip("hubspot")

from hubspot.crm.associations.v4 import (  # noqa: E402
    AssociationSpec,
    BatchInputPublicAssociationMultiArchive,
    BatchInputPublicAssociationMultiPost,
    PublicAssociationMultiArchive,
    PublicAssociationMultiPost,
)
from hubspot.crm.associations.v4.schema import PublicAssociationDefinitionCreateRequest  # noqa: E402
from hubspot.crm.contacts import SimplePublicObjectInputForCreate as ContactInput  # noqa: E402
from hubspot.crm.deals import ApiException as DealsApiException  # noqa: E402
from hubspot.crm.deals import AssociationSpec as DealAssociationSpec  # noqa: E402
from hubspot.crm.deals import (  # noqa: E402
    BatchInputSimplePublicObjectBatchInputForCreate,
    PublicAssociationsForObject,
    PublicObjectId,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.lists import ListCreateRequest, MembershipChangeRequest  # noqa: E402

pytestmark = pytest.mark.conformance
START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _deal_to_contact(contact_id: str) -> PublicAssociationsForObject:
    return PublicAssociationsForObject(to=PublicObjectId(id=contact_id), types=[DealAssociationSpec(
        association_category="HUBSPOT_DEFINED", association_type_id=3)])


def test_associations_in_create_bodies_and_on_get(hubspot_sdk):
    hs, client = hubspot_sdk
    ann, bob = hs.store.create("contacts", [{"email": "ann@x.com"}, {"email": "bob@x.com"}])
    deal = client.crm.deals.basic_api.create(SimplePublicObjectInputForCreate(
        properties={"dealname": "First order", "dealstage": "closedwon"},
        associations=[_deal_to_contact(ann)]))
    assert hs.store.linked("deals", int(deal.id), "contacts") == [int(ann)]
    assert hs.store.linked("contacts", int(ann), "deals") == [int(deal.id)]
    read = client.crm.deals.basic_api.get_by_id(deal.id, associations=["contacts"])
    [link] = read.associations["contacts"].results
    assert (link.id, link.type) == (ann, "deal_to_contact")
    batch = client.crm.deals.batch_api.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=[
        SimplePublicObjectBatchInputForCreate(properties={"dealname": "Second"},
                                              associations=[_deal_to_contact(bob)])]))
    second = batch.results[0].id
    assert hs.store.linked("deals", int(second), "contacts") == [int(bob)]
    page = client.crm.deals.basic_api.get_page(associations=["contacts"])
    assert {d.id: [a.id for a in d.associations["contacts"].results] for d in page.results} == {
        deal.id: [ann], second: [bob]}
    plain = client.crm.deals.basic_api.get_by_id(deal.id)
    assert plain.associations is None  # nothing asked, nothing returned
    with pytest.raises(DealsApiException) as exc:  # an association to nobody is refused
        client.crm.deals.basic_api.create(SimplePublicObjectInputForCreate(
            properties={"dealname": "Orphan"}, associations=[_deal_to_contact("999")]))
    assert exc.value.status == 400 and "contact 999 does not exist" in exc.value.body
    assert len(list(hs.store.records("deals"))) == 2  # and nothing was created


def test_default_contact_properties(hubspot_sdk):
    hs, client = hubspot_sdk
    values = {"email": "cy@x.com", "address": "1 Main St", "city": "Berlin", "state": "BE",
              "zip": "10115", "jobtitle": "Buyer", "mobilephone": "+49 1", "website": "x.com",
              "industry": "Retail", "hs_lead_status": "OPEN"}
    created = client.crm.contacts.basic_api.create(ContactInput(properties=values))
    read = client.crm.contacts.basic_api.get_by_id(created.id, properties=list(values))
    assert {k: read.properties[k] for k in values} == values
    names = {p.name for p in client.crm.properties.core_api.get_all("contacts").results}
    assert set(values) <= names


def test_companies_and_contact_to_company_associations(hubspot_sdk):
    hs, client = hubspot_sdk
    [ann] = hs.store.create("contacts", [{"email": "ann@x.com"}])
    from hubspot.crm.companies import SimplePublicObjectInputForCreate as CompanyInput

    company = client.crm.companies.basic_api.create(CompanyInput(
        properties={"name": "Acme", "domain": "acme.example", "industry": "RETAIL"}))
    assert company.id.isdigit() and company.properties["name"] == "Acme"
    client.crm.associations.v4.basic_api.create_default("contacts", ann, "companies", company.id)
    page = client.crm.associations.v4.basic_api.get_page("contacts", ann, "companies")
    [target] = page.results
    assert str(target.to_object_id) == company.id
    assert [(t.category, t.type_id) for t in target.association_types] == [("HUBSPOT_DEFINED", 279)]
    back = client.crm.companies.basic_api.get_by_id(company.id, associations=["contacts"])
    assert [(a.id, a.type) for a in back.associations["contacts"].results] == [
        (ann, "company_to_contact")]


def test_labeled_v4_create(hubspot_sdk):
    hs, client = hubspot_sdk
    [ann] = hs.store.create("contacts", [{"email": "ann@x.com"}])
    [acme] = hs.store.create("companies", [{"name": "Acme"}])
    labels = client.crm.associations.v4.schema.definitions_api.create(
        "contacts", "companies", PublicAssociationDefinitionCreateRequest(
            label="Decision maker", name="decision_maker"))
    [spec] = labels.results
    assert (spec.category, spec.label) == ("USER_DEFINED", "Decision maker")
    pair = client.crm.associations.v4.basic_api.create("contacts", ann, "companies", acme, [
        AssociationSpec(association_category="USER_DEFINED", association_type_id=spec.type_id)])
    assert pair.labels == ["Decision maker"] and str(pair.to_object_id) == acme
    [target] = client.crm.associations.v4.basic_api.get_page("contacts", ann, "companies").results
    assert [(t.category, t.type_id, t.label) for t in target.association_types] == [
        ("HUBSPOT_DEFINED", 279, None), ("USER_DEFINED", spec.type_id, "Decision maker")]
    batch = client.crm.associations.v4.batch_api.create("contacts", "companies",
        BatchInputPublicAssociationMultiPost(inputs=[PublicAssociationMultiPost(
            _from=PublicObjectId(id=ann), to=PublicObjectId(id=acme), types=[AssociationSpec(
                association_category="HUBSPOT_DEFINED", association_type_id=279)])]))
    assert batch.status == "COMPLETE" and len(batch.results) == 1
    with pytest.raises(hubspot.crm.associations.v4.ApiException) as exc:
        client.crm.associations.v4.basic_api.create("contacts", ann, "companies", acme, [
            AssociationSpec(association_category="USER_DEFINED", association_type_id=4242)])
    assert exc.value.status == 400 and "associationTypeId 4242" in exc.value.body


def test_v4_archive_basic_and_batch(hubspot_sdk):
    hs, client = hubspot_sdk
    ann, bob = hs.store.create("contacts", [{"email": "ann@x.com"}, {"email": "bob@x.com"}])
    d1, d2 = hs.store.create("deals", [{"dealname": "d1"}, {"dealname": "d2"}])
    for c, d in ((ann, d1), (ann, d2), (bob, d1)):
        hs.store.associate("contacts", c, "deals", d)
    client.crm.associations.v4.basic_api.archive("contacts", ann, "deals", d1)
    assert hs.store.linked("contacts", int(ann), "deals") == [int(d2)]
    assert hs.store.linked("deals", int(d1), "contacts") == [int(bob)]  # both directions go
    client.crm.associations.v4.batch_api.archive("contacts", "deals",
        BatchInputPublicAssociationMultiArchive(inputs=[
            PublicAssociationMultiArchive(_from=PublicObjectId(id=ann), to=[PublicObjectId(id=d2)]),
            PublicAssociationMultiArchive(_from=PublicObjectId(id=bob), to=[PublicObjectId(id=d1)])]))
    assert hs.store.linked("contacts", int(ann), "deals") == []
    assert hs.store.linked("contacts", int(bob), "deals") == []
    assert client.crm.associations.v4.basic_api.get_page("deals", d1, "contacts").results == []


def test_record_memberships_rename_and_lists_by_ids(hubspot_sdk):
    hs, client = hubspot_sdk
    ann, bob = hs.store.create("contacts", [{"email": "ann@x.com"}, {"email": "bob@x.com"}])
    made = [client.crm.lists.lists_api.create(ListCreateRequest(
        name=name, object_type_id="0-1", processing_type="MANUAL")).list for name in ("a", "b", "c")]
    for lst in made[:2]:
        client.crm.lists.memberships_api.add_and_remove(lst.list_id, MembershipChangeRequest(
            record_ids_to_add=[ann], record_ids_to_remove=[]))
    found = client.crm.lists.memberships_api.get_lists("0-1", ann)
    assert found.total == 2
    assert sorted(m.list_id for m in found.results) == sorted(lst.list_id for lst in made[:2])
    assert all(m.first_added_timestamp == datetime(2026, 6, 1, 12, 0, tzinfo=UTC) for m in found.results)
    assert client.crm.lists.memberships_api.get_lists("0-1", bob).total == 0
    renamed = client.crm.lists.lists_api.update_name(made[0].list_id, list_name="seg_A_treat")
    assert renamed.updated_list.name == "seg_A_treat"
    assert hs.store.find_list("seg_A_treat") == made[0].list_id and hs.store.find_list("a") is None
    by_ids = client.crm.lists.lists_api.get_all(list_ids=[made[2].list_id, made[0].list_id, "999"])
    assert sorted(lst.name for lst in by_ids.lists) == ["c", "seg_A_treat"]


def test_unemulated_objects_and_apis_answer_501(hubspot_sdk):
    hs, client = hubspot_sdk
    from hubspot.crm.objects import ApiException as ObjectsApiException
    from hubspot.crm.pipelines import ApiException as PipelinesApiException

    with pytest.raises(ObjectsApiException) as exc:
        client.crm.objects.basic_api.get_page("quotes")
    assert exc.value.status == 501 and '"category":"NOT_IMPLEMENTED"' in exc.value.body
    with pytest.raises(PipelinesApiException) as exc:
        client.crm.pipelines.pipelines_api.get_all("deals")
    assert exc.value.status == 501 and "does not emulate" in exc.value.body
    with pytest.raises(ObjectsApiException) as exc:  # an unknown name stays a 400
        client.crm.objects.basic_api.get_page("widgets")
    assert exc.value.status == 400 and "Unable to infer object type" in exc.value.body
