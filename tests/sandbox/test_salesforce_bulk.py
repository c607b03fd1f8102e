"""Bulk API 2.0 query and ingest jobs."""

from __future__ import annotations

import csv
import io

import pytest


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def run_query(api, soql, operation="query"):
    job = api("POST", "jobs/query", json={"operation": operation, "query": soql}).json()
    states = [api("GET", f"jobs/query/{job['id']}").json()["state"] for _ in range(2)]
    return job, states


def test_query_job_pages_with_locator_null_at_the_end(api, sf):
    sf.store.insert("Contact", [{"LastName": f"N{i:04d}", "Email": f"n{i}@x.com" if i % 2 else None}
                                for i in range(2500)])
    job, states = run_query(api, "SELECT Id, LastName, Email, HasOptedOutOfEmail FROM Contact")
    assert job["state"] == "UploadComplete" and job["apiVersion"] == 66.0
    assert job["id"].startswith("750") and job["object"] == "Contact"
    assert states == ["InProgress", "JobComplete"]
    pages, locator = [], None
    while locator != "null":
        params = {"maxRecords": 1000, **({"locator": locator} if locator else {})}
        r = api("GET", f"jobs/query/{job['id']}/results", params=params)
        assert r.headers["content-type"] == "text/csv"
        locator = r.headers["sforce-locator"]
        pages.append((int(r.headers["sforce-numberofrecords"]), locator, rows(r.text)))
    assert [(n, loc) for n, loc, _ in pages] == [(1000, "MTAwMA"), (1000, "MjAwMA"), (500, "null")]
    header, first, second = pages[0][2][:3]
    assert header == ["Id", "LastName", "Email", "HasOptedOutOfEmail"]
    assert first[1:] == ["N0000", "", "false"] and second[1:] == ["N0001", "n1@x.com", "false"]
    assert sum(len(p[2]) - 1 for p in pages) == 2500
    assert '"N0000",""' in api("GET", f"jobs/query/{job['id']}/results", params={"maxRecords": 1}).text


def test_results_need_the_jobs_api_version(api, sf):
    sf.store.insert("Contact", [{"LastName": "A"}])
    job, _ = run_query(api, "SELECT Id FROM Contact")
    r = api("GET", f"jobs/query/{job['id']}/results", version="65.0")
    assert r.status_code == 409
    assert isinstance(r.json(), list) and r.json()[0]["errorCode"]


def test_results_before_completion_and_bad_soql(api):
    job = api("POST", "jobs/query", json={"operation": "query", "query": "SELECT Id FROM Lead"}).json()
    early = api("GET", f"jobs/query/{job['id']}/results")
    assert early.status_code == 400 and early.json()[0]["errorCode"] == "INVALIDJOBSTATE"
    bad = api("POST", "jobs/query", json={"operation": "query", "query": "SELECT Nope FROM Lead"})
    assert bad.status_code == 400
    assert bad.json()[0]["errorCode"] == "INVALIDJOB"
    assert "INVALID_FIELD" in bad.json()[0]["message"]


def test_query_all_job_includes_deleted(api, sf):
    a, b = sf.store.insert("Contact", [{"LastName": "A"}, {"LastName": "B"}])
    sf.store.delete("Contact", b)
    job, _ = run_query(api, "SELECT LastName, IsDeleted FROM Contact ORDER BY LastName", "queryAll")
    text = api("GET", f"jobs/query/{job['id']}/results").text
    assert rows(text) == [["LastName", "IsDeleted"], ["A", "false"], ["B", "true"]]


def ingest(api, body, csv_text, close=True):
    job = api("POST", "jobs/ingest", json={"contentType": "CSV", "lineEnding": "LF", **body}).json()
    assert job["state"] == "Open"
    assert job["contentUrl"] == f"services/data/v66.0/jobs/ingest/{job['id']}/batches"
    put = api("PUT", f"jobs/ingest/{job['id']}/batches", content=csv_text.encode(),
              headers={"Content-Type": "text/csv"})
    assert put.status_code == 201
    if close:
        closed = api("PATCH", f"jobs/ingest/{job['id']}", json={"state": "UploadComplete"})
        assert closed.json()["state"] == "UploadComplete"
    return job["id"]


def test_ingest_without_upload_complete_never_runs(api, sf):
    jid = ingest(api, {"object": "Contact", "operation": "insert"}, "LastName\nA\n", close=False)
    for _ in range(5):
        assert api("GET", f"jobs/ingest/{jid}").json()["state"] == "Open"
    assert list(sf.store.records("Contact")) == []


def test_ingest_upsert_results(api, sf):
    [old] = sf.store.insert("Contact", [{"LastName": "Old", "Ext_Id__c": "E1", "Segment__c": "keep"}])
    data = ("Ext_Id__c,LastName,Segment__c,Email\n"
            "E1,Updated,,\n"              # empty cell: Segment__c unchanged
            "E2,New,#N/A,new@x.com\n"     # #N/A: explicit null
            "E3,,x,\n"                    # LastName required on create
            "E4,Bad,x,not-an-email\n")
    jid = ingest(api, {"object": "Contact", "operation": "upsert", "externalIdFieldName": "Ext_Id__c"}, data)
    info = [api("GET", f"jobs/ingest/{jid}").json() for _ in range(2)]
    assert [i["state"] for i in info] == ["InProgress", "JobComplete"]
    assert (info[1]["numberRecordsProcessed"], info[1]["numberRecordsFailed"]) == (4, 2)
    ok = rows(api("GET", f"jobs/ingest/{jid}/successfulResults").text)
    assert ok[0] == ["sf__Id", "sf__Created", "Ext_Id__c", "LastName", "Segment__c", "Email"]
    assert ok[1] == [old, "false", "E1", "Updated", "", ""]
    assert ok[2][1:3] == ["true", "E2"] and ok[2][0].startswith("003")
    failed = rows(api("GET", f"jobs/ingest/{jid}/failedResults").text)
    assert failed[0][:2] == ["sf__Id", "sf__Error"]
    assert failed[1][1].startswith("REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]")
    assert failed[2][1].startswith("INVALID_EMAIL_ADDRESS:")
    assert sf.store.get("Contact", old)["Segment__c"] == "keep"
    assert sf.store.get("Contact", ok[2][0])["Segment__c"] is None
    assert rows(api("GET", f"jobs/ingest/{jid}/unprocessedrecords").text) == [
        ["Ext_Id__c", "LastName", "Segment__c", "Email"]]


def test_unknown_column_fails_the_job(api, sf):
    jid = ingest(api, {"object": "Contact", "operation": "insert"}, "LastName,Nope__c\nA,1\n")
    api("GET", f"jobs/ingest/{jid}")
    info = api("GET", f"jobs/ingest/{jid}").json()
    assert info["state"] == "Failed"
    assert info["errorMessage"] == "InvalidBatch : Field name not found : Nope__c"
    assert list(sf.store.records("Contact")) == []


def test_aborted_job_lists_unprocessed_rows(api):
    jid = ingest(api, {"object": "Contact", "operation": "insert"}, "LastName\nA\nB\n", close=False)
    assert api("PATCH", f"jobs/ingest/{jid}", json={"state": "Aborted"}).json()["state"] == "Aborted"
    assert rows(api("GET", f"jobs/ingest/{jid}/unprocessedrecords").text) == [["LastName"], ["A"], ["B"]]
    again = api("PATCH", f"jobs/ingest/{jid}", json={"state": "UploadComplete"})
    assert again.status_code == 400


@pytest.mark.parametrize("body", [
    {"object": "Contact", "operation": "merge"},
    {"object": "Widget", "operation": "insert"},
    {"object": "Contact", "operation": "upsert"},
])
def test_bad_ingest_jobs_are_refused(api, body):
    r = api("POST", "jobs/ingest", json=body)
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALIDJOB"


def test_delete_via_ingest(api, sf):
    a, b = sf.store.insert("Contact", [{"LastName": "A"}, {"LastName": "B"}])
    jid = ingest(api, {"object": "Contact", "operation": "delete"}, f"Id\n{a}\n")
    api("GET", f"jobs/ingest/{jid}")
    assert api("GET", f"jobs/ingest/{jid}").json()["numberRecordsProcessed"] == 1
    assert [r["Id"] for r in sf.store.records("Contact")] == [b]
