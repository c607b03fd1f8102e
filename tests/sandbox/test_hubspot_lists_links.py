"""Lists v3 (names, memberships and their odd spelling), associations v4 and properties."""

from __future__ import annotations

import pytest

from tests.sandbox.hubspot_fixtures import (
    assert_hubspot_error,
    client_for,
    make_sandbox,
    seed_contacts,
)


@pytest.fixture
def hs():
    return make_sandbox()


@pytest.fixture
def api(hs):
    with client_for(hs) as c:
        yield c


def make_list(api, name="seg_A_treat") -> str:
    r = api.post("/crm/v3/lists", json={"name": name, "objectTypeId": "0-1", "processingType": "MANUAL"})
    assert r.status_code == 200, r.text
    assert r.json()["list"]["processingType"] == "MANUAL" and r.json()["list"]["name"] == name
    return r.json()["list"]["listId"]


def test_list_names_are_unique_and_found_by_name_and_search(hs, api):
    list_id = make_list(api)
    assert_hubspot_error(api.post("/crm/v3/lists", json={"name": "seg_A_treat", "objectTypeId": "0-1",
                                                         "processingType": "MANUAL"}), 400, "VALIDATION_ERROR")
    found = api.get("/crm/lists/2026-03/object-type-id/0-1/name/seg_A_treat").json()["list"]
    assert found["listId"] == list_id
    assert_hubspot_error(api.get("/crm/v3/lists/object-type-id/0-1/name/nope"), 404, "OBJECT_NOT_FOUND")
    make_list(api, "seg_B_control")
    search = api.post("/crm/v3/lists/search", json={"query": "seg_", "processingTypes": ["MANUAL"], "count": 1}).json()
    assert search["total"] == 2 and search["hasMore"] is True and len(search["lists"]) == 1
    assert hs.store.lists() == {"seg_A_treat": list_id, "seg_B_control": hs.store.find_list("seg_B_control")}


def test_membership_replies_use_hubspots_spelling(hs, api):
    ids = seed_contacts(hs, 3)
    list_id = make_list(api)
    add = api.put(f"/crm/v3/lists/{list_id}/memberships/add", json=[ids[0], ids[1], "424242"])
    # HubSpot spells it recordsIdsAdded (sic); unknown ids come back in recordIdsMissing.
    assert add.json() == {"recordsIdsAdded": [ids[0], ids[1]], "recordIdsMissing": ["424242"]}
    again = api.put(f"/crm/v3/lists/{list_id}/memberships/add", json=[ids[0]])
    assert again.json() == {"recordsIdsAdded": [], "recordIdsMissing": []}  # already in: ignored
    both = api.put(f"/crm/v3/lists/{list_id}/memberships/add-and-remove",
                   json={"recordIdsToAdd": [ids[2]], "recordIdsToRemove": [ids[0]]})
    assert both.json() == {"recordIdsMissing": [], "recordIdsRemoved": [ids[0]], "recordsIdsAdded": [ids[2]]}
    removed = api.put(f"/crm/v3/lists/{list_id}/memberships/remove", json=[ids[1], ids[0]])
    assert removed.json() == {"recordIdsRemoved": [ids[1]], "recordIdsMissing": []}
    assert hs.store.list_members(list_id) == {ids[2]}


def test_membership_read_pages_up_to_250(hs, api):
    ids = seed_contacts(hs, 260)
    list_id = make_list(api)
    api.put(f"/crm/v3/lists/{list_id}/memberships/add", json=ids[::-1])
    assert_hubspot_error(api.get(f"/crm/v3/lists/{list_id}/memberships?limit=251"), 400, "VALIDATION_ERROR")
    first = api.get(f"/crm/v3/lists/{list_id}/memberships?limit=250").json()
    assert first["total"] == 260 and len(first["results"]) == 250
    assert first["results"][0] == {"recordId": ids[0], "membershipTimestamp": "2026-06-01T12:00:00.000Z"}
    after = first["paging"]["next"]["after"]
    rest = api.get(f"/crm/v3/lists/{list_id}/memberships", params={"limit": 250, "after": after}).json()
    assert [r["recordId"] for r in first["results"] + rest["results"]] == ids and "paging" not in rest


def test_dynamic_lists_refuse_manual_membership(hs, api):
    r = api.post("/crm/v3/lists", json={"name": "dyn", "objectTypeId": "0-1", "processingType": "DYNAMIC"})
    list_id = r.json()["list"]["listId"]
    assert_hubspot_error(api.put(f"/crm/v3/lists/{list_id}/memberships/add", json=[]), 400, "VALIDATION_ERROR")


def test_associations_v4_batch_read_with_type_ids_and_207_for_none(hs, api):
    contacts = seed_contacts(hs, 2)
    deals = hs.store.create("deals", [{"dealname": "a"}, {"dealname": "b"}])
    hs.store.associate("contacts", contacts[0], "deals", deals[1])
    put = api.put(f"/crm/v4/objects/contacts/{contacts[0]}/associations/default/deals/{deals[0]}")
    assert put.status_code == 200
    r = api.post("/crm/v4/associations/contacts/deals/batch/read",
                 json={"inputs": [{"id": contacts[0]}, {"id": contacts[1]}]})
    assert r.status_code == 207
    body = r.json()
    assert body["results"] == [{"from": {"id": contacts[0]}, "to": [
        {"toObjectId": int(d), "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 4, "label": None}]}
        for d in deals]}]
    assert body["numErrors"] == 1
    assert body["errors"][0]["subCategory"] == "crm.associations.NO_ASSOCIATIONS_FOUND"
    assert body["errors"][0]["message"] == f"No deal is associated with contact {contacts[1]}."
    back = api.post("/crm/associations/2026-03/deals/contacts/batch/read", json={"inputs": [{"id": deals[1]}]})
    assert back.status_code == 200
    assert back.json()["results"][0]["to"][0]["associationTypes"][0]["typeId"] == 3


def test_property_create_conflict_and_required_fields(hs, api):
    spec = {"name": "seg", "label": "Segment", "type": "enumeration", "fieldType": "select",
            "groupName": "contactinformation", "options": [{"label": "A", "value": "a"}]}
    created = api.post("/crm/v3/properties/contacts", json=spec)
    assert created.status_code == 201 and created.json()["options"][0]["value"] == "a"
    body = assert_hubspot_error(api.post("/crm/v3/properties/contacts", json=spec), 409, "OBJECT_ALREADY_EXISTS")
    assert "seg" in body["message"]
    no_type = {k: v for k, v in spec.items() if k != "fieldType"} | {"name": "seg2"}
    assert "fieldType" in assert_hubspot_error(api.post("/crm/v3/properties/contacts", json=no_type), 400,
                                               "VALIDATION_ERROR")["message"]
    # Options are replaced wholesale; a value outside them is then refused on write.
    api.patch("/crm/v3/properties/contacts/seg", json={"options": [{"label": "B", "value": "b"}]})
    ids = seed_contacts(hs, 1)
    bad = api.patch(f"/crm/v3/objects/contacts/{ids[0]}", json={"properties": {"seg": "a"}})
    assert "INVALID_OPTION" in assert_hubspot_error(bad, 400, "VALIDATION_ERROR")["message"]
    names = {p["name"] for p in api.get("/crm/properties/2026-03/contacts").json()["results"]}
    assert {"email", "lastmodifieddate", "seg"} <= names


def test_property_groups(api):
    assert api.post("/crm/v3/properties/contacts/groups", json={"name": "segsync", "label": "segsync"}).status_code == 201
    assert_hubspot_error(api.post("/crm/v3/properties/contacts/groups", json={"name": "segsync", "label": "x"}),
                         409, "OBJECT_ALREADY_EXISTS")
    names = [g["name"] for g in api.get("/crm/properties/2026-03/contacts/groups").json()["results"]]
    assert names == ["contactinformation", "segsync"]
    assert api.get("/crm/v3/properties/contacts/groups/segsync").json()["label"] == "segsync"
    orphan = {"name": "x", "label": "X", "type": "string", "fieldType": "text", "groupName": "nowhere"}
    assert "nowhere" in assert_hubspot_error(api.post("/crm/v3/properties/contacts", json=orphan), 400,
                                             "VALIDATION_ERROR")["message"]
