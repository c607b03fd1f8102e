"""The API's contract over a real cycle's snapshot: answers, auth and scope, limits, errors."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from connector.serve.snapshot import Snapshot
from connector.state import StateStore
from tests.connector.serve.conftest import Api, Shop, open_api

ROUTES = [
    ("get", "/v1/customers/{cid}", None, "read"),
    ("post", "/v1/customers:batchGet", {"keys": ["{cid}"]}, "read"),
    ("post", "/v1/score", {"customer_id": "new-1", "transactions": [{"occurred_at": "2026-01-05T10:00:00Z", "amount": 12.5}]}, "score"),
    ("post", "/v1/events", {"events": [{"customer_id": "{cid}", "type": "view", "occurred_at": "2026-02-01T10:00:00Z"}]}, "events"),
]


def _fill(obj: object, cid: str) -> object:
    if isinstance(obj, str):
        return obj.replace("{cid}", cid)
    if isinstance(obj, list):
        return [_fill(v, cid) for v in obj]
    if isinstance(obj, dict):
        return {k: _fill(v, cid) for k, v in obj.items()}
    return obj


def _call(api: Api, method: str, path: str, body: object, headers: dict[str, str], cid: str):  # type: ignore[no-untyped-def]
    path = str(_fill(path, cid))
    return api.client.get(path, headers=headers) if method == "get" else api.client.post(path, json=_fill(body, cid), headers=headers)


def test_a_customer_is_answered_from_the_snapshot(api: Api, shop: Shop) -> None:
    snap = api.service.loaded().snapshot
    segments = pd.read_csv(shop.config_path.parent / "out" / "segments.csv", dtype={"customer_id": str}).set_index("customer_id")
    cid = snap.ids[7]
    r = api.client.get(f"/v1/customers/{cid}", headers=api.headers("read"))
    assert r.status_code == 200
    body = r.json()
    row = segments.loc[cid]
    assert body["customer_id"] == cid
    assert (body["segment_id"], body["segment_name"]) == (row["segment_id"], row["segment_name"])
    assert body["scores"]["buy_90d"] == pytest.approx(row["buy_90d"], abs=0.005)  # the CSV has 2 decimals
    assert body["reasons"]["buy_90d"] == row["buy_90d_reasons"]
    assert body["clv"] == pytest.approx(row["clv"], abs=0.5)  # written in whole units
    assert body["arms"] == {"welcome": row["arm"]}
    with StateStore(shop.config.resolve(shop.config.state.path)) as store:
        insights = store.models.latest("artifact", "insights")[1]
        run_id = store.runs.last(1)[0].id
    action = insights["priority"].set_index("segment_id").loc[row["segment_id"], "action"]
    assert body["offers"] == [{"offer": action, "reason": f"action for segment {row['segment_name']}", "source": "segment_action"}]
    assert body["run_id"] == body["snapshot_version"] == run_id
    assert r.headers["X-Snapshot-Version"] == str(run_id)
    assert body["as_of"].startswith("2026-03-01")


def test_batch_get_answers_found_and_missing_keys(api: Api) -> None:
    ids = api.service.loaded().snapshot.ids[:3]
    r = api.client.post("/v1/customers:batchGet", json={"keys": [*ids, "nobody"]}, headers=api.headers("read"))
    assert r.status_code == 200
    assert [c["customer_id"] for c in r.json()["customers"]] == ids
    assert r.json()["missing"] == ["nobody"]
    too_many = api.client.post("/v1/customers:batchGet", json={"keys": [f"k{i}" for i in range(101)]}, headers=api.headers("read"))
    assert too_many.status_code == 422
    assert "keys" in too_many.json()["error"]


def test_unknown_customer_is_404(api: Api) -> None:
    r = api.client.get("/v1/customers/nobody", headers=api.headers("read"))
    assert r.status_code == 404
    assert r.json() == {"error": "no customer with that customer_id in snapshot 1"}
    bad_email = api.client.get("/v1/customers/not-an-email", params={"by": "email"}, headers=api.headers("read"))
    assert bad_email.status_code == 404
    assert api.client.get("/v1/customers/x", params={"by": "phone"}, headers=api.headers("read")).status_code == 422


@pytest.mark.parametrize(("method", "path", "body", "needed"), ROUTES)
def test_every_route_needs_a_key_with_its_scope(api: Api, method: str, path: str, body: object, needed: str) -> None:
    cid = api.service.loaded().snapshot.ids[0]
    assert _call(api, method, path, body, {}, cid).status_code == 401
    assert _call(api, method, path, body, {"Authorization": "Bearer ssk_nope_nope"}, cid).status_code == 401
    good = api.key(needed)
    assert _call(api, method, path, body, {"Authorization": f"Basic {good}"}, cid).status_code == 401
    forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    assert _call(api, method, path, body, {"Authorization": f"Bearer {forged}"}, cid).status_code == 401
    for other in {"read", "score", "events"} - {needed}:
        r = _call(api, method, path, body, api.headers(other), cid)
        assert r.status_code == 403
        assert needed in r.json()["error"]
    assert _call(api, method, path, body, {"Authorization": f"Bearer {good}"}, cid).status_code in (200, 202)


def test_a_revoked_key_stops_working(api: Api) -> None:
    key, token = api.store.api_keys.create(frozenset({"read"}))
    h = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/v1/ping", headers=h).status_code == 200
    assert api.store.api_keys.revoke(key.key_id)
    assert api.client.get("/v1/ping", headers=h).status_code == 401
    stored = api.store.query("SELECT key_hash FROM api_keys WHERE key_id = ?", (key.key_id,))[0]["key_hash"]
    assert token.split("_", 2)[2] not in stored and len(stored) == 64  # only the SHA-256 is stored


def test_rate_limit_answers_429_with_retry_after_per_key(shop: Shop) -> None:
    for api in open_api(shop, rate=2.0, burst=3):
        a, b = api.headers("read"), api.headers("read")
        codes = [api.client.get("/v1/ping", headers=a).status_code for _ in range(5)]
        assert codes == [200, 200, 200, 429, 429]
        limited = api.client.get("/v1/ping", headers=a)
        assert limited.headers["Retry-After"] == "1"
        assert api.client.get("/v1/ping", headers=b).status_code == 200  # another key has its own bucket
        api.clock[0] += 0.5  # one token back at 2/s
        assert api.client.get("/v1/ping", headers=a).status_code == 200
        assert api.client.get("/v1/ping", headers=a).status_code == 429


def test_oversized_bodies_are_413(shop: Shop) -> None:
    for api in open_api(shop, max_body=2048):
        h = api.headers("events")
        events = [{"customer_id": f"c{i}", "type": "view", "occurred_at": "2026-02-01T10:00:00Z"} for i in range(40)]
        r = api.client.post("/v1/events", json={"events": events}, headers=h)
        assert r.status_code == 413
        assert "2048" in r.json()["error"]

        def chunks():  # no Content-Length: the limit still holds
            yield b'{"events": ['
            for _ in range(100):
                yield b'{"customer_id": "c", "type": "view", "occurred_at": "2026-02-01T10:00:00Z"},'
        assert api.client.post("/v1/events", content=chunks(), headers={**h, "Content-Type": "application/json"}).status_code == 413
        assert api.store.events.last_id() == 0


@pytest.mark.parametrize(("body", "field"), [
    ({"events": [{"customer_id": "c", "type": "purchase", "occurred_at": "2026-02-01T10:00:00Z"}]}, "events.0"),
    ({"events": [{"customer_id": "c", "type": "purchase", "value": -5, "occurred_at": "2026-02-01T10:00:00Z"}]}, "events.0.value"),
    ({"events": [{"customer_id": "c", "type": "view", "occurred_at": "2999-01-01T00:00:00Z"}]}, "events.0.occurred_at"),
    ({"events": [{"customer_id": "c", "type": "view", "occurred_at": "2026-02-01T10:00:00"}]}, "events.0.occurred_at"),
    ({"events": [{"customer_id": "c", "type": "view", "occurred_at": "2026-02-01T10:00:00Z", "colour": "crimson-7"}]}, "events.0.colour"),
    ({"events": []}, "body.events"),
])
def test_bad_bodies_are_422_naming_the_field_without_echoing_values(api: Api, body: dict, field: str) -> None:
    r = api.client.post("/v1/events", json=body, headers=api.headers("events"))
    assert r.status_code == 422
    fields = [f["field"] for f in r.json()["fields"]]
    assert any(field in f for f in fields), fields
    assert "crimson-7" not in r.text and "input" not in r.json()["fields"][0]


def test_no_stack_trace_reaches_a_client_and_the_log_has_no_key(api: Api, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(key: str, by: str = "customer_id") -> None:
        raise RuntimeError(f"secret detail about {key}")

    monkeypatch.setattr(api.service, "lookup", boom)
    h = api.headers("read")
    with caplog.at_level(logging.DEBUG):
        r = api.client.get("/v1/customers/jane@example.com", params={"by": "email"}, headers=h)
    assert r.status_code == 500
    assert set(r.json()) == {"error", "request_id"}
    assert "Traceback" not in r.text and "secret detail" not in r.text
    assert "RuntimeError" in caplog.text and "/v1/customers/{key}" in caplog.text
    assert "jane@example.com" not in caplog.text and "secret detail" not in caplog.text
    assert h["Authorization"].split()[1] not in caplog.text


def test_score_assigns_a_sticky_arm_stored_before_it_is_returned(api: Api) -> None:
    body = {"email": "New.Customer@Example.com", "attributes": {"country": "US"},
            "transactions": [{"occurred_at": "2026-01-05T10:00:00Z", "amount": 80.0}, {"occurred_at": "2026-02-20T10:00:00Z", "amount": 20.0}]}
    r = api.client.post("/v1/score", json=body, headers=api.headers("score"))
    assert r.status_code == 200
    out = r.json()
    from connector.identity import email_key

    assert out["customer_id"] == email_key("new.customer@example.com") and out["known"] is False
    assert out["segment_id"] in api.service.loaded().snapshot.segment_table()
    assert 0 <= out["scores"]["buy_90d"] <= 1 and out["reasons"]["buy_90d"]
    stored = api.store.experiments.arms_of(out["customer_id"])
    assert dict(zip(stored["experiment"], stored["arm"], strict=True)) == out["arms"] and set(out["arms"]) == {"welcome"}
    from experiments.assignment import bucket_ranges, choose_variation
    from experiments.hashing import hash_value

    arm = ["control", "offer"][choose_variation(hash_value("welcome", out["customer_id"]), bucket_ranges(2, 1.0, [0.5, 0.5]))]
    assert out["arms"]["welcome"] == arm  # the cycle's GrowthBook hashing
    again = api.client.post("/v1/score", json={**body, "transactions": []}, headers=api.headers("score")).json()
    assert again["arms"] == out["arms"]


def test_readyz_waits_for_a_snapshot_and_metrics_report_routes(api: Api, shop: Shop, tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert api.client.get("/readyz").json()["snapshot_version"] == 1
    assert api.client.get("/healthz").json() == {"status": "ok"}
    api.client.get("/v1/ping", headers=api.headers("read"))
    metrics = api.client.get("/metrics").text
    assert 'segsync_serve_request_duration_seconds_count{method="GET",route="/v1/ping"} 1.0' in metrics
    assert "segsync_serve_snapshot_version 1.0" in metrics and "segsync_serve_snapshot_age_seconds" in metrics
    api.service.current = None
    assert api.client.get("/readyz").status_code == 503
    assert api.client.get("/v1/ping", headers=api.headers("read")).status_code == 200
    assert api.client.get("/v1/customers/x", headers=api.headers("read")).status_code == 503


def test_snapshot_has_no_email_or_secret(shop: Shop) -> None:
    cfg = shop.config
    folder = cfg.snapshot_dir()
    snap = Snapshot.load(folder / (folder / "CURRENT").read_text())
    assert not any("@" in str(v) for name, col in snap.columns.items() if col.dtype.kind == "U" for v in col[:50])


def test_the_hot_path_answers_look_ups_as_the_fastapi_route_would(api: Api) -> None:
    from starlette.testclient import TestClient

    hot = api.client.app.app  # type: ignore[attr-defined]  # Guard -> HotPath -> FastAPI
    fastapi_app = hot.app
    calls: list[str] = []

    async def counting(scope, receive, send):  # type: ignore[no-untyped-def]
        calls.append(scope["path"])
        await fastapi_app(scope, receive, send)

    hot.app = counting
    snap = api.service.loaded().snapshot
    h = api.headers("read")
    with TestClient(fastapi_app) as plain:
        for cid in snap.ids[:30:3]:
            fast, slow = api.client.get(f"/v1/customers/{cid}", headers=h), plain.get(f"/v1/customers/{cid}", headers=h)
            assert fast.status_code == slow.status_code == 200
            assert fast.content == slow.content and fast.headers["x-snapshot-version"] == slow.headers["x-snapshot-version"]
            assert fast.headers["content-type"] == slow.headers["content-type"]
        assert api.client.get("/v1/ping", headers=h).json() == plain.get("/v1/ping", headers=h).json() == {"ok": True}
    assert calls == []  # every one of those was answered in front of FastAPI
    # anything else goes on to FastAPI, which answers it as before
    assert api.client.get("/v1/customers/nobody", headers=h).status_code == 404
    assert api.client.get(f"/v1/customers/{snap.ids[0]}", headers=api.headers("events")).status_code == 403
    assert api.client.get(f"/v1/customers/{snap.ids[0]}?by=nonsense", headers=h).status_code == 422
    assert api.client.get(f"/v1/customers/{'x' * 300}", headers=h).status_code == 422
    assert calls == ["/v1/customers/nobody", f"/v1/customers/{snap.ids[0]}", f"/v1/customers/{snap.ids[0]}", f"/v1/customers/{'x' * 300}"]
    metrics = api.client.get("/metrics").text
    assert 'segsync_serve_requests_total{code="200",method="GET",route="/v1/customers/{key}"} 10.0' in metrics


def test_a_look_up_handed_on_is_charged_one_token(shop: Shop) -> None:
    for api in open_api(shop, rate=1.0, burst=3):
        h = api.headers("read")
        assert [api.client.get("/v1/customers/nobody", headers=h).status_code for _ in range(4)] == [404, 404, 404, 429]


def test_metrics_count_the_journals_group_commits(api: Api) -> None:
    assert "segsync_serve_journal_commits 0.0" in api.client.get("/metrics").text  # nothing written yet
    h = api.headers("events")
    event = {"customer_id": "someone", "type": "view", "occurred_at": "2026-02-01T10:00:00Z"}
    for _ in range(3):
        assert api.client.post("/v1/events", json={"events": [event]}, headers=h).status_code == 202
    metrics = api.client.get("/metrics").text
    assert "segsync_serve_journal_commits 3.0" in metrics and "segsync_serve_journal_writes 3.0" in metrics
