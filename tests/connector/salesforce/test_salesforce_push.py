"""Writes: Collections upsert/update with partial failures, Bulk ingest with failedResults, 401 in Bulk."""

from __future__ import annotations

import csv
import io
import math

import httpx
import pytest
import respx

from connector.crm.base import FieldUpdate
from connector.crm.errors import ConfigurationError
from tests.connector.salesforce.salesforce_testkit import (
    API,
    TOKEN_URL,
    body,
    connector,
    destination,
    session_expired,
    token_reply,
)


def updates(n: int, start: int = 0) -> list[FieldUpdate]:
    return [FieldUpdate(f"ext-{i}", {"segment_id": f"s{i % 3}", "segment_name": "Champions", "churn": 0.25})
            for i in range(start, start + n)]


DEST = {"match": "external_id", "external_id_field": "Segsync_Key__c",
        "fields": {"segment_id": "Segsync_Segment_Id__c", "segment_name": "Segsync_Segment__c", "churn": "Churn__c"}}


@respx.mock
def test_collections_upsert_batches_of_200_with_partial_failures():
    respx.post(TOKEN_URL).mock(return_value=token_reply())

    def reply(request: httpx.Request) -> httpx.Response:
        records = __import__("json").loads(request.content)["records"]
        out = []
        for r in records:
            if r["Segsync_Key__c"] == "ext-7":
                out.append({"success": False, "errors": [{"statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                                                          "message": "blocked by rule", "fields": []}]})
            else:
                out.append({"id": "003" + r["Segsync_Key__c"], "success": True, "errors": [], "created": False})
        return httpx.Response(200, json=out)

    route = respx.patch(f"{API}/composite/sobjects/Contact/Segsync_Key__c").mock(side_effect=reply)
    conn = connector(dest=destination(**DEST))
    results = list(conn.push_updates(updates(450)))
    assert route.call_count == 3  # ceil(450 / 200)
    sent = body(route.calls[0])
    assert sent["allOrNone"] is False and len(sent["records"]) == 200
    assert sent["records"][0] == {"attributes": {"type": "Contact"}, "Segsync_Key__c": "ext-0",
                                  "Segsync_Segment_Id__c": "s0", "Segsync_Segment__c": "Champions", "Churn__c": 0.25}
    assert len(body(route.calls[2])["records"]) == 50
    assert len(results) == 450
    failed = [r for r in results if not r.ok]
    assert [(r.record_id, r.error_code, r.message) for r in failed] == [
        ("ext-7", "FIELD_CUSTOM_VALIDATION_EXCEPTION", "blocked by rule")]
    assert results[0].crm_id == "003ext-0"
    assert conn.counter.total(kind="collections_upsert") == 3


@respx.mock
def test_update_by_id_without_external_id_and_nan_becomes_null():
    respx.post(TOKEN_URL).mock(return_value=token_reply())
    route = respx.patch(f"{API}/composite/sobjects").mock(return_value=httpx.Response(
        200, json=[{"id": "003A", "success": True, "errors": []}]))
    conn = connector(dest=destination(fields={"churn": "Churn__c"}))
    [result] = conn.push_updates([FieldUpdate("003A", {"churn": math.nan})])
    assert body(route.calls.last) == {"allOrNone": False, "records": [
        {"attributes": {"type": "Contact"}, "Churn__c": None, "id": "003A"}]}
    assert result.ok and result.crm_id == "003A"


def test_unknown_key_is_a_configuration_error():
    conn = connector(dest=destination())
    with pytest.raises(ConfigurationError, match="no field for 'lifetime'"):
        list(conn.push_updates([FieldUpdate("003A", {"lifetime": 3})]))


def test_writes_need_a_destination():
    with pytest.raises(ConfigurationError, match="destinations.salesforce"):
        connector().push_updates([])


@respx.mock
def test_bulk_ingest_above_threshold_reconciles_result_files_and_refreshes_mid_job():
    token = respx.post(TOKEN_URL).mock(side_effect=[token_reply(1), token_reply(2)])
    create = respx.post(f"{API}/jobs/ingest").mock(return_value=httpx.Response(200, json={
        "id": "750I", "state": "Open", "contentUrl": "services/data/v66.0/jobs/ingest/750I/batches"}))
    upload = respx.put(f"{API}/jobs/ingest/750I/batches").mock(side_effect=[session_expired(), httpx.Response(201)])
    close = respx.patch(f"{API}/jobs/ingest/750I").mock(return_value=httpx.Response(200, json={"id": "750I", "state": "UploadComplete"}))
    respx.get(f"{API}/jobs/ingest/750I").mock(side_effect=[
        httpx.Response(200, json={"id": "750I", "state": "InProgress"}),
        httpx.Response(200, json={"id": "750I", "state": "JobComplete", "numberRecordsProcessed": 5, "numberRecordsFailed": 1}),
    ])
    respx.get(f"{API}/jobs/ingest/750I/successfulResults/").mock(return_value=httpx.Response(200, text=(
        '"sf__Id","sf__Created","Segsync_Key__c","Churn__c","Segsync_Segment_Id__c","Segsync_Segment__c"\n'
        '"003B","false","ext-1","0.25","s1","Champions"\n'
        '"003A","true","ext-0","0.25","s0","Champions"\n'
        '"003C","false","ext-2","0.25","s2","Champions"\n')))
    respx.get(f"{API}/jobs/ingest/750I/failedResults/").mock(return_value=httpx.Response(200, text=(
        '"sf__Id","sf__Error","Segsync_Key__c","Churn__c","Segsync_Segment_Id__c","Segsync_Segment__c"\n'
        '"","UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record:--","ext-3","0.25","s0","Champions"\n')))
    respx.get(f"{API}/jobs/ingest/750I/unprocessedrecords/").mock(return_value=httpx.Response(200, text=(
        '"Segsync_Key__c","Churn__c","Segsync_Segment_Id__c","Segsync_Segment__c"\n"ext-4","0.25","s1","Champions"\n')))
    conn = connector(dest=destination(bulk_ingest_threshold=4, **DEST))
    results = {r.record_id: r for r in conn.push_updates(updates(5))}
    job = body(create.calls.last)
    assert job == {"object": "Contact", "operation": "upsert", "contentType": "CSV", "lineEnding": "LF",
                   "externalIdFieldName": "Segsync_Key__c"}
    uploaded = upload.calls.last.request
    assert uploaded.headers["Content-Type"] == "text/csv"
    assert uploaded.headers["Authorization"] == "Bearer 00Dtok2" and token.call_count == 2
    rows = list(csv.reader(io.StringIO(uploaded.content.decode())))
    assert rows[0] == ["Segsync_Key__c", "Churn__c", "Segsync_Segment_Id__c", "Segsync_Segment__c"]
    assert rows[1] == ["ext-0", "0.25", "s0", "Champions"] and len(rows) == 6
    assert body(close.calls.last) == {"state": "UploadComplete"}
    assert results["ext-0"].ok and results["ext-0"].created and results["ext-0"].crm_id == "003A"
    assert results["ext-1"].ok and not results["ext-1"].created
    assert (results["ext-3"].ok, results["ext-3"].error_code) == (False, "UNABLE_TO_LOCK_ROW")
    assert "exclusive access" in results["ext-3"].message
    assert (results["ext-4"].ok, results["ext-4"].error_code) == (False, "NOT_PROCESSED")
    assert len(results) == 5
