"""The official simple-salesforce client against the Salesforce sandbox: queries, Bulk 2.0,
sObject Collections through restful(), single-record helpers, describe and Tooling."""
# ruff: noqa: S608 - SOQL from literals and sandbox ids

from __future__ import annotations

import csv
import io

import pytest

simple_salesforce = pytest.importorskip("simple_salesforce")

from simple_salesforce import Salesforce  # noqa: E402

from connector.sandbox.salesforce import SalesforceSandbox  # noqa: E402
from tests.conformance.conftest import mounted_session  # noqa: E402

pytestmark = pytest.mark.conformance
VERSION = "66.0"


@pytest.fixture
def sb(clock):
    sandbox = SalesforceSandbox(clock=clock, bulk_job_polls=2, custom_fields={"Contact": [
        {"name": "Ext_Id__c", "type": "Text", "length": 40, "externalId": True, "unique": True}]})
    sandbox.store.insert("Contact", [
        {"FirstName": f"F{i}", "LastName": f"L{i:05d}", "Email": f"u{i}@example.com",
         "Ext_Id__c": f"X{i}"} for i in range(4500)])
    return sandbox


@pytest.fixture
def sf(sb):
    """Logged in by simple-salesforce itself with the JWT bearer flow."""
    c = sb.credentials
    return Salesforce(username=c["username"], consumer_key=c["client_id"],
                      privatekey=c["private_key"], domain="login", version=VERSION,
                      session=mounted_session(sb.app))


def test_jwt_login_sets_instance_and_version(sf, sb):
    assert sf.sf_instance == "login.salesforce.com"  # instance_url derived from the request host
    assert sf.base_url == f"https://login.salesforce.com/services/data/v{VERSION}/"
    assert sb.request_count[("oauth", 200)] == 1


def test_query_all_follows_next_records_url(sf, sb):
    res = sf.query_all("SELECT Id, Email FROM Contact WHERE Email LIKE 'u1%' ORDER BY LastName")
    assert res["totalSize"] == 1111 and res["done"] is True
    first = res["records"][0]
    assert first["attributes"]["type"] == "Contact"
    assert first["attributes"]["url"] == f"/services/data/v{VERSION}/sobjects/Contact/{first['Id']}"
    assert first["Email"] == "u1@example.com"
    all_rows = sf.query_all("SELECT Id FROM Contact")
    assert all_rows["totalSize"] == 4500 and len(all_rows["records"]) == 4500
    assert len({r["Id"] for r in all_rows["records"]}) == 4500
    assert sb.request_count[("query", 200)] == 1 + 3  # 1 page + (1 + 2 follow-ups)


def test_query_all_iter_streams_pages_with_batch_size(sf, sb):
    it = sf.query_all_iter("SELECT LastName FROM Contact ORDER BY LastName DESC",
                           headers={"Sforce-Query-Options": "batchSize=1000"})
    names = [r["LastName"] for r in it]
    assert names[0] == "L04499" and names[-1] == "L00000" and len(names) == 4500
    assert sb.request_count[("query", 200)] == 5  # ceil(4500 / 1000)


def test_query_include_deleted(sf, sb):
    victim = next(iter(sb.store.records("Contact")))["Id"]
    sf.Contact.delete(victim)
    live = sf.query(f"SELECT Id FROM Contact WHERE Id = '{victim}'")
    assert live == {"totalSize": 0, "done": True, "records": []}
    dead = sf.query_all(f"SELECT Id, IsDeleted FROM Contact WHERE Id = '{victim}'", include_deleted=True)
    assert dead["records"][0]["IsDeleted"] is True


def test_api_usage_header_is_parsed_despite_api_bursts(sf):
    sf.query("SELECT Id FROM Contact LIMIT 1")
    usage = sf.api_usage["api-usage"]
    assert (usage.used, usage.total) == (1, 100_000)
    limits = sf.limits()
    assert limits["DailyApiRequests"] == {"Max": 100_000, "Remaining": 100_000 - 2}


def test_bulk2_query_pages_until_locator_null(sf, sb):
    pages = list(sf.bulk2.Contact.query("SELECT Id, LastName, Email FROM Contact ORDER BY LastName",
                                        max_records=2000, wait=0))
    parsed = [list(csv.DictReader(io.StringIO(p))) for p in pages]
    assert [len(p) for p in parsed] == [2000, 2000, 500]
    assert list(parsed[0][0]) == ["Id", "LastName", "Email"]
    assert parsed[0][0]["LastName"] == "L00000" and parsed[2][-1]["Email"] == "u4499@example.com"
    assert sb.request_count[("bulk_query", 200)] == 1 + 2 + 3  # create, 2 polls, 3 pages


def test_bulk2_upsert_and_failed_records(sf, sb, tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text("Ext_Id__c,LastName,Email\nX1,Renamed,\nNEW1,Brand,new@example.com\nNEW2,,x@example.com\n")
    [result] = sf.bulk2.Contact.upsert(csv_file=str(path), external_id_field="Ext_Id__c", wait=0)
    assert (result["numberRecordsProcessed"], result["numberRecordsFailed"]) == (3, 1)
    failed = list(csv.DictReader(io.StringIO(sf.bulk2.Contact.get_failed_records(result["job_id"]))))
    assert failed[0]["sf__Error"].startswith("REQUIRED_FIELD_MISSING")
    assert failed[0]["Ext_Id__c"] == "NEW2"
    assert sf.query("SELECT LastName FROM Contact WHERE Ext_Id__c = 'X1'")["records"][0]["LastName"] == "Renamed"


def test_restful_composite_sobjects_campaign_members(sf, sb):
    campaign = sf.Campaign.create({"Name": "Spring - treat"})
    assert campaign == {"id": campaign["id"], "success": True, "errors": []}
    contacts = [r["Id"] for r in sf.query("SELECT Id FROM Contact ORDER BY LastName LIMIT 3")["records"]]
    records = [{"attributes": {"type": "CampaignMember"}, "CampaignId": campaign["id"],
                "ContactId": c, "Status": "Sent"} for c in contacts]
    first = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": records[:1]})
    assert first[0]["success"] is True and first[0]["id"].startswith("00v")
    again = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": records})
    assert again[0] == {"success": False, "errors": [
        {"statusCode": "DUPLICATE_VALUE", "message": "Already a campaign member.", "fields": []}]}
    assert [r["success"] for r in again[1:]] == [True, True]
    rolled = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": records})
    assert {e["statusCode"] for r in rolled for e in r["errors"]} == {"DUPLICATE_VALUE"}
    statuses = sf.query(f"SELECT Label, HasResponded FROM CampaignMemberStatus WHERE CampaignId = '{campaign['id']}' ORDER BY SortOrder")
    assert [(r["Label"], r["HasResponded"]) for r in statuses["records"]] == [("Sent", False), ("Responded", True)]
    members = sf.query(f"SELECT Id FROM CampaignMember WHERE CampaignId = '{campaign['id']}'")["records"]
    deleted = sf.restful("composite/sobjects", method="DELETE", params={"ids": members[0]["Id"]})
    assert deleted == [{"id": members[0]["Id"], "success": True, "errors": []}]


def test_sobject_helpers_and_upsert(sf, sb):
    created = sf.Contact.create({"LastName": "Solo", "Email": "solo@example.com"})
    assert sf.Contact.update(created["id"], {"FirstName": "Han"}) == 204
    assert sf.Contact.get(created["id"])["Name"] == "Han Solo"
    assert sf.Contact.upsert("Ext_Id__c/X7", {"LastName": "Seven"}) == 200  # v46+: 200 + body
    assert sf.Contact.get_by_custom_id("Ext_Id__c", "X7")["LastName"] == "Seven"
    assert sf.Contact.upsert("Ext_Id__c/BRAND-NEW", {"LastName": "New"}) == 201
    names = {f["name"] for f in sf.Contact.describe()["fields"]}
    assert {"Ext_Id__c", "Email", "SystemModstamp"} <= names


def test_tooling_custom_field_then_describe(sf):
    body = {"FullName": "Contact.Segment__c", "Metadata": {"label": "Segment", "type": "Text", "length": 80}}
    created = sf.restful("tooling/sobjects/CustomField", method="POST", json=body)
    assert created["success"] is True and created["id"].startswith("00N")
    assert "Segment__c" in {f["name"] for f in sf.Contact.describe()["fields"]}
