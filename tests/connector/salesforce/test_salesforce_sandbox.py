"""The Salesforce connector against the in-process Salesforce sandbox (WSGI, no sockets).

Counts come from the connector's RequestCounter and are checked against the sandbox's own.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import httpx
import pytest

from connector.config import SalesforceDestination, SalesforceSource
from connector.crm.base import FieldSpec, FieldUpdate, set_members
from connector.crm.clock import ManualClock
from connector.crm.errors import QuotaExceededError
from connector.crm.salesforce import SalesforceConnector
from connector.crm.sink import MirrorSink
from connector.sandbox.clock import SandboxClock
from connector.sandbox.salesforce import SalesforceSandbox
from connector.state.store import StateStore
from tests.connector.salesforce.salesforce_testkit import ListSink

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
KEY_FIELD = {"name": "Segsync_Key__c", "type": "Text", "length": 40, "externalId": True, "unique": True}
SEGMENT_FIELD = {"name": "Segsync_Segment__c", "type": "Text", "length": 255}


def make_sandbox(**kw) -> SalesforceSandbox:
    kw.setdefault("custom_fields", {"Contact": [KEY_FIELD, SEGMENT_FIELD]})
    return SalesforceSandbox(clock=SandboxClock(START), **kw)


def make_connector(sb: SalesforceSandbox, dest: dict | None = None, **src) -> SalesforceConnector:
    creds = sb.credentials
    data = {
        "instance_url": creds["instance_url"],
        "login_url": creds["login_url"],
        "auth": {"method": "jwt", "client_id": creds["client_id"], "username": creds["username"],
                 "private_key": creds["private_key"]},
        "page_size": 200,
        "http": {"concurrency": 1},
    }
    data.update(src)
    destination = SalesforceDestination.model_validate(dest) if dest is not None else None
    return SalesforceConnector(SalesforceSource.model_validate(data), destination,
                               transport=httpx.WSGITransport(app=sb.app), clock=ManualClock(), now=sb.clock.now)


def seed_contacts(sb: SalesforceSandbox, n: int, prefix: str = "") -> list[str]:
    return sb.store.insert("Contact", [
        {"LastName": f"C{i}", "Email": f"{prefix}c{i}@example.com", "Segsync_Key__c": f"{prefix}k{i}",
         "MailingCountry": "FR"}
        for i in range(n)])


@pytest.fixture(scope="module")
def shared() -> SalesforceSandbox:
    return make_sandbox()


def test_full_then_incremental_pull_reads_only_changes(tmp_path):
    sb = make_sandbox()
    ids = seed_contacts(sb, 500)  # one timestamp for all: the cursor's tie-break carries the pull
    sb.clock.advance(seconds=1)  # written before the pull starts, not in its very millisecond
    conn = make_connector(sb, customers={"attributes": {"country": "MailingCountry"}})
    store = StateStore(tmp_path / "state.sqlite")
    sink = MirrorSink(store.mirror, "salesforce", "customers")
    cursor = conn.pull_customers(sink, sink.cursor())
    assert conn.counter.total(kind="query") == 3  # ceil(500 / 200) pages
    frame = store.mirror.customers("salesforce")
    assert len(frame) == 500 and frame["source_id"].is_unique
    assert frame.set_index("source_id").loc[ids[0], "attributes"] == {"country": "FR"}
    assert sink.cursor() == cursor

    sb.clock.advance(seconds=3600)
    for rid in ids[10:17]:
        sb.store.update("Contact", rid, {"Email": f"new-{rid}@example.com"})
    sb.store.delete("Contact", ids[3])
    sb.clock.advance(seconds=1)
    conn.counter.reset()
    sink2 = MirrorSink(store.mirror, "salesforce", "customers")
    cursor2 = conn.pull_customers(sink2, sink.cursor())
    assert (sink2.rows, sink2.deleted) == (7, 1)
    assert conn.counter.by_kind() == {"query": 1}
    live = store.mirror.customers("salesforce")
    assert len(live) == 499 and ids[3] not in set(live["source_id"])
    assert live.set_index("source_id").loc[ids[12], "email"] == f"new-{ids[12]}@example.com"
    assert cursor2 > cursor

    conn.counter.reset()
    sink3 = ListSink()
    assert conn.pull_customers(sink3, cursor2) == cursor2  # a quiet day: one call, nothing read
    assert conn.counter.by_kind() == {"query": 1} and sink3.rows == []


def test_large_pull_goes_through_bulk_without_loss_or_duplicates():
    sb = make_sandbox()
    ids = seed_contacts(sb, 700)
    sb.clock.advance(seconds=1)
    conn = make_connector(sb, bulk_query_threshold=250)
    sink = ListSink()
    cursor = conn.pull_customers(sink)
    got = [r.source_id for r in sink.rows]
    assert sorted(got) == sorted(ids) and len(got) == len(set(got))
    kinds = conn.counter.by_kind()
    assert kinds["query"] == 1 and kinds["bulk_query"] == 1 and kinds["bulk_query_results"] >= 1
    assert cursor.id == max(ids)


def test_session_expiry_mid_run_is_refreshed_in_rest_and_bulk_paths():
    sb = make_sandbox()
    seed_contacts(sb, 300)
    conn = make_connector(sb, bulk_query_threshold=100)
    conn.pull_customers(ListSink())
    sb.expire_sessions()  # the REST query's session is gone
    sink = ListSink()

    def expire_again_after_first_page(batch):
        sink(batch)
        if len(sink.batches) == 1:
            sb.expire_sessions()  # ... and again before the Bulk job is created

    conn.pull_customers(expire_again_after_first_page)
    assert len({r.source_id for r in sink.rows}) == 300
    assert conn.counter.total(kind="auth") == 3
    assert conn.counter.total(kind="query", status="401") == 1
    assert conn.counter.total(kind="bulk_query", status="401") == 1


def test_push_10000_updates_in_50_collections_calls():
    sb = make_sandbox()
    seed_contacts(sb, 10_000)
    conn = make_connector(sb, {"match": "external_id", "external_id_field": "Segsync_Key__c", "fields": {"segment_name": "Segsync_Segment__c"},
                               "bulk_ingest_threshold": 20_000})
    updates = [FieldUpdate(f"k{i}", {"segment_name": f"seg-{i % 4}"}) for i in range(10_000)]
    results = list(conn.push_updates(updates))
    assert conn.counter.by_kind() == {"auth": 1, "collections_upsert": math.ceil(10_000 / 200)}
    assert len(results) == 10_000 and all(r.ok for r in results)
    assert {r["Segsync_Segment__c"] for r in sb.store.records("Contact")} == {"seg-0", "seg-1", "seg-2", "seg-3"}


def test_push_above_threshold_is_one_bulk_job_and_failures_come_back_per_record():
    sb = make_sandbox()
    seed_contacts(sb, 3000)
    conn = make_connector(sb, {"fields": {"segment_name": "Segsync_Segment__c"}, "bulk_ingest_threshold": 1000})
    ids = [r["Id"] for r in sb.store.records("Contact")]
    updates = [FieldUpdate(rid, {"segment_name": "bulk"}) for rid in ids]
    updates.append(FieldUpdate("003000000000000BAD", {"segment_name": "bulk"}))
    results = {r.record_id: r for r in conn.push_updates(updates)}
    assert conn.counter.total(kind="bulk_ingest") == 1 and conn.counter.total(kind="collections_update") == 0
    assert len(results) == 3001
    assert not results["003000000000000BAD"].ok and results["003000000000000BAD"].error_code
    assert sum(r.ok for r in results.values()) == 3000
    assert all(r["Segsync_Segment__c"] == "bulk" for r in sb.store.records("Contact"))


def test_campaign_membership_is_exact_after_adds_and_removes(shared):
    sb = shared
    ids = seed_contacts(sb, 450, prefix="lists-")
    conn = make_connector(sb, {"member_status": "Sent"})
    campaign = conn.ensure_list("segsync Champions")
    assert conn.ensure_list("segsync Champions") == campaign
    first = set(ids[:300])
    assert all(r.ok for r in set_members(conn, campaign, first))
    assert conn.list_members(campaign) == first
    assert all(r.ok for r in conn.add_members(campaign, ids[:5]))  # duplicates count as done
    second = set(ids[200:450])
    results = set_members(conn, campaign, second)
    assert all(r.ok for r in results) and len(results) == 150 + 200
    assert conn.list_members(campaign) == second
    members = [m for m in sb.store.records("CampaignMember") if m["CampaignId"] == campaign]
    assert len(members) == 250 and {m["Status"] for m in members} == {"Sent"}
    fresh = make_connector(sb, {})
    assert fresh.ensure_list("segsync Champions") == campaign  # found by name, not created twice


def test_outcome_read(shared):
    sb = shared
    a, b, c = seed_contacts(sb, 3, prefix="outcome-")
    conn = make_connector(sb, {})
    treat, control = conn.ensure_list("segsync exp1 treatment"), conn.ensure_list("segsync exp1 control")
    list(conn.add_members(treat, [a, b]))
    list(conn.add_members(control, [c]))
    member = next(m for m in sb.store.records("CampaignMember") if m["CampaignId"] == treat and m["ContactId"] == a)
    sb.store.update("CampaignMember", member["Id"], {"Status": "Responded"})
    sb.store.insert("Opportunity", [
        {"Name": "won", "StageName": "Closed Won", "CloseDate": "2026-03-05", "Amount": 300.0, "ContactId": b},
        {"Name": "old", "StageName": "Closed Won", "CloseDate": "2025-12-01", "Amount": 99.0, "ContactId": c},
        {"Name": "lost", "StageName": "Closed Lost", "CloseDate": "2026-03-06", "Amount": 50.0, "ContactId": c},
    ])
    out = sorted(conn.read_outcomes({"exp1": [treat, control]}, date(2026, 3, 1)),
                 key=lambda o: (o.customer_source_id, o.metric))
    got = [(o.list_id, o.customer_source_id, o.metric, o.value) for o in out]
    assert got == [(treat, a, "responded", 1.0), (treat, b, "conversion", 1.0), (treat, b, "revenue", 300.0)]


def test_provision_creates_fields_through_tooling():
    sb = make_sandbox()
    conn = make_connector(sb, {"fields": {"segment_name": "Segsync_Segment__c", "churn": "Segsync_Churn__c"},
                               "create_missing_fields": True})
    report = conn.provision([FieldSpec("segment_name", "Segment"), FieldSpec("churn", "Churn", "number")])
    assert report.existing == ("Segsync_Segment__c",) and report.created == ("Segsync_Churn__c",)
    assert conn.provision([FieldSpec("churn", "Churn", "number")]).existing == ("Segsync_Churn__c",)


def test_quota_share_stops_before_the_limit():
    sb = make_sandbox(daily_api_limit=5)
    seed_contacts(sb, 1200)
    conn = make_connector(sb, quota_stop_share=0.8)
    sink = ListSink()
    with pytest.raises(QuotaExceededError) as err:
        conn.pull_customers(sink)
    assert err.value.code == "QUOTA_STOP_SHARE"
    # stops before the call that would pass 80 %; pages read so far went to the sink with cursors
    assert conn.counter.total(kind="query") == 4
    assert len(sink.batches) == 4 and len(sink.rows) == 800
    assert conn.client.clock.sleeps == []


@pytest.mark.parametrize(("threshold", "kind"), [(0, "bulk_ingest"), (4, "bulk_ingest"), (5, "collections_upsert")])
def test_bulk_threshold_boundary_and_no_update_is_lost(threshold, kind):
    sb = make_sandbox()
    seed_contacts(sb, 5, prefix="t-")
    conn = make_connector(sb, {"match": "external_id", "external_id_field": "Segsync_Key__c", "fields": {"segment_name": "Segsync_Segment__c"},
                               "bulk_ingest_threshold": threshold})
    results = list(conn.push_updates(FieldUpdate(f"t-k{i}", {"segment_name": "x"}) for i in range(5)))
    assert sorted(r.record_id for r in results if r.ok) == [f"t-k{i}" for i in range(5)]
    assert conn.counter.total(kind=kind) == 1
    before = conn.counter.total()
    assert list(conn.push_updates([])) == [] and conn.counter.total() == before  # nothing to do: no call
