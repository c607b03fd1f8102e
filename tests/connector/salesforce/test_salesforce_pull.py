"""Pulls over REST and Bulk API 2.0: queries sent, cursors, deletions, refresh in both paths."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from connector.crm.base import Cursor
from connector.crm.errors import FatalError, QuotaExceededError
from connector.cursor import BEGINNING, encode_mark, query_key
from tests.connector.salesforce.salesforce_testkit import (
    API,
    LIMIT_HEADER,
    TOKEN_URL,
    ListSink,
    body,
    connector,
    session_expired,
    source,
    token_reply,
)


def contact(i: int, ts: str = "2026-03-01T12:00:00.000+0000", deleted: bool = False) -> dict:
    return {"attributes": {"type": "Contact", "url": f"/services/data/v66.0/sobjects/Contact/003{i:015d}"},
            "Id": f"003{i:015d}", "Email": f"c{i}@x.com", "CreatedDate": "2026-01-01T00:00:00.000+0000",
            "SystemModstamp": ts, "IsDeleted": deleted, "MailingCountry": "FR", "Account": {"Industry": "Retail"}}


def page(records, total, next_url=None) -> httpx.Response:
    data = {"totalSize": total, "done": next_url is None, "records": records}
    if next_url:
        data["nextRecordsUrl"] = next_url
    return httpx.Response(200, json=data, headers=LIMIT_HEADER)


def soql_of(call) -> str:
    return parse_qs(urlsplit(str(call.request.url)).query)["q"][0]


def customer_source(**kw):
    return source(customers={"attributes": {"country": "MailingCountry", "industry": "Account.Industry"}}, **kw)


@respx.mock
def test_full_pull_follows_next_records_url_and_streams_pages():
    respx.post(TOKEN_URL).mock(return_value=token_reply())
    first = respx.get(f"{API}/query").mock(return_value=page([contact(1), contact(2)], 3, "/services/data/v66.0/query/01gX-2"))
    nxt = respx.get(f"{API}/query/01gX-2").mock(return_value=page([contact(3, "2026-03-02T08:00:00.000+0000")], 3))
    sink = ListSink()
    conn = connector(customer_source())
    cursor = conn.pull_customers(sink)
    soql = soql_of(first.calls.last)
    assert soql == ("SELECT Id, Email, CreatedDate, SystemModstamp, IsDeleted, MailingCountry, Account.Industry "
                    "FROM Contact ORDER BY SystemModstamp, Id")
    assert first.calls.last.request.headers["Sforce-Query-Options"] == "batchSize=2000"
    assert nxt.call_count == 1
    # each page keeps the window's bound (the beginning) and moves the scan's position; then the
    # completed scan's cursor alone
    assert [len(b.rows) for b in sink.batches] == [2, 1, 0]
    assert sink.batches[0].cursor.bound == Cursor(BEGINNING)
    assert sink.batches[0].cursor.scan.position == encode_mark(datetime(2026, 3, 1, 12, tzinfo=UTC), "003000000000000002")
    assert sink.batches[1].cursor.scan.position == encode_mark(datetime(2026, 3, 2, 8, tzinfo=UTC), "003000000000000003")
    assert cursor == sink.batches[2].cursor == Cursor(datetime(2026, 3, 2, 8, tzinfo=UTC), "003000000000000003")
    r = sink.rows[0]
    assert (r.source, r.source_id, r.email) == ("salesforce", "003000000000000001", "c1@x.com")
    assert r.attributes == {"country": "FR", "industry": "Retail"}
    assert r.created_at == datetime(2026, 1, 1, tzinfo=UTC)


@respx.mock
def test_incremental_pull_uses_query_all_cursor_and_reports_deletions():
    respx.post(TOKEN_URL).mock(return_value=token_reply())
    route = respx.get(f"{API}/queryAll").mock(
        return_value=page([contact(7, deleted=True), contact(8)], 2))
    since = Cursor(datetime(2026, 3, 1, 12, tzinfo=UTC), "003000000000000005")
    sink = ListSink()
    cursor = connector(customer_source()).pull_customers(sink, since)
    assert ("WHERE ((SystemModstamp > 2026-03-01T12:00:00Z OR (SystemModstamp = 2026-03-01T12:00:00Z AND "
            "Id > '003000000000000005'))) ORDER BY SystemModstamp, Id") in soql_of(route.calls.last)
    assert sink.deleted == ["003000000000000007"]
    assert [r.source_id for r in sink.rows] == ["003000000000000008"]
    assert cursor.id == "003000000000000008"


def resumed_full_sync() -> Cursor:
    """A first sync killed after the page that ended at Contact 5 (12:00), started at 13:00."""
    return Cursor(BEGINNING).scanning(query_key("salesforce", "Contact", ""),
                                      encode_mark(datetime(2026, 3, 1, 12, tzinfo=UTC), "003000000000000005"),
                                      datetime(2026, 3, 1, 13, tzinfo=UTC))


@respx.mock
def test_a_resumed_full_sync_reads_deletions_after_its_position():
    """A row the killed runs mirrored and that was deleted meanwhile: queryAll reports it."""
    respx.post(TOKEN_URL).mock(return_value=token_reply())
    query = respx.get(f"{API}/query").mock(return_value=page([], 0))
    route = respx.get(f"{API}/queryAll").mock(
        return_value=page([contact(2, "2026-03-01T13:00:05.000+0000", deleted=True)], 1))
    sink = ListSink()
    cursor = connector(customer_source()).pull_customers(sink, resumed_full_sync())
    assert query.call_count == 0
    assert ("FROM Contact WHERE ((SystemModstamp > 2026-03-01T12:00:00Z OR (SystemModstamp = 2026-03-01T12:00:00Z "
            "AND Id > '003000000000000005'))) ORDER BY SystemModstamp, Id") in soql_of(route.calls.last)
    assert sink.deleted == ["003000000000000002"] and sink.rows == []
    # the delete came after the scan's first start: the bound stays before it (the next scan reads it again)
    assert cursor == Cursor(datetime(2026, 3, 1, 13, tzinfo=UTC))


@respx.mock
def test_a_resume_that_finds_nothing_new_completes_the_window_at_its_position():
    """Before the fix, the completed cursor fell back to the window's bound (the beginning): the
    next run was a full sync again, which reads no deletions, and a deleted Contact stayed."""
    respx.post(TOKEN_URL).mock(return_value=token_reply())
    respx.get(f"{API}/queryAll").mock(return_value=page([], 0))
    sink = ListSink()
    cursor = connector(customer_source()).pull_customers(sink, resumed_full_sync())
    assert cursor == Cursor(datetime(2026, 3, 1, 12, tzinfo=UTC), "003000000000000005")
    assert not cursor.full_sync and cursor.scan is None
    assert [b.cursor for b in sink.batches] == [cursor]


@respx.mock
def test_nothing_changed_costs_one_call_and_keeps_the_cursor():
    respx.post(TOKEN_URL).mock(return_value=token_reply())
    route = respx.get(f"{API}/queryAll").mock(return_value=page([], 0))
    since = Cursor(datetime(2026, 3, 1, tzinfo=UTC), "003A")
    sink = ListSink()
    assert connector(customer_source()).pull_customers(sink, since) == since
    assert route.call_count == 1 and sink.batches == []


@respx.mock
def test_transactions_retract_rows_that_stop_matching_where():
    respx.post(TOKEN_URL).mock(return_value=token_reply())
    opp = {"attributes": {"type": "Opportunity"}, "Id": "006A", "ContactId": "003A", "Amount": 120.5,
           "CloseDate": "2026-02-03", "SystemModstamp": "2026-03-01T00:00:00.000+0000", "IsDeleted": False}
    route = respx.get(f"{API}/queryAll").mock(side_effect=[
        page([{"attributes": {}, "Id": "006LOST", "SystemModstamp": "2026-03-01T00:00:00.000+0000"}], 1),
        page([opp], 1),
    ])
    since = Cursor(datetime(2026, 2, 1, tzinfo=UTC), "006")
    sink = ListSink()
    connector().pull_transactions(sink, since)
    retract, main = (soql_of(c) for c in route.calls)
    assert retract.startswith("SELECT Id, SystemModstamp FROM Opportunity WHERE (") and "(NOT (IsWon = true))" in retract
    assert "(IsWon = true)" in main and "NOT" not in main
    assert sink.batches[0].deleted_ids == ["006LOST"] and sink.batches[0].cursor == since
    t = sink.rows[0]
    assert (t.transaction_id, t.customer_source_id, t.amount, t.source) == ("006A", "003A", 120.5, "salesforce")
    assert t.occurred_at == datetime(2026, 2, 3, tzinfo=UTC)


@respx.mock
def test_503_and_429_are_retried_honouring_retry_after():
    respx.post(TOKEN_URL).mock(return_value=token_reply())
    err = [{"message": "busy", "errorCode": "SERVER_UNAVAILABLE"}]
    route = respx.get(f"{API}/query").mock(side_effect=[
        httpx.Response(503, json=err, headers={"Retry-After": "5"}),
        httpx.Response(429, headers={"Retry-After": "2"}),
        page([contact(1)], 1),
    ])
    conn = connector()
    conn.pull_customers(ListSink())
    assert route.call_count == 3
    assert sum(conn.client.clock.sleeps) == pytest.approx(7)


@respx.mock
def test_quota_share_stops_the_next_call_cleanly():
    respx.post(TOKEN_URL).mock(return_value=token_reply())
    busy = {"Sforce-Limit-Info": "api-usage=85000/100000; api-bursts=3/750"}
    first = respx.get(f"{API}/query").mock(return_value=httpx.Response(
        200, json={"totalSize": 4, "done": False, "nextRecordsUrl": "/services/data/v66.0/query/01g-2",
                   "records": [contact(1)]}, headers=busy))
    second = respx.get(f"{API}/query/01g-2").mock(return_value=page([contact(2)], 4))
    sink = ListSink()
    conn = connector()
    with pytest.raises(QuotaExceededError, match="85000 of 100000"):
        conn.pull_customers(sink)
    assert first.call_count == 1 and second.call_count == 0
    assert len(sink.batches) == 1  # the page that was read is stored with its cursor
    assert conn.quota().share_used == 0.85


# ---------------------------------------------------------------------------------------- Bulk


def bulk_csv(rows: list[tuple[str, str, bool]]) -> str:
    head = '"Id","Email","CreatedDate","SystemModstamp","IsDeleted"\n'
    return head + "".join(
        f'"{i}","{i}@x.com","2026-01-01T00:00:00.000Z","{ts}","{str(d).lower()}"\n' for i, ts, d in rows)


@respx.mock
def test_large_pull_switches_to_bulk_after_the_first_page():
    token = respx.post(TOKEN_URL).mock(side_effect=[token_reply(1), token_reply(2)])
    respx.get(f"{API}/query").mock(return_value=page([contact(1)], 50_000, "/services/data/v66.0/query/01g-2"))
    create = respx.post(f"{API}/jobs/query").mock(return_value=httpx.Response(200, json={"id": "750Q", "state": "UploadComplete"}))
    poll = respx.get(f"{API}/jobs/query/750Q").mock(side_effect=[
        httpx.Response(200, json={"id": "750Q", "state": "InProgress"}),
        httpx.Response(200, json={"id": "750Q", "state": "JobComplete"}),
    ])
    results = respx.get(f"{API}/jobs/query/750Q/results").mock(side_effect=[
        session_expired(),  # the session expires mid-Bulk: refreshed and replayed
        httpx.Response(200, text=bulk_csv([("003Z", "2026-03-05T00:00:00.000Z", False),
                                           ("003B", "2026-03-02T00:00:00.000Z", False)]),
                       headers={"Sforce-Locator": "MTAwMDA", "Sforce-NumberOfRecords": "2"}),
        httpx.Response(200, text=bulk_csv([("003C", "2026-03-03T00:00:00.000Z", True)]),
                       headers={"Sforce-Locator": "null", "Sforce-NumberOfRecords": "1"}),
    ])
    sink = ListSink()
    conn = connector(source(bulk_query_threshold=10_000))
    cursor = conn.pull_customers(sink)
    job = body(create.calls.last)
    assert job["operation"] == "query" and job["contentType"] == "CSV" and job["lineEnding"] == "LF"
    assert "ORDER BY" not in job["query"]
    assert "(SystemModstamp > 2026-03-01T12:00:00Z OR (SystemModstamp = 2026-03-01T12:00:00Z AND Id > '003000000000000001'))" in job["query"]
    assert poll.call_count == 2 and token.call_count == 2
    params = [dict(parse_qs(urlsplit(str(c.request.url)).query)) for c in results.calls]
    assert params[1] == {"maxRecords": ["50000"]} and params[2] == {"locator": ["MTAwMDA"], "maxRecords": ["50000"]}
    assert results.calls[2].request.headers["Accept"] == "text/csv"
    # unordered Bulk pages keep the position where the job started (after the REST page); only
    # the completed scan carries the maximum
    job_start = encode_mark(datetime(2026, 3, 1, 12, tzinfo=UTC), "003000000000000001")
    assert [b.cursor.scan.position for b in sink.batches[:3]] == [job_start] * 3
    assert {b.cursor.bound for b in sink.batches[:3]} == {Cursor(BEGINNING)}
    assert sink.batches[3].cursor == Cursor(datetime(2026, 3, 5, tzinfo=UTC), "003Z")
    assert cursor == Cursor(datetime(2026, 3, 5, tzinfo=UTC), "003Z")
    assert [r.source_id for r in sink.rows] == ["003000000000000001", "003Z", "003B"]
    assert sink.deleted == ["003C"]
    assert conn.client.clock.sleeps == [0.5]


@respx.mock
def test_failed_bulk_query_job_is_fatal():
    respx.post(TOKEN_URL).mock(return_value=token_reply())
    respx.get(f"{API}/query").mock(return_value=page([contact(1)], 99_999, "/services/data/v66.0/query/01g-2"))
    respx.post(f"{API}/jobs/query").mock(return_value=httpx.Response(200, json={"id": "750F", "state": "UploadComplete"}))
    respx.get(f"{API}/jobs/query/750F").mock(return_value=httpx.Response(
        200, json={"id": "750F", "state": "Failed", "errorMessage": "INVALID_FIELD: No such column"}))
    with pytest.raises(FatalError, match="No such column"):
        connector().pull_customers(ListSink())
