"""The HubSpot connector's pure parts: paths, reply classification, batch and membership
reconciliation, the search cursor, values on the wire, property specs."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from connector.crm.base import FieldSpec
from connector.crm.errors import (
    AuthenticationError,
    ConfigurationError,
    FatalError,
    QuotaExceededError,
    RateLimitedError,
    RetriableError,
    TokenExpiredError,
)
from connector.crm.hubspot.batches import chunked, reconcile_batch, result_id, result_property
from connector.crm.hubspot.classifier import classify_reply
from connector.crm.hubspot.lists import added_ids, list_name, reconcile_membership
from connector.crm.hubspot.paths import HubSpotPaths, token_path
from connector.crm.hubspot.schema import Option, property_type, spec_for, synced_options
from connector.crm.hubspot.search import SearchScan, last_modified_property
from connector.crm.hubspot.values import midnight_utc_ms, parse_timestamp, to_wire

# ----------------------------------------------------------------------------- paths


def test_paths_date_versioned_by_default():
    p = HubSpotPaths()
    assert p.batch("contacts", "update") == "/crm/objects/2026-03/contacts/batch/update"
    assert p.search("deals") == "/crm/objects/2026-03/deals/search"
    assert p.property_groups("contacts") == "/crm/properties/2026-03/contacts/groups"
    assert p.properties("contacts", "segsync_arm") == "/crm/properties/2026-03/contacts/segsync_arm"
    assert p.associations_batch_read("deals", "contacts") == "/crm/associations/2026-03/deals/contacts/batch/read"
    assert p.list_by_name("segsync A b") == "/crm/lists/2026-03/object-type-id/0-1/name/segsync%20A%20b"
    assert p.list_memberships("77", "add-and-remove") == "/crm/lists/2026-03/77/memberships/add-and-remove"
    assert token_path("2026-03") == "/oauth/2026-03/token"


def test_paths_legacy_v3_uses_v4_associations():
    p = HubSpotPaths("v3")
    assert p.objects("contacts") == "/crm/v3/objects/contacts"
    assert p.associations_batch_read("deals", "contacts") == "/crm/v4/associations/deals/contacts/batch/read"
    assert p.lists() == "/crm/v3/lists"
    assert token_path("v1") == "/oauth/v1/token"
    with pytest.raises(ValueError):
        p.batch("contacts", "delete")


# ----------------------------------------------------------------------------- classifier


def _body(**kw) -> bytes:
    return json.dumps({"status": "error", "correlationId": "c-1", **kw}).encode()


def test_429_ten_secondly_without_retry_after_waits_the_window():
    err = classify_reply(429, {}, _body(message="ten_secondly_rolling", errorType="RATE_LIMIT", policyName="TEN_SECONDLY_ROLLING"))
    assert isinstance(err, RateLimitedError)
    assert err.retry_after == 10.0
    assert err.code == "TEN_SECONDLY_ROLLING" and err.correlation_id == "c-1"


def test_429_honours_retry_after_and_secondly_window():
    err = classify_reply(429, {"retry-after": "3"}, _body(policyName="TEN_SECONDLY_ROLLING"))
    assert isinstance(err, RateLimitedError) and err.retry_after == 3.0
    err = classify_reply(429, {}, _body(policyName="SECONDLY"))
    assert err.retry_after == 1.0


def test_429_daily_is_a_quota_stop_not_a_retry():
    err = classify_reply(429, {}, _body(policyName="DAILY", message="You have reached your daily limit."))
    assert isinstance(err, QuotaExceededError)
    assert not isinstance(err, RetriableError)


@pytest.mark.parametrize(
    ("status", "category", "kind"),
    [
        (401, "EXPIRED_AUTHENTICATION", TokenExpiredError),
        (401, "INVALID_AUTHENTICATION", AuthenticationError),
        (403, "MISSING_SCOPES", AuthenticationError),
        (530, None, AuthenticationError),
        (502, None, RetriableError),
        (400, "VALIDATION_ERROR", FatalError),
        (409, "OBJECT_ALREADY_EXISTS", FatalError),
        (414, None, FatalError),
    ],
)
def test_statuses_map_to_families(status, category, kind):
    err = classify_reply(status, {}, _body(category=category, message="m"))
    assert type(err) is kind
    if category:
        assert err.code == category
    assert classify_reply(207, {}, b"{}") is None


# ----------------------------------------------------------------------------- batches


def test_reconcile_maps_by_id_not_order():
    reply = {
        "status": "COMPLETE",
        "results": [{"id": "3", "properties": {}}, {"id": "1", "properties": {}}],
        "numErrors": 1,
        "errors": [{"status": "error", "category": "OBJECT_NOT_FOUND", "message": "not found", "context": {"ids": ["2"]}}],
    }
    out = reconcile_batch(["1", "2", "3"], reply, result_id)
    assert sorted(out.confirmed) == ["1", "3"]
    assert list(out.failed) == ["2"]
    assert out.failed["2"].code == "OBJECT_NOT_FOUND" and out.failed["2"].record_id == "2"


def test_reconcile_unconfirmed_inputs_fail():
    out = reconcile_batch(["1", "2"], {"results": [{"id": "1"}]}, result_id)
    assert out.failed["2"].code == "MISSING_RESULT"
    reply = {"results": [], "errors": [{"category": "VALIDATION_ERROR", "message": "bad", "context": {}}]}
    out = reconcile_batch(["a@x.com"], reply, result_property("email"), normalise=str.lower)
    assert out.failed["a@x.com"].code == "VALIDATION_ERROR"


def test_reconcile_upsert_by_email_case_insensitive():
    reply = {"results": [{"id": "9", "new": True, "properties": {"email": "A@X.com"}}]}
    out = reconcile_batch(["a@x.com"], reply, result_property("email"), normalise=str.lower)
    assert out.confirmed["a@x.com"]["id"] == "9"


def test_chunked():
    assert [len(c) for c in chunked(range(250), 100)] == [100, 100, 50]
    with pytest.raises(ValueError):
        next(chunked([1], 0))


# ----------------------------------------------------------------------------- lists


def test_list_name_template_and_unknown_field():
    assert list_name("segsync {experiment}  {arm}", experiment="e1", arm="treat") == "segsync e1 treat"
    with pytest.raises(ConfigurationError, match="segment_nme"):
        list_name("segsync {segment_nme}", segment_id="s1", segment_name="Loyal")


def test_membership_missing_is_not_success_and_both_spellings_read():
    reply = {"recordsIdsAdded": ["1"], "recordIdsRemoved": ["5"], "recordIdsMissing": ["2", "6"]}
    out = reconcile_membership(["1", "2", "3"], ["5", "6"], reply)
    assert out.added == ["1", "3"]  # 3 was already a member: HubSpot ignores it silently
    assert out.removed == ["5"]
    assert sorted(out.missing) == ["2", "6"]
    assert added_ids({"recordIdsAdded": ["7"], "recordsIdsAdded": ["8"]}) == {"7", "8"}


# ----------------------------------------------------------------------------- search


def _page(ids, after=None, mod="2026-11-01T00:00:00Z"):
    reply = {"total": 99999, "results": [{"id": str(i), "properties": {"lastmodifieddate": mod}} for i in ids]}
    if after is not None:
        reply["paging"] = {"next": {"after": str(after)}}
    return reply


def test_search_restarts_on_object_id_before_the_cap():
    since = datetime(2026, 1, 1, tzinfo=UTC)
    scan = SearchScan("lastmodifieddate", since, ["email"], page_size=2, cap=4)
    body = scan.next_request()
    assert body["filterGroups"] == [{"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": "1767225600000"}]}]
    assert body["sorts"] == [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
    assert "after" not in body and body["limit"] == 2
    assert set(body["properties"]) == {"email", "hs_object_id", "lastmodifieddate"}
    assert scan.feed(_page([1, 2], after=2)) == _page([1, 2])["results"]
    body = scan.next_request()
    assert body["after"] == "2" and len(body["filterGroups"][0]["filters"]) == 1  # same query, next offset
    scan.feed(_page([3, 4], after=4))  # next offset 4 + 2 > cap 4: restart
    body = scan.next_request()
    assert "after" not in body
    assert body["filterGroups"][0]["filters"][-1] == {"propertyName": "hs_object_id", "operator": "GT", "value": "4"}
    assert scan.restarts == 1
    # a retried or overlapping page never emits an id twice
    rows = scan.feed(_page([4, 5], mod="2026-11-02T00:00:00Z"))
    assert [r["id"] for r in rows] == ["5"]
    assert scan.next_request() is None
    assert (scan.high_water, scan.high_water_id) == (datetime(2026, 11, 2, tzinfo=UTC), "5")


def test_search_cursor_is_tie_safe():
    ts = datetime(2026, 11, 1, tzinfo=UTC)
    scan = SearchScan("lastmodifieddate", ts, [], since_id=7)
    ms = "1793491200000"
    assert scan.next_request()["filterGroups"] == [
        {"filters": [{"propertyName": "lastmodifieddate", "operator": "GT", "value": ms}]},
        {"filters": [{"propertyName": "lastmodifieddate", "operator": "EQ", "value": ms},
                     {"propertyName": "hs_object_id", "operator": "GT", "value": "7"}]},
    ]
    # same timestamp: ids up to the cursor's were emitted last time; older records never match
    rows = scan.feed(_page([5, 8], mod="2026-11-01T00:00:00Z") | {"results": [
        {"id": "5", "properties": {"lastmodifieddate": "2026-11-01T00:00:00Z"}},
        {"id": "6", "properties": {"lastmodifieddate": "2026-10-01T00:00:00Z"}},
        {"id": "8", "properties": {"lastmodifieddate": "2026-11-01T00:00:00Z"}},
    ]})
    assert [r["id"] for r in rows] == ["8"]
    assert last_modified_property("contacts") == "lastmodifieddate"
    assert last_modified_property("deals") == "hs_lastmodifieddate"


# ----------------------------------------------------------------------------- values


def test_dates_are_midnight_utc_ms():
    assert midnight_utc_ms(date(2026, 1, 1)) == 1767225600000
    # 23:30 in UTC-5 is 04:30 UTC the next day
    late = datetime(2025, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert midnight_utc_ms(late) == 1767225600000
    assert to_wire("2026-01-01T18:31:29Z", "date") == "1767225600000"
    with pytest.raises(ValueError, match="time zone"):
        midnight_utc_ms(datetime(2026, 1, 1, 12))


def test_wire_values():
    assert to_wire(3.0, "number") == "3" and to_wire(0.25, "number") == "0.25"
    assert to_wire(None, "string") == "" and to_wire(float("nan"), "number") == ""
    assert to_wire(True, "bool") == "true"
    assert parse_timestamp("1767225600000") == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_timestamp("2026-01-01T00:00:00.000Z") == datetime(2026, 1, 1, tzinfo=UTC)


# ----------------------------------------------------------------------------- schema


def test_property_spec_and_create_body():
    seg = spec_for(FieldSpec("segment_id", "Segment", "enumeration", ("s1", "s2", "s1")), "segsync_segment_id")
    body = seg.create_body("segsync")
    assert body["name"] == "segsync_segment_id" and body["groupName"] == "segsync"
    assert body["type"] == "enumeration" and body["fieldType"] == "select"
    assert [o["value"] for o in body["options"]] == ["s1", "s2"]
    assert spec_for(FieldSpec("churn", "Churn", "number"), "p").create_body("g")["fieldType"] == "number"
    assert spec_for(FieldSpec("churn_reasons", "Why"), "p").create_body("g") | {"type": "string"} == spec_for(
        FieldSpec("churn_reasons", "Why"), "p"
    ).create_body("g")
    assert spec_for(FieldSpec("churn_reasons", "Why"), "p").field_type == "textarea"
    assert property_type("assigned_at") == "date" and property_type("clv") == "number"
    # offers hold product names: a later run, whose writer was not told the types by provisioning,
    # must not send them as numbers ("could not convert string to float")
    assert {property_type(k) for k in ("offer_1", "offer_2", "offer_3", "offer_reasons")} == {"string"}


def test_synced_options_resends_all_and_hides_retired():
    existing = [{"value": "a", "label": "A", "hidden": False}, {"value": "old", "label": "Old", "hidden": False}]
    sent = synced_options(existing, [Option("a", "A"), Option("b", "B")])
    assert [(o["value"], o["hidden"]) for o in sent] == [("a", False), ("b", False), ("old", True)]
    again = [{"value": o["value"], "label": o["label"], "hidden": o["hidden"]} for o in sent]
    assert synced_options(again, [Option("a", "A"), Option("b", "B")]) is None
