"""sObject Collections and the campaign rules behind them."""
# ruff: noqa: S608 - SOQL built from literals and sandbox ids is what these tests exercise

from __future__ import annotations

import pytest

ROLLED_BACK = {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
               "message": "Record rolled back because not all records were valid and the request "
                          "was using AllOrNone header", "fields": []}


@pytest.fixture
def campaign(sf):
    [cid] = sf.store.insert("Campaign", [{"Name": "Spring A/B - treat"}])
    contacts = sf.store.insert("Contact", [{"LastName": f"C{i}"} for i in range(3)])
    return cid, contacts


def members(cid, contacts, status=None):
    return [{"attributes": {"type": "CampaignMember"}, "CampaignId": cid, "ContactId": c,
             **({"Status": status} if status else {})} for c in contacts]


def test_new_campaign_gets_default_statuses(api, campaign):
    cid, _ = campaign
    rows = api.query("SELECT Label, IsDefault, HasResponded, SortOrder FROM CampaignMemberStatus "
                     f"WHERE CampaignId = '{cid}' ORDER BY SortOrder").json()["records"]
    assert [(r["Label"], r["IsDefault"], r["HasResponded"], r["SortOrder"]) for r in rows] == [
        ("Sent", True, False, 1), ("Responded", False, True, 2)]


def test_duplicate_membership_is_a_per_record_error_in_a_200(api, sf, campaign):
    cid, contacts = campaign
    first = api("POST", "composite/sobjects", json={"allOrNone": False, "records": members(cid, contacts[:1])})
    assert first.status_code == 200 and first.json()[0]["success"] is True
    r = api("POST", "composite/sobjects", json={"allOrNone": False, "records": members(cid, contacts)})
    assert r.status_code == 200
    body = r.json()
    assert body[0] == {"success": False, "errors": [
        {"statusCode": "DUPLICATE_VALUE", "message": "Already a campaign member.", "fields": []}]}
    assert [x["success"] for x in body[1:]] == [True, True]
    assert all(x["id"].startswith("00v") and x["errors"] == [] for x in body[1:])
    assert sf.store.get("Campaign", cid)["NumberOfContacts"] == 3


def test_all_or_none_rolls_everything_back(api, sf, campaign):
    cid, contacts = campaign
    api("POST", "composite/sobjects", json={"records": members(cid, contacts[:1])})
    r = api("POST", "composite/sobjects", json={"allOrNone": True, "records": members(cid, contacts[::-1])})
    body = r.json()
    assert r.status_code == 200
    assert body[2]["errors"][0]["statusCode"] == "DUPLICATE_VALUE"
    assert body[0] == {"success": False, "errors": [ROLLED_BACK]} == {k: body[1][k] for k in ("success", "errors")}
    assert len(list(sf.store.records("CampaignMember"))) == 1
    assert sf.store.get("Campaign", cid)["NumberOfContacts"] == 1


def test_status_drives_has_responded_and_rollups(api, sf, campaign, clock):
    cid, contacts = campaign
    [mid] = [x["id"] for x in api("POST", "composite/sobjects", json={"records": members(cid, contacts[:1])}).json()]
    clock.advance(days=3)
    api.token = api.login()
    r = api("PATCH", "composite/sobjects", json={"records": [
        {"attributes": {"type": "CampaignMember"}, "id": mid, "Status": "Responded"},
        {"attributes": {"type": "CampaignMember"}, "id": mid, "Status": "Bought"},
        {"attributes": {"type": "CampaignMember"}, "Status": "Sent"},
    ]})
    body = r.json()
    assert body[0] == {"id": mid, "success": True, "errors": []}
    assert body[1] == {"id": mid, "success": False, "errors": [{
        "statusCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "message": "Status: bad value for restricted picklist field: Bought", "fields": ["Status"]}]}
    assert body[2]["errors"][0]["statusCode"] == "MISSING_ARGUMENT"
    m = sf.store.get("CampaignMember", mid)
    assert (m["HasResponded"], m["FirstRespondedDate"]) == (True, "2026-06-04")
    assert sf.store.get("Campaign", cid)["NumberOfResponses"] == 1
    ro = api("PATCH", "composite/sobjects", json={"records": [
        {"attributes": {"type": "CampaignMember"}, "id": mid, "HasResponded": False}]}).json()
    assert ro[0]["errors"][0]["statusCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_remove_member_by_id(api, sf, campaign):
    cid, contacts = campaign
    ids = [x["id"] for x in api("POST", "composite/sobjects", json={"records": members(cid, contacts)}).json()]
    r = api("DELETE", "composite/sobjects", params={"ids": f"{ids[0]},{ids[0]}"})
    assert r.json() == [{"id": ids[0], "success": True, "errors": []},
                        {"id": ids[0], "success": False, "errors": [
                            {"statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted", "fields": []}]}]
    # a contact deleted takes its memberships with it
    sf.store.delete("Contact", contacts[1])
    left = api.query(f"SELECT ContactId FROM CampaignMember WHERE CampaignId = '{cid}'").json()
    assert [r["ContactId"] for r in left["records"]] == [contacts[2]]
    # re-adding after removal is allowed
    again = api("POST", "composite/sobjects", json={"records": members(cid, contacts[:1])}).json()
    assert again[0]["success"] is True


def test_upsert_collection_reports_created(api, sf):
    sf.store.insert("Contact", [{"LastName": "Old", "Ext_Id__c": "E1"}])
    recs = [{"attributes": {"type": "Contact"}, "Ext_Id__c": e, "LastName": n}
            for e, n in (("E1", "Updated"), ("E2", "New"))]
    recs.append({"attributes": {"type": "Contact"}, "Ext_Id__c": "E3", "LastName": "Bad", "Nope__c": 1})
    body = api("PATCH", "composite/sobjects/Contact/Ext_Id__c", json={"records": recs}).json()
    assert [(b["success"], b.get("created")) for b in body] == [(True, False), (True, True), (False, None)]
    assert body[2]["errors"][0]["statusCode"] == "INVALID_FIELD"
    got = api.query("SELECT Ext_Id__c, LastName FROM Contact ORDER BY Ext_Id__c").json()["records"]
    assert [(r["Ext_Id__c"], r["LastName"]) for r in got] == [("E1", "Updated"), ("E2", "New")]


def test_oversize_and_malformed_batches_are_rejected(api):
    recs = [{"attributes": {"type": "Contact"}, "LastName": str(i)} for i in range(201)]
    r = api("POST", "composite/sobjects", json={"records": recs})
    assert r.status_code == 400
    assert r.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert api("POST", "composite/sobjects", json={"records": recs[:200]}).status_code == 200
    bad = api("POST", "composite/sobjects", content=b"{not json")
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    typeless = api("POST", "composite/sobjects", json={"records": [{"LastName": "x"}]}).json()
    assert typeless[0]["errors"][0] == {"statusCode": "INVALID_TYPE",
                                        "message": "Must send a concrete entity type.", "fields": []}


def test_converted_lead_refuses_membership(api, sf, campaign):
    cid, _ = campaign
    [lead] = sf.store.insert("Lead", [{"LastName": "L", "Company": "Co", "IsConverted": True}])
    body = api("POST", "composite/sobjects", json={"records": [
        {"attributes": {"type": "CampaignMember"}, "CampaignId": cid, "LeadId": lead}]}).json()
    assert body[0]["errors"][0]["statusCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"
    r = api("PATCH", f"sobjects/Lead/{lead}", json={"Company": "New"})
    assert r.json()[0]["errorCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"


def test_opportunity_won_flags_follow_stage(api):
    r = api("POST", "sobjects/Opportunity", json={"Name": "Deal", "StageName": "Closed Won",
                                                   "CloseDate": "2026-05-30", "Amount": 120.5})
    assert r.status_code == 201
    rows = api.query("SELECT Amount, IsWon, IsClosed FROM Opportunity WHERE IsWon = true "
                     "AND CloseDate >= 2026-01-01").json()["records"]
    assert [(x["Amount"], x["IsWon"], x["IsClosed"]) for x in rows] == [(120.5, True, True)]


def test_member_statuses_created_through_the_api(api, sf, campaign):
    cid, contacts = campaign
    r = api("POST", "sobjects/CampaignMemberStatus", json={
        "CampaignId": cid, "Label": "Clicked", "HasResponded": True, "IsDefault": True})
    assert r.status_code == 201
    rows = api.query("SELECT Label, IsDefault, SortOrder FROM CampaignMemberStatus "
                     f"WHERE CampaignId = '{cid}' ORDER BY SortOrder").json()["records"]
    assert [(x["Label"], x["IsDefault"], x["SortOrder"]) for x in rows] == [
        ("Sent", False, 1), ("Responded", False, 2), ("Clicked", True, 3)]
    dup = api("POST", "sobjects/CampaignMemberStatus", json={"CampaignId": cid, "Label": "Sent"})
    assert dup.status_code == 400 and dup.json()[0]["errorCode"] == "DUPLICATE_VALUE"
    [member] = api("POST", "composite/sobjects", json={"records": members(cid, contacts[:1])}).json()
    got = sf.store.get("CampaignMember", member["id"])
    assert (got["Status"], got["HasResponded"]) == ("Clicked", True)  # the new default
