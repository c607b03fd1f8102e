"""The HubSpot connector against the HubSpot sandbox (in-process WSGI, rate limits on).

The transport's clock is the sandbox's clock: the connector's pacing waits move simulated
time forward, which is the time the sandbox's rate limiter counts in, so pacing is tested
against a real limiter without anyone sleeping.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from connector.config import HttpConfig, HubSpotAuth, HubSpotDestination, HubSpotSource, ListsConfig
from connector.crm.base import Cursor, FieldSpec, FieldUpdate, change_members, set_members
from connector.crm.hubspot import HubSpotConnector
from connector.crm.hubspot.lists import list_name
from connector.sandbox.clock import SandboxClock, TransportClock
from connector.sandbox.hubspot import HubSpotSandbox

START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def hs() -> HubSpotSandbox:
    return HubSpotSandbox(SandboxClock(START), tier_requests_per_10s=190)


def connect(hs: HubSpotSandbox, destination: HubSpotDestination | None = None, *, oauth: bool = False, **source_kw):
    creds = hs.credentials
    if oauth:
        auth = HubSpotAuth(method="oauth", client_id=creds["client_id"], client_secret=SecretStr(creds["client_secret"]),
                           refresh_token=SecretStr(creds["refresh_token"]))
    else:
        auth = HubSpotAuth(method="token", token=SecretStr(creds["token"]))
    source_kw.setdefault("tier_requests_per_10s", 190)
    source = HubSpotSource(base_url="https://hubspot.test", auth=auth,
                           http=HttpConfig(concurrency=source_kw.pop("concurrency", 1)), **source_kw)
    clock = TransportClock(hs.clock)
    conn = HubSpotConnector(source, destination or HubSpotDestination(), clock=clock,
                            transport=httpx.WSGITransport(app=hs.app), now=hs.clock.now)
    return conn, clock


def collect(pages):
    def sink(batch):
        pages.append(batch)
    return sink


def test_full_then_incremental_pull_reads_only_changes(hs):
    ids = hs.store.create("contacts", [{"email": f"u{i}@x.com"} for i in range(250)])
    deal_ids = hs.store.create("deals", [
        {"dealname": "won", "amount": "100", "dealstage": "closedwon", "closedate": "2026-05-20T00:00:00Z", "pipeline": "default"},
        {"dealname": "open", "amount": "50", "dealstage": "qualifiedtobuy", "pipeline": "default"},
    ])
    hs.store.associate("deals", deal_ids[0], "contacts", ids[3])
    hs.clock.advance(days=1)  # the data predates the overlap window of the first sync
    conn, _ = connect(hs)
    pages: list = []
    cursor = conn.pull_customers(collect(pages))
    tx_pages: list = []
    tx_cursor = conn.pull_transactions(collect(tx_pages))
    assert sum(len(p.rows) for p in pages) == 250
    assert hs.calls("objects.list") == 4  # 3 contact pages + 1 deal page
    (tx,) = [r for p in tx_pages for r in p.rows]
    assert (tx.transaction_id, tx.customer_source_id, tx.amount) == (deal_ids[0], ids[3], 100.0)

    hs.clock.advance(days=1)
    for i in ids[10:17]:
        hs.store.update("contacts", i, {"firstname": "changed"})
    hs.store.update("deals", deal_ids[1], {"dealstage": "closedwon", "closedate": "2026-06-02T00:00:00Z"})
    hs.store.associate("deals", deal_ids[1], "contacts", ids[4])
    before = hs.calls("objects.search")
    pages.clear()
    cursor2 = conn.pull_customers(collect(pages), cursor)
    changed = sorted(r.source_id for p in pages for r in p.rows)
    assert changed == sorted(ids[10:17])  # only the changed records were read
    assert hs.calls("objects.search") - before == 1
    assert cursor2 > cursor
    tx_pages.clear()
    conn.pull_transactions(collect(tx_pages), tx_cursor)
    assert [(r.transaction_id, r.customer_source_id) for p in tx_pages for r in p.rows] == [(deal_ids[1], ids[4])]
    assert hs.calls(status=429) == 0


def test_ten_thousand_property_updates_in_one_hundred_calls():
    hs = HubSpotSandbox(SandboxClock(START), tier_requests_per_10s=100)  # Starter: 104 calls need pacing
    ids = hs.store.create("contacts", [{"email": f"u{i}@x.com"} for i in range(10_000)])
    dest = HubSpotDestination(properties={"segment_id": "segsync_segment_id", "churn": "segsync_churn", "assigned_at": "segsync_assigned_at"})
    conn, clock = connect(hs, dest, concurrency=4, tier_requests_per_10s=100)
    report = conn.provision([FieldSpec("segment_id", "Segment", "enumeration", ("s0", "s1", "s2")),
                             FieldSpec("churn", "Churn", "number"), FieldSpec("assigned_at", "Assigned", "date")])
    assert set(report.created) == {"segsync_segment_id", "segsync_churn", "segsync_assigned_at"}
    updates = (FieldUpdate(i, {"segment_id": f"s{n % 3}", "churn": n / 10_000, "assigned_at": START}) for n, i in enumerate(ids))
    results = list(conn.push_updates(updates))
    assert len(results) == 10_000 and all(r.ok for r in results)
    assert hs.calls("objects.batch.update") == 100
    assert hs.calls(status=429) == 0  # paced under 100 per 10 s on the sandbox's own clock
    assert clock.slept > 0
    got = hs.store.get("contacts", ids[4])["properties"]
    assert (got["segsync_segment_id"], got["segsync_churn"], got["segsync_assigned_at"]) == ("s1", "0.0004", "2026-06-01")  # accepted as midnight UTC; read back as a day
    again = conn.provision([FieldSpec("segment_id", "Segment", "enumeration", ("s0", "s1", "s2", "s3"))])
    assert again.existing == ("segsync_segment_id",)


def test_list_membership_exact_after_adds_and_removes(hs):
    ids = hs.store.create("contacts", [{"email": f"u{i}@x.com"} for i in range(60)])
    conn, _ = connect(hs, oauth=True)
    name = list_name(ListsConfig().arm_name_template, experiment="spring", arm="treat", segment_id="s1", segment_name="Loyal")
    list_id = conn.ensure_list(name)
    assert hs.store.find_list(name) == list_id
    set_members(conn, list_id, ids[:40])
    assert hs.store.list_members(list_id) == set(ids[:40])
    hs.store.archive("contacts", ids[45])
    results = set_members(conn, list_id, ids[20:50])
    assert hs.store.list_members(list_id) == set(ids[20:50]) - {ids[45]}
    assert [(r.record_id, r.error_code) for r in results if not r.ok] == [(ids[45], "OBJECT_NOT_FOUND")]
    fresh, _ = connect(hs)
    assert fresh.ensure_list(name) == list_id  # found by name, not created twice
    assert len(hs.store.lists()) == 1
    # removing a member whose contact was deleted since leaves the list as desired: a success,
    # or the pipeline would retry the removal every run
    hs.store.archive("contacts", ids[21])
    removed = list(conn.remove_members(list_id, [ids[20], ids[21]]))
    assert [(r.record_id, r.ok) for r in sorted(removed, key=lambda r: r.record_id)] == [(ids[20], True), (ids[21], True)]
    assert hs.store.list_members(list_id) == set(ids[22:50]) - {ids[45]}


def test_search_cap_crossed_on_25000_changes(hs):
    ids = hs.store.create("contacts", [{"email": f"u{i}@x.com"} for i in range(25_000)])
    conn, clock = connect(hs, search_overlap_minutes=0)
    pages: list = []
    cursor = conn.pull_customers(collect(pages), Cursor(datetime(2026, 5, 1, tzinfo=UTC), "0"))
    got = [r.source_id for p in pages for r in p.rows]
    assert len(got) == 25_000 and sorted(got, key=int) == ids and len(set(got)) == 25_000
    assert hs.calls("objects.search") == 125 and hs.calls("objects.search", 400) == 0
    assert hs.calls(status=429) == 0 and clock.slept >= 30  # 125 searches at 4 per second
    # overlap 0: the high-water mark, held strictly before the scan's start (all were written in
    # that very millisecond, so an edit then may not have been seen): read at or after START
    assert cursor == Cursor(START, "")
    # mid-scan pages keep the window's bound and carry the search position; the last is complete
    assert pages[0].cursor.bound == Cursor(datetime(2026, 5, 1, tzinfo=UTC), "0")
    assert pages[0].cursor.scan.position == ids[199] and pages[-1].cursor.scan is None


def test_recent_writes_are_read_again_until_older_than_the_overlap(hs):
    ids = hs.store.create("contacts", [{"email": f"u{i}@x.com"} for i in range(5)])
    conn, _ = connect(hs, search_overlap_minutes=60)
    pages: list = []
    cursor = conn.pull_customers(collect(pages))
    # written just now: search may not show them all yet, so the cursor stays an hour back
    assert cursor == Cursor(datetime(2026, 6, 1, 11, 0, tzinfo=UTC), "")
    hs.clock.advance(seconds=600)
    hs.store.update("contacts", ids[0], {"firstname": "x"})
    pages.clear()
    cursor = conn.pull_customers(collect(pages), cursor)
    assert sorted(r.source_id for p in pages for r in p.rows) == ids  # the window is re-read
    assert cursor == Cursor(datetime(2026, 6, 1, 11, 10, tzinfo=UTC), "")
    hs.clock.advance(days=2)
    pages.clear()
    cursor = conn.pull_customers(collect(pages), cursor)
    # read only 10 minutes after they were written last time, so read once more; now settled
    assert sorted(r.source_id for p in pages for r in p.rows) == ids
    assert cursor == Cursor(datetime(2026, 6, 1, 12, 10, tzinfo=UTC), ids[0])
    pages.clear()
    assert conn.pull_customers(collect(pages), cursor) == cursor
    assert [r for p in pages for r in p.rows] == []


def test_incremental_search_resumes_after_a_crash_mid_scan(hs):
    ids = hs.store.create("contacts", [{"email": f"u{i}@x.com"} for i in range(600)])
    hs.clock.advance(days=1)
    conn, _ = connect(hs)
    since = Cursor(datetime(2026, 5, 1, tzinfo=UTC), "100")
    stored: list = []

    def crashing(batch):
        if len(stored) == 1:
            raise RuntimeError("killed")
        stored.append(batch)

    with pytest.raises(RuntimeError):
        conn.pull_customers(crashing, since)
    resume = stored[0].cursor
    assert resume.bound == since and resume.scan.position == ids[199]
    cursor = conn.pull_customers(stored.append, resume)
    got = [r.source_id for b in stored for r in b.rows]
    assert got == ids and hs.calls("objects.search") == 1 + 1 + 2
    assert cursor == Cursor(START, ids[-1])


def test_adds_and_removals_share_one_add_and_remove_call(hs):
    ids = hs.store.create("contacts", [{"email": f"m{i}@x.com"} for i in range(10)])
    conn, _ = connect(hs)
    list_id = conn.ensure_list("segsync shared call")
    set_members(conn, list_id, ids[:5])
    hs.store.archive("contacts", ids[4])  # a member deleted since: its removal is a success
    hs.store.archive("contacts", ids[9])  # a deleted contact cannot be added
    before = hs.calls("lists.memberships.add-and-remove")
    added, removed = change_members(conn, list_id, ids[5:], [ids[3], ids[4]])
    assert hs.calls("lists.memberships.add-and-remove") == before + 1
    assert sorted((r.record_id, r.ok, r.error_code) for r in added) == sorted(
        [(i, True, None) for i in ids[5:9]] + [(ids[9], False, "OBJECT_NOT_FOUND")]
    )
    assert sorted((r.record_id, r.ok) for r in removed) == [(ids[3], True), (ids[4], True)]
    assert hs.store.list_members(list_id) == set(ids[:3]) | set(ids[5:9])


def test_a_limit_shared_with_another_client_costs_no_429(hs):
    """Another integration (here: a first connector) spends most of the account's 10-second
    window; a second connector reads X-HubSpot-RateLimit-Remaining and waits its turn."""
    ids = hs.store.create("contacts", [{"email": f"s{i}@x.com"} for i in range(15_000)])
    dest = HubSpotDestination(properties={"segment_name": "segsync_segment"})
    first, _ = connect(hs, dest)
    first.provision([FieldSpec("segment_name", "Segment", "enumeration", ("A", "B"))])
    assert all(r.ok for r in first.push_updates(FieldUpdate(i, {"segment_name": "A"}) for i in ids))  # 150 calls
    second, clock = connect(hs, dest)
    before = hs.calls(status=429)
    results = list(second.push_updates(FieldUpdate(i, {"segment_name": "B"}) for i in ids[:5_000]))
    assert all(r.ok for r in results) and len(results) == 5_000
    assert hs.calls(status=429) == before  # no 429: the second connector booked the first one's calls
    assert clock.slept > 5  # it waited for the window instead
