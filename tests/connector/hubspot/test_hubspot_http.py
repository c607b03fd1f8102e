"""Every HubSpot call kind against respx: paths, headers, bodies, and what the replies mean."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime

import httpx
import pytest
import respx
from pydantic import SecretStr

from connector.config import HttpConfig, HubSpotAuth, HubSpotDestination, HubSpotSource
from connector.crm.base import Cursor, FieldSpec, FieldUpdate
from connector.crm.errors import AuthenticationError, FatalError

OBJ = "/crm/objects/2026-03"
BASE = "https://api.hubapi.com"
TOKEN = "pat-na1-test-secret-token"


def make_source(**kw) -> HubSpotSource:
    kw.setdefault("auth", HubSpotAuth(method="token", token=SecretStr(TOKEN)))
    kw.setdefault("http", HttpConfig(concurrency=1, max_attempts=4, backoff_base_seconds=0.5))
    return HubSpotSource(**kw)


def contact(i: int, mod: str = "2026-11-01T10:00:00Z", **props) -> dict:
    return {
        "id": str(i),
        "properties": {"email": f"c{i}@x.com", "createdate": "2026-01-01T00:00:00Z", "lastmodifieddate": mod, **props},
        "createdAt": "2026-01-01T00:00:00Z",
        "updatedAt": mod,
        "archived": False,
    }


def body_of(call) -> dict:
    return json.loads(call.request.content)


# ----------------------------------------------------------------------------- pulls


def test_full_pull_pages_the_list_endpoint_with_bearer_token(make_connector):
    conn = make_connector(make_source(attributes={"country": "country"}))
    pages = []
    with respx.mock(base_url=BASE, assert_all_called=True) as mock:
        route = mock.get(f"{OBJ}/contacts").mock(
            side_effect=[
                httpx.Response(200, json={"results": [contact(1), contact(2)], "paging": {"next": {"after": "3", "link": "x"}}}),
                httpx.Response(200, json={"results": [contact(3, "2026-11-02T00:00:00Z", country="DE")]}),
            ]
        )
        cursor = conn.pull_customers(pages.append)
    first, second = route.calls
    assert first.request.headers["Authorization"] == f"Bearer {TOKEN}"
    params = first.request.url.params
    assert params["limit"] == "100" and params["archived"] == "false" and "after" not in params
    assert set(params["properties"].split(",")) >= {"email", "createdate", "lastmodifieddate", "country"}
    assert second.request.url.params["after"] == "3"
    assert [r.source_id for p in pages for r in p.rows] == ["1", "2", "3"]
    # scan unfinished: the window's bound stays at the beginning, the position is the `after` token
    assert (pages[0].cursor.timestamp, pages[0].cursor.id) == (datetime(1970, 1, 1, tzinfo=UTC), "")
    assert pages[0].cursor.scan is not None and pages[0].cursor.scan.position == "3"
    assert pages[1].rows[0].attributes == {"country": "DE"}
    assert cursor == Cursor(datetime(2026, 11, 2, tzinfo=UTC), "3")


def test_long_property_lists_never_overflow_the_url(make_connector):
    many = [f"custom_property_number_{i:04d}" for i in range(600)]  # ~17,000 characters
    conn = make_connector(make_source(contact_properties=many))
    with respx.mock(base_url=BASE, assert_all_called=True) as mock:
        listed = mock.get(f"{OBJ}/contacts").respond(200, json={"results": [contact(1)]})
        read = mock.post(f"{OBJ}/contacts/batch/read").respond(
            200, json={"status": "COMPLETE", "results": [{"id": "1", "properties": {"custom_property_number_0599": "v"}}]}
        )
        pages = []
        conn.pull_customers(pages.append)
    assert len(str(listed.calls[0].request.url)) < 9_000
    sent = [body_of(c) for c in read.calls]
    assert len(sent) == 2 and all(b["inputs"] == [{"id": "1"}] for b in sent)
    in_bodies = [p for b in sent for p in b["properties"]]
    url_props = listed.calls[0].request.url.params["properties"].split(",")
    assert sorted(url_props + in_bodies) == sorted({*many, "email", "createdate", "lastmodifieddate"})
    assert pages[0].rows[0].source_id == "1"


def test_incremental_pull_searches_after_the_cursor_and_paces_search(make_connector, clock):
    conn = make_connector(make_source(search_overlap_minutes=60, search_requests_per_second=4))
    since = Cursor(datetime(2026, 11, 1, 12, tzinfo=UTC), "7")
    replies = [
        httpx.Response(200, json={"total": 12, "results": [contact(2 * i + 1), contact(2 * i + 2)], "paging": {"next": {"after": str(2 * i + 2)}}})
        for i in range(5)
    ] + [httpx.Response(200, json={"total": 12, "results": [contact(11), contact(12, "2026-11-01T13:00:00Z")]})]
    replies = [httpx.Response(r.status_code, json={**r.json(), "results": [
        {**c, "properties": {**c["properties"], "lastmodifieddate": c["properties"]["lastmodifieddate"].replace("10:00", "12:30")}} for c in r.json()["results"]]})
        for r in replies]
    archived = [
        {"id": "3", "properties": {}, "archived": True, "archivedAt": "2026-11-01T12:45:00Z"},
        {"id": "4", "properties": {}, "archived": True, "archivedAt": "2026-10-01T00:00:00Z"},  # before the cursor
    ]
    with respx.mock(base_url=BASE, assert_all_called=True) as mock:
        route = mock.post(f"{OBJ}/contacts/search").mock(side_effect=replies)
        gone = mock.get(f"{OBJ}/contacts", params={"archived": "true"}).respond(200, json={"results": archived})
        pages = []
        cursor = conn.pull_customers(pages.append, since)
    body = body_of(route.calls[0])
    ms = str(int(since.timestamp.timestamp() * 1000))
    assert body["filterGroups"] == [
        {"filters": [{"propertyName": "lastmodifieddate", "operator": "GT", "value": ms}]},
        {"filters": [{"propertyName": "lastmodifieddate", "operator": "EQ", "value": ms}, {"propertyName": "hs_object_id", "operator": "GT", "value": "7"}]},
    ]
    assert body["sorts"] == [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
    assert body["limit"] == 200 and "email" in body["properties"]
    assert body_of(route.calls[1])["after"] == "2"
    assert sum(len(p.rows) for p in pages) == 12
    assert cursor == Cursor(datetime(2026, 11, 1, 13, tzinfo=UTC), "12")
    # deletions: archived records are listed (search never returns them), newer than the cursor
    assert gone.calls[0].request.url.params["limit"] == "100"
    assert [i for p in pages for i in p.deleted_ids] == ["3"] and pages[-1].cursor == cursor
    # six searches at 4 per second: the fifth waited for the window (paced 2.5 % wide), without sleeping for real
    assert clock.sleeps and max(clock.sleeps) <= 1.025 + 1e-9 and sum(clock.sleeps) > 0.5


def test_deals_become_transactions_through_v4_association_reads(make_connector):
    conn = make_connector()
    deals = [
        {"id": "900", "properties": {"amount": "120.50", "closedate": "2026-10-01T00:00:00Z", "hs_is_closed_won": "true", "hs_lastmodifieddate": "2026-10-02T00:00:00Z"}},
        {"id": "901", "properties": {"amount": "5", "closedate": "", "hs_is_closed_won": "false", "hs_lastmodifieddate": "2026-10-02T00:00:00Z"}},
    ]
    assoc = {"status": "COMPLETE", "results": [{"from": {"id": "900"}, "to": [
        {"toObjectId": 51, "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 3}]},
        {"toObjectId": 7, "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 3}]}]}]}
    with respx.mock(base_url=BASE, assert_all_called=True) as mock:
        archived = mock.get(f"{OBJ}/deals", params={"archived": "true"}).respond(200, json={"results": [
            {"id": "777", "properties": {}, "archived": True, "archivedAt": "2026-10-05T00:00:00Z"}]})
        listed = mock.get(f"{OBJ}/deals").respond(200, json={"results": deals})
        read = mock.post("/crm/associations/2026-03/deals/contacts/batch/read").respond(200, json=assoc)
        pages = []
        conn.pull_transactions(pages.append)
        searched = mock.post(f"{OBJ}/deals/search").respond(200, json={"total": 2, "results": deals})
        conn.pull_transactions(pages.append, Cursor(datetime(2026, 10, 1, tzinfo=UTC), "1"))
    assert set(listed.calls[0].request.url.params["properties"].split(",")) >= {"amount", "closedate", "hs_is_closed_won", "hs_lastmodifieddate"}
    assert body_of(read.calls[0]) == {"inputs": [{"id": "900"}]}
    (tx,) = pages[0].rows
    assert (tx.transaction_id, tx.customer_source_id, tx.amount) == ("900", "7", 120.5)
    assert tx.occurred_at == datetime(2026, 10, 1, tzinfo=UTC)
    assert list(pages[0].deleted_ids) == []
    assert body_of(searched.calls[0])["filterGroups"][0]["filters"][0]["propertyName"] == "hs_lastmodifieddate"
    assert list(pages[1].deleted_ids) == ["901"]  # no longer won: leaves the mirror
    assert list(pages[2].deleted_ids) == ["777"] and archived.call_count == 1  # archived since the cursor


# ----------------------------------------------------------------------------- push


def test_batch_update_by_id_reconciles_207_by_id(make_connector):
    conn = make_connector(destination=HubSpotDestination(properties={"segment_id": "segsync_segment_id", "churn": "segsync_churn", "assigned_at": "segsync_assigned"}))
    updates = [FieldUpdate(str(i), {"segment_id": "s1", "churn": 0.25, "assigned_at": date(2026, 1, 1)}) for i in range(1, 151)]
    reply_207 = {
        "status": "COMPLETE",
        "results": [{"id": str(i), "properties": {}} for i in reversed(range(1, 101)) if i != 42],
        "numErrors": 1,
        "errors": [{"status": "error", "category": "OBJECT_NOT_FOUND", "message": "Object not found.", "context": {"ids": ["42"]}}],
    }
    with respx.mock(base_url=BASE, assert_all_called=True) as mock:
        route = mock.post(f"{OBJ}/contacts/batch/update").mock(
            side_effect=[httpx.Response(207, json=reply_207), httpx.Response(200, json={"status": "COMPLETE", "results": [{"id": str(i)} for i in range(101, 151)]})]
        )
        results = list(conn.push_updates(updates))
    first = body_of(route.calls[0])
    assert len(first["inputs"]) == 100 and len(body_of(route.calls[1])["inputs"]) == 50
    assert first["inputs"][0] == {"id": "1", "properties": {"segsync_segment_id": "s1", "segsync_churn": "0.25", "segsync_assigned": "1767225600000"}}
    assert route.calls[0].request.headers["content-type"] == "application/json"
    failed = [r for r in results if not r.ok]
    assert [(r.record_id, r.error_code) for r in failed] == [("42", "OBJECT_NOT_FOUND")]
    assert sum(r.ok for r in results) == 149


def test_upsert_by_email(make_connector):
    conn = make_connector(destination=HubSpotDestination(match="email"))
    with respx.mock(base_url=BASE, assert_all_called=True) as mock:
        route = mock.post(f"{OBJ}/contacts/batch/upsert").respond(
            200, json={"status": "COMPLETE", "results": [{"id": "77", "new": True, "properties": {"email": "a@x.com"}}]}
        )
        (res,) = conn.push_updates([FieldUpdate("A@x.com", {"arm": "treat"})])
    assert body_of(route.calls[0]) == {"inputs": [{"id": "a@x.com", "idProperty": "email", "properties": {"segsync_arm": "treat", "email": "a@x.com"}}]}
    assert (res.record_id, res.ok, res.crm_id, res.created) == ("A@x.com", True, "77", True)


def test_a_400_batch_is_split_until_the_bad_record_stands_alone(make_connector):
    conn = make_connector(destination=HubSpotDestination(properties={"segment_id": "segsync_segment_id"}))

    def reply(request):
        ids = [i["id"] for i in json.loads(request.content)["inputs"]]
        if "3" in ids:
            return httpx.Response(400, json={"status": "error", "category": "VALIDATION_ERROR", "message": "Property values were not valid", "correlationId": "abc"})
        return httpx.Response(200, json={"status": "COMPLETE", "results": [{"id": i} for i in ids]})

    with respx.mock(base_url=BASE) as mock:
        route = mock.post(f"{OBJ}/contacts/batch/update").mock(side_effect=reply)
        results = list(conn.push_updates([FieldUpdate(str(i), {"segment_id": "s"}) for i in range(1, 5)]))
    assert {r.record_id: r.ok for r in results} == {"1": True, "2": True, "3": False, "4": True}
    bad = next(r for r in results if not r.ok)
    assert bad.error_code == "VALIDATION_ERROR" and "abc" in bad.message
    assert route.call_count == 5  # [1-4] -> [1,2] ok, [3,4] -> [3] refused, [4] ok


# ----------------------------------------------------------------------------- rate limits


def test_429_without_retry_after_waits_the_ten_second_window(make_connector, clock):
    conn = make_connector(destination=HubSpotDestination())
    limited = {"status": "error", "message": "You have reached your ten_secondly_rolling limit.", "errorType": "RATE_LIMIT", "correlationId": "x", "policyName": "TEN_SECONDLY_ROLLING", "groupName": "p"}
    with respx.mock(base_url=BASE, assert_all_called=True) as mock:
        route = mock.post(f"{OBJ}/contacts/batch/update").mock(
            side_effect=[httpx.Response(429, json=limited), httpx.Response(200, json={"results": [{"id": "1"}]})]
        )
        (res,) = conn.push_updates([FieldUpdate("1", {"arm": "a"})])
    assert res.ok and route.call_count == 2
    assert 10.0 in clock.sleeps
    assert conn.counter.total(kind="contacts_batch_update", status="429") == 1


def test_daily_budget_read_from_headers(make_connector):
    conn = make_connector()
    with respx.mock(base_url=BASE) as mock:
        mock.get(f"{OBJ}/contacts").respond(200, json={"results": []}, headers={"X-HubSpot-RateLimit-Daily": "650000", "X-HubSpot-RateLimit-Daily-Remaining": "600000"})
        conn.pull_customers(lambda b: None)
    q = conn.quota()
    assert (q.used, q.limit) == (50000, 650000) and not q.exhausted


# ----------------------------------------------------------------------------- OAuth


def oauth_source(path="2026-03"):
    return make_source(auth=HubSpotAuth(method="oauth", client_id="cid", client_secret=SecretStr("csecret-0123"), refresh_token=SecretStr("rtok-0123456"), token_path=path))


def test_oauth_refresh_before_expiry_and_on_expired_then_replay(make_connector, clock, caplog):
    caplog.set_level(logging.DEBUG)
    conn = make_connector(oauth_source())
    expired = {"status": "error", "message": "The OAuth token used to make this call expired 75 second(s) ago.", "correlationId": "e", "category": "EXPIRED_AUTHENTICATION"}
    with respx.mock(base_url=BASE, assert_all_called=True) as mock:
        token = mock.post("/oauth/2026-03/token").mock(side_effect=[
            httpx.Response(200, json={"token_type": "bearer", "access_token": f"tok{i}", "refresh_token": "rtok-0123456", "expires_in": 1800}) for i in range(1, 4)
        ])
        api = mock.get(f"{OBJ}/contacts").mock(side_effect=[
            httpx.Response(200, json={"results": []}),
            httpx.Response(401, json=expired),
            httpx.Response(200, json={"results": []}),
            httpx.Response(200, json={"results": []}),
        ])
        conn.pull_customers(lambda b: None)  # token 1 fetched lazily
        conn.pull_customers(lambda b: None)  # 401 expired -> token 2 -> replay
        clock.advance(1799)  # within the refresh margin: token 3 fetched before the call
        conn.pull_customers(lambda b: None)
    form = dict(httpx.QueryParams(token.calls[0].request.content.decode()))
    assert form == {"grant_type": "refresh_token", "client_id": "cid", "client_secret": "csecret-0123", "refresh_token": "rtok-0123456"}
    assert token.calls[0].request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert "Authorization" not in token.calls[0].request.headers
    auths = [c.request.headers["Authorization"] for c in api.calls]
    assert auths == ["Bearer tok1", "Bearer tok1", "Bearer tok2", "Bearer tok3"]
    assert all(s not in caplog.text for s in ("csecret-0123", "rtok-0123456", "tok2"))


def test_oauth_v1_path_and_bad_refresh_token(make_connector):
    conn = make_connector(oauth_source("v1"))
    with respx.mock(base_url=BASE) as mock:
        mock.post("/oauth/v1/token").respond(400, json={"status": "BAD_REFRESH_TOKEN", "error": "invalid_grant", "error_description": "missing or unknown refresh token", "message": "x", "correlationId": "c"})
        with pytest.raises(AuthenticationError, match="unknown refresh token") as info:
            conn.pull_customers(lambda b: None)
    assert "rtok-0123456" not in str(info.value) and "csecret-0123" not in str(info.value)


def test_static_token_refused_is_an_authentication_error(make_connector):
    conn = make_connector()
    with respx.mock(base_url=BASE) as mock:
        mock.get(f"{OBJ}/contacts").respond(401, json={"status": "error", "message": "Authentication credentials not found.", "category": "INVALID_AUTHENTICATION", "correlationId": "c"})
        with pytest.raises(AuthenticationError) as info:
            conn.pull_customers(lambda b: None)
    assert TOKEN not in str(info.value)


# ----------------------------------------------------------------------------- provision


def test_provision_creates_group_and_properties_and_resyncs_options(make_connector):
    dest = HubSpotDestination(properties={"segment_id": "segsync_segment_id", "churn": "segsync_churn"})
    conn = make_connector(destination=dest)
    exists = {"status": "error", "message": "A property named 'segsync_segment_id' already exists.", "category": "OBJECT_ALREADY_EXISTS", "correlationId": "c"}
    current = {"name": "segsync_segment_id", "type": "enumeration", "fieldType": "select", "options": [{"label": "old", "value": "old", "hidden": False}]}
    with respx.mock(base_url=BASE, assert_all_called=True) as mock:
        group = mock.post("/crm/properties/2026-03/contacts/groups").respond(201, json={"name": "segsync", "label": "segsync"})
        create = mock.post("/crm/properties/2026-03/contacts").mock(side_effect=[httpx.Response(409, json=exists), httpx.Response(201, json={})])
        mock.get("/crm/properties/2026-03/contacts/segsync_segment_id").respond(200, json=current)
        patch = mock.patch("/crm/properties/2026-03/contacts/segsync_segment_id").respond(200, json={})
        report = conn.provision([FieldSpec("segment_id", "Segment", "enumeration", ("s1", "s2")), FieldSpec("churn", "Churn", "number")])
    assert body_of(group.calls[0])["name"] == "segsync"
    assert body_of(create.calls[0])["options"][0] == {"label": "s1", "value": "s1", "displayOrder": 0, "hidden": False}
    assert {k: body_of(create.calls[1])[k] for k in ("name", "type", "fieldType", "groupName")} == {"name": "segsync_churn", "type": "number", "fieldType": "number", "groupName": "segsync"}
    assert [(o["value"], o["hidden"]) for o in body_of(patch.calls[0])["options"]] == [("s1", False), ("s2", False), ("old", True)]
    assert report.existing == ("segsync_segment_id",) and report.created == ("segsync_churn",)


# ----------------------------------------------------------------------------- lists


def test_lists_found_by_name_or_created_and_membership_changes(make_connector):
    conn = make_connector()
    with respx.mock(base_url=BASE, assert_all_called=True) as mock:
        find = mock.get("/crm/lists/2026-03/object-type-id/0-1/name/segsync%20e1%20treat").mock(side_effect=[
            httpx.Response(404, json={"status": "error", "message": "List does not exist", "category": "OBJECT_NOT_FOUND"}),
        ])
        create = mock.post("/crm/lists/2026-03").respond(200, json={"list": {"listId": "55", "name": "segsync e1 treat", "processingType": "MANUAL"}})
        change = mock.put("/crm/lists/2026-03/55/memberships/add-and-remove").respond(
            200, json={"recordsIdsAdded": ["1"], "recordIdsMissing": ["9"]}
        )
        members = mock.get("/crm/lists/2026-03/55/memberships").mock(side_effect=[
            httpx.Response(200, json={"results": [{"recordId": "1", "membershipTimestamp": "t"}], "paging": {"next": {"after": "a1"}}, "total": 2}),
            httpx.Response(200, json={"results": [{"recordId": "2", "membershipTimestamp": "t"}], "total": 2}),
        ])
        list_id = conn.ensure_list("segsync e1 treat")
        assert conn.ensure_list("segsync e1 treat") == "55"  # cached: no second lookup
        results = list(conn.add_members(list_id, ["1", "2", "9"]))
        assert conn.list_members(list_id) == {"1", "2"}
    assert body_of(create.calls[0]) == {"name": "segsync e1 treat", "objectTypeId": "0-1", "processingType": "MANUAL"}
    assert find.call_count == 1
    assert body_of(change.calls[0]) == {"recordIdsToAdd": ["1", "2", "9"], "recordIdsToRemove": []}
    assert {r.record_id: (r.ok, r.error_code) for r in results} == {"1": (True, None), "2": (True, None), "9": (False, "OBJECT_NOT_FOUND")}
    assert members.calls[1].request.url.params["after"] == "a1" and members.calls[0].request.url.params["limit"] == "250"


def test_existing_dynamic_list_is_refused(make_connector):
    conn = make_connector()
    with respx.mock(base_url=BASE) as mock:
        mock.get("/crm/lists/2026-03/object-type-id/0-1/name/seg").respond(200, json={"list": {"listId": "3", "processingType": "DYNAMIC"}})
        with pytest.raises(FatalError, match="DYNAMIC"):
            conn.ensure_list("seg")


def test_membership_changes_are_chunked(make_connector):
    conn = make_connector()
    conn.lists.chunk = 2
    with respx.mock(base_url=BASE) as mock:
        route = mock.put("/crm/lists/2026-03/5/memberships/add-and-remove").respond(200, json={"recordIdsRemoved": ["3"]})
        out = conn.change_members("5", ["1", "2"], ["3"])
    assert [body_of(c) for c in route.calls] == [
        {"recordIdsToAdd": ["1", "2"], "recordIdsToRemove": []},
        {"recordIdsToAdd": [], "recordIdsToRemove": ["3"]},
    ]
    assert (out.added, out.removed, out.missing, out.calls) == (["1", "2"], ["3"], [], 2)


# ----------------------------------------------------------------------------- outcomes


def test_outcomes_are_won_deals_of_list_members(make_connector):
    conn = make_connector()
    won = [{"id": "900", "properties": {"amount": "80", "closedate": "2026-11-05T00:00:00Z", "hs_is_closed_won": "true"}},
           {"id": "901", "properties": {"amount": "20", "closedate": "2026-11-06T00:00:00Z", "hs_is_closed_won": "true"}}]
    with respx.mock(base_url=BASE, assert_all_called=True) as mock:
        mock.get("/crm/lists/2026-03/55/memberships").respond(200, json={"results": [{"recordId": "7"}]})
        search = mock.post(f"{OBJ}/deals/search").respond(200, json={"total": 2, "results": won})
        mock.post("/crm/associations/2026-03/deals/contacts/batch/read").respond(200, json={"results": [
            {"from": {"id": "900"}, "to": [{"toObjectId": 7, "associationTypes": []}]},
            {"from": {"id": "901"}, "to": [{"toObjectId": 8, "associationTypes": []}]}]})
        rows = list(conn.read_outcomes({"e1": ["55"]}, date(2026, 11, 1)))
    filters = body_of(search.calls[0])["filterGroups"][0]["filters"]
    assert {"propertyName": "closedate", "operator": "GTE", "value": "1793491200000"} in filters
    assert {"propertyName": "hs_is_closed_won", "operator": "EQ", "value": "true"} in filters
    assert [(r.experiment, r.list_id, r.customer_source_id, r.metric, r.value) for r in rows] == [
        ("e1", "55", "7", "conversion", 1.0), ("e1", "55", "7", "revenue", 80.0)]
    assert rows[0].observed_at == datetime(2026, 11, 5, tzinfo=UTC)


def test_legacy_v3_paths(make_connector):
    conn = make_connector(make_source(api_version="v3"), HubSpotDestination())
    with respx.mock(base_url=BASE, assert_all_called=True) as mock:
        mock.post("/crm/v3/objects/contacts/batch/update").respond(200, json={"results": [{"id": "1"}]})
        assert [r.ok for r in conn.push_updates([FieldUpdate("1", {"arm": "a"})])] == [True]
