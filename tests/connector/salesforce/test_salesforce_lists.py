"""Campaign lists, membership adds and removes, outcome reads, and field provisioning."""

from __future__ import annotations

from datetime import UTC, date, datetime
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from connector.crm.base import FieldSpec
from connector.crm.errors import ConfigurationError
from tests.connector.salesforce.salesforce_testkit import (
    API,
    TOKEN_URL,
    body,
    connector,
    destination,
    token_reply,
)


def soqls(route) -> list[str]:
    return [parse_qs(urlsplit(str(c.request.url)).query)["q"][0] for c in route.calls]


def rows(records) -> httpx.Response:
    return httpx.Response(200, json={"totalSize": len(records), "done": True, "records": records})


@respx.mock
def test_ensure_list_finds_by_escaped_name_or_creates_with_member_status():
    respx.post(TOKEN_URL).mock(return_value=token_reply())
    query = respx.get(f"{API}/query").mock(side_effect=[rows([]), rows([{"Id": "701NEW"}]), rows([{"Id": "701OLD"}])])
    create = respx.post(f"{API}/sobjects/Campaign").mock(return_value=httpx.Response(201, json={"id": "701NEW", "success": True, "errors": []}))
    status = respx.post(f"{API}/sobjects/CampaignMemberStatus").mock(return_value=httpx.Response(201, json={"id": "01Y", "success": True}))
    conn = connector(dest=destination(member_status="Targeted"))
    assert conn.ensure_list("segsync O'Neil's \"best\"") == "701NEW"
    assert conn.ensure_list("segsync O'Neil's \"best\"") == "701NEW"  # cached: no second lookup
    assert conn.ensure_list("segsync other") == "701OLD"
    assert soqls(query)[0] == ("SELECT Id FROM Campaign WHERE (Name = 'segsync O\\'Neil\\'s \\\"best\\\"') "
                               "ORDER BY CreatedDate, Id LIMIT 1")
    assert body(create.calls.last) == {"Name": "segsync O'Neil's \"best\"", "IsActive": True}
    assert body(status.calls.last) == {"CampaignId": "701NEW", "Label": "Targeted", "HasResponded": False, "SortOrder": 3}
    assert create.call_count == 1 and query.call_count == 3  # lookup, twin check after the create, lookup


@respx.mock
def test_ensure_list_deletes_a_twin_made_by_a_retried_create():
    """The create's reply was lost and the transport retried it: two Campaigns of that name."""
    respx.post(TOKEN_URL).mock(return_value=token_reply())
    respx.get(f"{API}/query").mock(side_effect=[rows([]), rows([{"Id": "701FIRST"}, {"Id": "701TWIN"}])])
    respx.post(f"{API}/sobjects/Campaign").mock(return_value=httpx.Response(201, json={"id": "701TWIN", "success": True}))
    delete = respx.delete(f"{API}/composite/sobjects").mock(return_value=httpx.Response(200, json=[
        {"id": "701TWIN", "success": True, "errors": []}]))
    assert connector(dest=destination()).ensure_list("segsync Dormant") == "701FIRST"
    assert delete.call_count == 1 and delete.calls.last.request.url.params["ids"] == "701TWIN"


def test_campaign_name_longer_than_80_is_refused():
    with pytest.raises(ConfigurationError, match="1-80 characters"):
        connector(dest=destination()).ensure_list("x" * 81)


@respx.mock
def test_add_members_counts_duplicate_value_as_success():
    respx.post(TOKEN_URL).mock(return_value=token_reply())
    route = respx.post(f"{API}/composite/sobjects").mock(return_value=httpx.Response(200, json=[
        {"id": "00v1", "success": True, "errors": []},
        {"success": False, "errors": [{"statusCode": "DUPLICATE_VALUE", "message": "Already a campaign member.", "fields": []}]},
        {"success": False, "errors": [{"statusCode": "INVALID_CROSS_REFERENCE_KEY", "message": "bad id", "fields": []}]},
    ]))
    conn = connector(dest=destination())
    results = list(conn.add_members("701A", ["003A", "003B", "003X", "003A"]))
    assert body(route.calls.last) == {"allOrNone": False, "records": [
        {"attributes": {"type": "CampaignMember"}, "CampaignId": "701A", "ContactId": c, "Status": "Sent"}
        for c in ("003A", "003B", "003X")]}
    assert [(r.record_id, r.ok, r.error_code) for r in results] == [
        ("003A", True, None), ("003B", True, None), ("003X", False, "INVALID_CROSS_REFERENCE_KEY")]


@respx.mock
def test_remove_members_queries_member_ids_then_deletes_them():
    respx.post(TOKEN_URL).mock(return_value=token_reply())
    query = respx.get(f"{API}/query").mock(return_value=rows([
        {"Id": "00vA", "ContactId": "003A"}, {"Id": "00vC", "ContactId": "003C"}]))
    delete = respx.delete(f"{API}/composite/sobjects").mock(return_value=httpx.Response(200, json=[
        {"id": "00vA", "success": True, "errors": []},
        {"id": "00vC", "success": False, "errors": [{"statusCode": "ENTITY_IS_DELETED", "message": "gone"}]},
    ]))
    conn = connector(dest=destination())
    results = list(conn.remove_members("701A", ["003A", "003B", "003C"]))
    assert soqls(query) == ["SELECT Id, ContactId FROM CampaignMember WHERE (CampaignId = '701A') AND "
                            "(ContactId IN ('003A', '003B', '003C'))"]
    params = parse_qs(urlsplit(str(delete.calls.last.request.url)).query)
    assert params == {"ids": ["00vA,00vC"], "allOrNone": ["false"]}
    assert [(r.record_id, r.ok) for r in results] == [("003A", True), ("003B", True), ("003C", True)]


@respx.mock
def test_read_outcomes_from_responses_and_won_opportunities():
    respx.post(TOKEN_URL).mock(return_value=token_reply())
    query = respx.get(f"{API}/query").mock(side_effect=[
        rows([
            {"ContactId": "003A", "CampaignId": "701T", "Status": "Responded", "HasResponded": True, "FirstRespondedDate": "2026-04-02"},
            {"ContactId": "003B", "CampaignId": "701C", "Status": "Sent", "HasResponded": False, "FirstRespondedDate": None},
            {"ContactId": "003D", "CampaignId": "701C", "Status": "Responded", "HasResponded": True, "FirstRespondedDate": "2026-01-02"},
        ]),
        rows([{"Id": "006X", "ContactId": "003B", "Amount": 250.0, "CloseDate": "2026-04-10"}]),
    ])
    conn = connector(dest=destination())
    out = list(conn.read_outcomes({"exp1": ["701T", "701C"]}, date(2026, 4, 1)))
    members_soql, opp_soql = soqls(query)
    assert members_soql == ("SELECT ContactId, CampaignId, Status, HasResponded, FirstRespondedDate FROM CampaignMember "
                            "WHERE (CampaignId IN ('701T', '701C'))")
    assert opp_soql == ("SELECT Id, ContactId, Amount, CloseDate FROM Opportunity WHERE (ContactId IN ('003A', '003B', '003D')) "
                        "AND (CloseDate >= 2026-04-01) AND (IsWon = true)")
    got = [(o.experiment, o.list_id, o.customer_source_id, o.metric, o.value, o.observed_at) for o in out]
    assert got == [
        ("exp1", "701T", "003A", "responded", 1.0, datetime(2026, 4, 2, tzinfo=UTC)),
        ("exp1", "701C", "003B", "conversion", 1.0, datetime(2026, 4, 10, tzinfo=UTC)),
        ("exp1", "701C", "003B", "revenue", 250.0, datetime(2026, 4, 10, tzinfo=UTC)),
    ]


SPECS = [FieldSpec("segment_name", "Segment"), FieldSpec("churn", "Churn score", "number")]
DEST = {"fields": {"segment_name": "Segsync_Segment__c", "churn": "Churn__c"}}


def describe(*names: str) -> httpx.Response:
    return httpx.Response(200, json={"name": "Contact", "fields": [{"name": n, "externalId": False} for n in ("Id", *names)]})


@respx.mock
def test_provision_without_permission_names_fields_and_fls_step():
    respx.post(TOKEN_URL).mock(return_value=token_reply())
    respx.get(f"{API}/sobjects/Contact/describe").mock(return_value=describe("Segsync_Segment__c"))
    with pytest.raises(ConfigurationError) as err:
        connector(dest=destination(**DEST)).provision(SPECS)
    text = str(err.value)
    assert "Churn__c (Number" in text and "field-level security" in text
    assert "Segsync_Segment__c" not in text.split("missing fields")[1].split(".")[0]


@respx.mock
def test_provision_creates_missing_fields_through_tooling():
    respx.post(TOKEN_URL).mock(return_value=token_reply())
    respx.get(f"{API}/sobjects/Contact/describe").mock(side_effect=[
        describe("Segsync_Segment__c"), describe("Segsync_Segment__c", "Churn__c")])
    tooling = respx.post(f"{API}/tooling/sobjects/CustomField").mock(return_value=httpx.Response(201, json={"id": "00N", "success": True}))
    report = connector(dest=destination(create_missing_fields=True, **DEST)).provision(SPECS)
    assert body(tooling.calls.last) == {"FullName": "Contact.Churn__c", "Metadata": {
        "label": "Churn score", "type": "Number", "precision": 18, "scale": 6}}
    assert report.existing == ("Segsync_Segment__c",) and report.created == ("Churn__c",)


@respx.mock
def test_provision_existing_but_invisible_field_asks_for_fls():
    respx.post(TOKEN_URL).mock(return_value=token_reply())
    respx.get(f"{API}/sobjects/Contact/describe").mock(return_value=describe("Segsync_Segment__c"))
    respx.post(f"{API}/tooling/sobjects/CustomField").mock(return_value=httpx.Response(400, json=[
        {"message": "There is already a field named Churn on Contact.", "errorCode": "DUPLICATE_DEVELOPER_NAME"}]))
    with pytest.raises(ConfigurationError, match="Churn__c exist but the integration user cannot see them"):
        connector(dest=destination(create_missing_fields=True, **DEST)).provision(SPECS)


@respx.mock
def test_provision_checks_the_external_id_field():
    respx.post(TOKEN_URL).mock(return_value=token_reply())
    respx.get(f"{API}/sobjects/Contact/describe").mock(return_value=describe("Segsync_Key__c", "Segsync_Segment__c", "Churn__c"))
    with pytest.raises(ConfigurationError, match="marked External ID"):
        connector(dest=destination(external_id_field="Segsync_Key__c", **DEST)).provision(SPECS)
