"""Live events: durable on ack, visible on the next read, and a source for the next cycle."""

from __future__ import annotations

import pandas as pd
import pytest

from connector.cli import main as cli_main
from connector.serve.service import ServeService
from connector.state import StateStore
from segmentation.clv import ClvModel
from segmentation.engine import assign_segments
from segmentation.features import build_features
from segmentation.purchase_summary import summary_of_one
from tests.connector.serve.conftest import Api, Shop, open_api

AS_OF = pd.Timestamp("2026-03-01", tz="UTC")


def _planted(api: Api) -> str:
    """The first customer (by id) of the segment whose action is the cheapest touch."""
    snap = api.service.loaded().snapshot
    low = next(s for s, (_, action) in sorted(snap.segment_table().items()) if action.startswith("minimal touch"))
    return next(cid for i, cid in enumerate(snap.ids) if snap.segment(i)[0] == low)


def _events(cid: str, n: int = 6, amount: float = 150.0) -> list[dict]:
    return [{"event_id": f"{cid}-big-{k}", "customer_id": cid, "type": "purchase", "value": amount,
             "occurred_at": f"2026-02-{20 + k}T12:00:00Z"} for k in range(n)]


def test_a_purchase_event_moves_the_planted_customer_on_the_next_read(api: Api, shop: Shop) -> None:
    cid = _planted(api)
    h = api.headers("read,events")
    before = api.client.get(f"/v1/customers/{cid}", headers=h).json()
    ack = api.client.post("/v1/events", json={"events": _events(cid)}, headers=h)
    assert ack.status_code == 202 and ack.json()["accepted"] == 6
    after = api.client.get(f"/v1/customers/{cid}", headers=h).json()

    # the answer the whole history would give: build_features from scratch, the stored model
    tx = shop.transactions.rename(columns={"CustomerID": "customer_id", "date": "occurred_at"})
    tx = tx[tx["customer_id"] == cid].assign(amount=lambda d: d["amount"].astype(float),
                                             occurred_at=lambda d: pd.to_datetime(d["occurred_at"], utc=True))
    planted = pd.DataFrame({"customer_id": cid, "occurred_at": pd.to_datetime([e["occurred_at"] for e in _events(cid)]), "amount": 150.0})
    feats = build_features(None, pd.concat([tx[["customer_id", "occurred_at", "amount"]], planted]), AS_OF)
    model = api.service.loaded().models.segmentation
    expected = assign_segments(model, feats[model.params.columns]).iloc[0]

    assert before["segment_id"] != expected  # the events matter for this customer
    assert after["segment_id"] == expected
    table = api.service.loaded().snapshot.segment_table()
    assert after["segment_name"] == table[expected][0]
    assert after["offers"][0]["offer"] == table[expected][1] != before["offers"][0]["offer"]
    assert after["scores"]["buy_90d"] > before["scores"]["buy_90d"]
    assert "total spend 9" in after["reasons"]["buy_90d"] or after["reasons"]["buy_90d"] != before["reasons"]["buy_90d"]
    assert after["features"]["frequency"] == before["features"]["frequency"] + 6
    assert after["features"]["monetary_total"] == pytest.approx(before["features"]["monetary_total"] + 900)
    assert after["features"]["recency_days"] == pytest.approx(3.5)  # the last planted purchase, 2026-02-25 12:00
    assert after["live"] == {"events": 6, "by_type": {"purchase": 6}, "last_event_id": 6}
    assert after["snapshot_version"] == before["snapshot_version"]
    # a repeated event id is stored once
    api.client.post("/v1/events", json={"events": _events(cid)[:1]}, headers=h)
    assert api.store.events.last_id() == 6


def test_acknowledged_events_survive_a_restart_and_feed_the_next_cycle(shop: Shop) -> None:
    for api in open_api(shop):
        cid = _planted(api)
        h = api.headers("read,events")
        api.client.post("/v1/events", json={"events": [*_events(cid), {"customer_id": cid, "type": "view", "occurred_at": "2026-02-27T09:00:00Z"}]}, headers=h)
        live = api.client.get(f"/v1/customers/{cid}", headers=h).json()
    # a new process: the store alone brings the live answer back
    cfg = shop.config
    with StateStore(cfg.resolve(cfg.state.path)) as store:
        service = ServeService(cfg, store)
        service.reload()
        again = service.lookup(cid)
    assert again is not None and again["segment_id"] == live["segment_id"] and again["live"]["events"] == 7

    # the next cycle reads the purchases as transactions and publishes a snapshot that includes them
    assert cli_main(["run", str(shop.config_path)]) == 0
    with StateStore(cfg.resolve(cfg.state.path)) as store:
        service = ServeService(cfg, store)
        service.reload()
        snap = service.loaded().snapshot
        row = snap.locate(cid)
        assert row is not None
        assert snap.version == 2 and snap.events_through == 7
        assert snap.number("feature.frequency", row) == live_frequency(shop, cid) + 6
        after_cycle = service.lookup(cid)
    assert after_cycle is not None and "live" not in after_cycle  # nothing newer than the snapshot
    assert after_cycle["segment_id"] == live["segment_id"]


def live_frequency(shop: Shop, cid: str) -> int:
    return int((shop.transactions["CustomerID"] == cid).sum())


def test_a_purchase_event_moves_a_buyers_clv_to_the_value_of_the_whole_history(api: Api, shop: Shop) -> None:
    """Before, a customer answered live kept the snapshot's CLV and P(alive) until the next cycle."""
    snap = api.service.loaded().snapshot
    tx = shop.transactions.assign(occurred_at=lambda d: pd.to_datetime(d["date"], utc=True), amount=lambda d: d["amount"].astype(float))
    last = tx.groupby("CustomerID")["occurred_at"].max()
    cid = next(c for c in snap.ids if last.get(c, AS_OF) < pd.Timestamp("2026-01-01", tz="UTC"))  # bought, not lately
    h = api.headers("read,events")
    before = api.client.get(f"/v1/customers/{cid}", headers=h).json()
    assert api.client.post("/v1/events", json={"events": _events(cid, n=2)}, headers=h).status_code == 202
    after = api.client.get(f"/v1/customers/{cid}", headers=h).json()

    mine = tx[tx["CustomerID"] == cid]
    history = [*mine["occurred_at"], *(pd.Timestamp(e["occurred_at"]) for e in _events(cid, n=2))]
    summary = summary_of_one(history, [*mine["amount"], 150.0, 150.0], snap.as_of)
    clv, p_alive = ClvModel.from_dict(snap.meta["clv"]).value(*([v] for v in summary))
    assert before["clv"] == pytest.approx(snap.number("score.clv", snap.locate(cid)))  # the cycle's value
    assert after["clv"] == pytest.approx(float(clv[0]), rel=1e-12) and after["clv"] > before["clv"]
    assert after["p_alive"] == pytest.approx(float(p_alive[0]), rel=1e-12) and after["p_alive"] != before["p_alive"]
    # the snapshot's summary is the one the cycle valued
    held = ClvModel.from_dict(snap.meta["clv"]).value(*([v] for v in snap.clv_summary(snap.locate(cid))))
    assert float(held[0][0]) == pytest.approx(before["clv"], rel=1e-12)
