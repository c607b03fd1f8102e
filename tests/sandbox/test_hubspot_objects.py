"""Contacts and deals over HTTP: paging, reads, writes, batches and their errors."""

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


@pytest.mark.parametrize("prefix", ["/crm/v3/objects", "/crm/objects/2026-03"])
def test_list_pages_until_paging_disappears(hs, api, prefix):
    ids = seed_contacts(hs, 25)
    seen, after, pages = [], None, []
    while True:
        params = {"limit": 10, "properties": "email"} | ({"after": after} if after else {})
        body = api.get(f"{prefix}/contacts", params=params).json()
        pages.append(body)
        seen += [r["id"] for r in body["results"]]
        if "paging" not in body:  # HubSpot omits `paging` on the last page
            break
        after = body["paging"]["next"]["after"]
        assert body["paging"]["next"]["link"].endswith(f"after={after}")
    assert seen == ids
    assert [len(p["results"]) for p in pages] == [10, 10, 5]
    first = pages[0]["results"][0]
    assert first["properties"] == {"createdate": "2026-06-01T12:00:00.000Z", "email": "user0@example.com",
                                   "hs_object_id": ids[0], "lastmodifieddate": "2026-06-01T12:00:00.000Z"}
    assert first["createdAt"] == "2026-06-01T12:00:00.000Z" and first["archived"] is False
    hs.clock.advance(days=3)
    assert api.get(f"{prefix}/contacts").headers["Date"] == "Thu, 04 Jun 2026 12:00:00 GMT"  # sandbox time


def test_default_properties_repeated_query_args_and_string_values(hs, api):
    (deal,) = hs.store.create("deals", [{"dealname": "Big", "amount": 1200.5, "dealstage": "closedwon",
                                         "pipeline": "default", "closedate": "2026-05-01T00:00:00Z"}])
    default = api.get(f"/crm/v3/objects/deals/{deal}").json()["properties"]
    assert default["amount"] == "1200.5" and default["pipeline"] == "default"
    assert default["closedate"] == "2026-05-01T00:00:00.000Z"
    chosen = api.get(f"/crm/v3/objects/deals/{deal}?properties=hs_is_closed_won&properties=dealname,nope").json()
    assert chosen["properties"] == {"createdate": "2026-06-01T12:00:00.000Z", "dealname": "Big",
                                    "hs_is_closed_won": "true", "hs_lastmodifieddate": "2026-06-01T12:00:00.000Z",
                                    "hs_object_id": deal}


def test_limit_over_100_and_unknown_object_type_are_rejected(api):
    assert_hubspot_error(api.get("/crm/v3/objects/contacts?limit=101"), 400, "VALIDATION_ERROR")
    body = assert_hubspot_error(api.get("/crm/v3/objects/widgets"), 400, "VALIDATION_ERROR")
    assert "widgets" in body["message"]


def test_get_by_email_and_missing_record(hs, api):
    ids = seed_contacts(hs, 2)
    got = api.get("/crm/v3/objects/contacts/USER1@example.com?idProperty=email").json()
    assert got["id"] == ids[1]
    assert_hubspot_error(api.get("/crm/v3/objects/contacts/999"), 404, "OBJECT_NOT_FOUND")


def test_create_duplicate_email_is_a_409_conflict_naming_the_existing_id(hs, api):
    created = api.post("/crm/v3/objects/contacts", json={"properties": {"email": "a@x.com"}})
    assert created.status_code == 201
    again = api.post("/crm/v3/objects/contacts", json={"properties": {"email": "A@x.com"}})
    body = assert_hubspot_error(again, 409, "CONFLICT")
    assert body["message"] == f"Contact already exists. Existing ID: {created.json()['id']}"


def test_batch_update_partial_success_is_a_207_with_errors(hs, api):
    ids = seed_contacts(hs, 2)
    hs.clock.advance(seconds=60)
    r = api.post("/crm/v3/objects/contacts/batch/update", json={"inputs": [
        {"id": ids[0], "properties": {"firstname": "Ann"}},
        {"id": "999", "properties": {"firstname": "Nobody"}},
        {"id": ids[1], "properties": {"lastname": ""}}]})
    assert r.status_code == 207
    body = r.json()
    assert body["status"] == "COMPLETE" and body["numErrors"] == 1
    assert body["errors"] == [{"status": "error", "category": "OBJECT_NOT_FOUND",
                               "message": "Could not get some CONTACT objects, they may be deleted or not exist. "
                                          "Check that ids are valid.", "context": {"ids": ["999"]}}]
    by_id = {r["id"]: r for r in body["results"]}
    assert by_id[ids[0]]["properties"]["firstname"] == "Ann"
    assert by_id[ids[0]]["updatedAt"] == "2026-06-01T12:01:00.000Z"
    assert "lastname" not in hs.store.get("contacts", ids[1])["properties"]  # "" clears


def test_batch_clean_update_is_200_and_create_is_201(hs, api):
    r = api.post("/crm/v3/objects/deals/batch/create", json={"inputs": [
        {"properties": {"dealname": "A", "dealstage": "closedlost"}}]})
    assert r.status_code == 201 and "errors" not in r.json()
    deal = r.json()["results"][0]["id"]
    u = api.post("/crm/v3/objects/deals/batch/update", json={"inputs": [{"id": deal, "properties": {"amount": "5"}}]})
    assert u.status_code == 200 and "numErrors" not in u.json()
    assert hs.store.get("deals", deal)["properties"]["hs_is_closed"] == "true"


def test_batch_read_207_names_missing_emails(hs, api):
    seed_contacts(hs, 1)
    r = api.post("/crm/v3/objects/contacts/batch/read", json={
        "idProperty": "email", "properties": ["firstname"],
        "inputs": [{"id": "user0@example.com"}, {"id": "ghost@example.com"}]})
    assert r.status_code == 207
    assert r.json()["results"][0]["properties"]["firstname"] == "First0"
    assert r.json()["errors"][0]["context"] == {"ids": ["ghost@example.com"]}


def test_batch_of_101_inputs_is_rejected_whole(hs, api):
    r = api.post("/crm/v3/objects/contacts/batch/create",
                 json={"inputs": [{"properties": {"email": f"u{i}@x.com"}} for i in range(101)]})
    assert_hubspot_error(r, 400, "VALIDATION_ERROR")
    assert list(hs.store.records("contacts")) == []


@pytest.mark.parametrize(("properties", "code", "fragment"), [
    ({"email": "x@@example"}, "INVALID_EMAIL", "Email address x@@example is invalid"),
    ({"segment_x": "a"}, "PROPERTY_DOESNT_EXIST", 'Property \\"segment_x\\" does not exist'),
    ({"lifecyclestage": "martian"}, "INVALID_OPTION", "martian was not one of the allowed options"),
    ({"hs_object_id": "5"}, "READ_ONLY_VALUE", "read only"),
])
def test_bad_values_fail_the_whole_batch_with_validation_error(hs, api, properties, code, fragment):
    ids = seed_contacts(hs, 1)
    r = api.post("/crm/v3/objects/contacts/batch/update", json={"inputs": [
        {"id": ids[0], "properties": {"firstname": "Changed"}}, {"id": ids[0], "properties": properties}]})
    body = assert_hubspot_error(r, 400, "VALIDATION_ERROR")
    assert body["message"].startswith("Property values were not valid: [")
    assert f'"error":"{code}"' in body["message"] and fragment in body["message"]
    assert hs.store.get("contacts", ids[0])["properties"]["firstname"] == "First0"


def test_date_property_must_be_midnight_utc(hs, api):
    hs.store.define_property("contacts", "renewal_date", "date", "date")
    ids = seed_contacts(hs, 1)
    bad = api.patch(f"/crm/v3/objects/contacts/{ids[0]}", json={"properties": {"renewal_date": 1617827489103}})
    body = assert_hubspot_error(bad, 400, "VALIDATION_ERROR")
    assert "1617827489103 is at 20:31:29.103 UTC, not midnight!" in body["message"]
    good = api.patch(f"/crm/v3/objects/contacts/{ids[0]}", json={"properties": {"renewal_date": 1617753600000}})
    assert good.json()["properties"]["renewal_date"] == "2021-04-07"


def test_upsert_by_email_reports_new_per_record(hs, api):
    seed_contacts(hs, 1)
    r = api.post("/crm/v3/objects/contacts/batch/upsert", json={"inputs": [
        {"id": "user0@example.com", "idProperty": "email", "properties": {"lastname": "Known"}},
        {"id": "fresh@example.com", "idProperty": "email", "properties": {"lastname": "New"}}]})
    assert r.status_code == 200
    new = {x["properties"]["email"]: x["new"] for x in r.json()["results"]}
    assert new == {"user0@example.com": False, "fresh@example.com": True}
    assert len(list(hs.store.records("contacts"))) == 2


def test_archive_hides_records_until_archived_true(hs, api):
    ids = seed_contacts(hs, 3)
    assert api.post("/crm/v3/objects/contacts/batch/archive", json={"inputs": [{"id": ids[1]}, {"id": "7"}]}).status_code == 204
    live = [r["id"] for r in api.get("/crm/v3/objects/contacts").json()["results"]]
    gone = api.get("/crm/v3/objects/contacts?archived=true").json()["results"]
    assert live == [ids[0], ids[2]] and [r["id"] for r in gone] == [ids[1]] and gone[0]["archived"] is True


def test_overlong_uri_is_414(hs, api):
    props = ",".join(f"custom_property_{i:05d}" for i in range(900))  # ~21k characters
    r = api.get(f"/crm/v3/objects/contacts?properties={props}")
    assert r.status_code == 414
    assert hs.calls("uri-too-long", 414) == 1
