"""POST /v1/score computes one row without DataFrames: it must give the batch cycle's answers.

The shop's cycle segmented, scored and valued every customer in batch; posting a customer's
own history and attributes to /v1/score must give back the same segment, every score to
1e-9, the same reason codes, offers, CLV and P(alive) as the snapshot holds for them.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from connector.cli import main as cli_main
from tests.connector.serve.conftest import CONFIG, Api, Shop, make_shop, open_api


def _body(shop: Shop, cid: str) -> dict:
    mine = shop.transactions[shop.transactions["CustomerID"] == cid]
    return {"customer_id": cid, "attributes": {"country": str(mine["country"].iloc[0])},
            "transactions": [{"occurred_at": f"{d}T00:00:00Z", "amount": float(a)} for d, a in zip(mine["date"], mine["amount"], strict=True)]}


def _assert_same_answers(api: Api, shop: Shop, customers: list[str]) -> None:
    h = api.headers("read,score")
    segments, reasons = set(), 0
    for cid in customers:
        batch = api.client.get(f"/v1/customers/{cid}", headers=h).json()
        live = api.client.post("/v1/score", json=_body(shop, cid), headers=h).json()
        assert live["known"] is True
        assert (live["segment_id"], live["segment_name"]) == (batch["segment_id"], batch["segment_name"]), cid
        assert set(live["scores"]) == set(batch["scores"]) == {"buy_90d"}
        for name, value in batch["scores"].items():
            assert live["scores"][name] == pytest.approx(value, abs=1e-9, rel=0), (cid, name)
        assert live["reasons"] == batch["reasons"], cid
        assert live["offers"] == batch["offers"], cid
        assert live["arms"] == batch["arms"], cid
        for name in ("clv", "p_alive"):
            assert batch[name] is not None and math.isfinite(batch[name])
            assert live[name] == pytest.approx(batch[name], rel=1e-9, abs=1e-9), (cid, name)
        segments.add(batch["segment_id"])
        reasons += bool(batch["reasons"]["buy_90d"])
    assert len(segments) >= 2 and reasons >= len(customers) // 4  # the sample spans segments and has reasons to compare


def test_score_gives_the_batch_answers_for_the_same_customer(api: Api, shop: Shop) -> None:
    snap = api.service.loaded().snapshot
    buyers = [cid for cid in snap.ids if snap.number("score.clv", snap.locate(cid) or 0) is not None]
    _assert_same_answers(api, shop, buyers[::12][:40])


@pytest.fixture(scope="module")
def gbm_shop_template(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    """The shop with a gradient-boosted score model (TreeSHAP reasons) instead of the logistic one."""
    folder = tmp_path_factory.mktemp("gbm-shop")
    shop = make_shop(folder, n=500, seed=9)
    shop.config_path.write_text(CONFIG.replace("models: [logistic]", "models: [gbm]"), encoding="utf-8")
    assert cli_main(["run", str(shop.config_path)]) == 0
    return shop


def test_score_gives_the_batch_answers_with_a_boosted_model(gbm_shop_template: Shop) -> None:
    shop = gbm_shop_template
    for api in open_api(shop):
        model = api.service.loaded().models.scores["buy_90d"]
        assert model.chosen == "gbm"
        snap = api.service.loaded().snapshot
        buyers = [cid for cid in snap.ids if snap.number("score.clv", snap.locate(cid) or 0) is not None]
        _assert_same_answers(api, shop, buyers[::10][:40])


def test_a_new_customer_gets_a_clv_from_the_fitted_model(api: Api) -> None:
    h = api.headers("score")
    tx = [{"occurred_at": "2025-11-03T10:00:00Z", "amount": 40.0}, {"occurred_at": "2026-01-05T10:00:00Z", "amount": 60.0},
          {"occurred_at": "2026-01-05T18:00:00Z", "amount": 20.0}]
    out = api.client.post("/v1/score", json={"customer_id": "new-clv", "transactions": tx}, headers=h).json()
    assert out["known"] is False
    from segmentation.clv import ClvModel

    model = ClvModel.from_dict(api.service.loaded().snapshot.meta["clv"])
    # two purchase days (the same-day purchases merge): x = 1, t_x = 63 days, T to the as-of day
    as_of = pd.Timestamp(api.service.loaded().snapshot.as_of).normalize()
    T = (as_of - pd.Timestamp("2025-11-03", tz="UTC")).days
    clv, p_alive = model.value([1.0], [63.0], [float(T)], [80.0])
    assert out["clv"] == pytest.approx(float(clv[0]), rel=1e-12) and out["clv"] > 0
    assert out["p_alive"] == pytest.approx(float(p_alive[0]), rel=1e-12)
    nothing = api.client.post("/v1/score", json={"customer_id": "new-none", "transactions": []}, headers=h).json()
    assert nothing["clv"] is None and nothing["p_alive"] is None  # the cycle values buyers only


def test_the_snapshot_carries_the_fitted_clv_parameters(shop: Shop, tmp_path: Path) -> None:
    for api in open_api(shop):
        meta = api.service.loaded().snapshot.meta["clv"]
        assert set(meta) == {"bgnbd", "gamma_gamma", "horizon_days", "annual_discount_rate", "steps"}
        assert set(meta["bgnbd"]) == {"r", "alpha", "a", "b"} and all(v > 0 for v in meta["bgnbd"].values())


def test_a_new_customer_is_scored_on_the_usage_features_of_one_without_events(usage_shop: Shop) -> None:
    """Before, every usage feature of a customer the snapshot does not hold was missing (NaN); the
    cycle gives a customer without events counts of 0 and no days since, and so does /v1/score.
    Logins this API accepted for them count (as at the snapshot's cutoff); a known customer keeps
    the snapshot's usage features, so the batch answers."""
    for api in open_api(usage_shop):
        h, models = api.headers(), api.service.loaded().models
        as_of = api.service.loaded().snapshot.as_of
        tx = [{"occurred_at": "2026-01-05T10:00:00Z", "amount": 60.0}]
        out = api.client.post("/v1/score", json={"customer_id": "new-usage", "transactions": tx}, headers=h).json()
        features = out["features"]
        assert (features["login_count_30d"], features["features_adopted"], features["days_since_login"]) == (0.0, 0.0, None)
        values = {k: float("nan") if v is None else v for k, v in features.items()}
        assert out["scores"]["buy_90d"] == pytest.approx(models.evaluate(values).scores["buy_90d"], abs=1e-12)
        missing = {k: float("nan") if k.startswith(("login", "feature_used", "ticket", "features_")) else v for k, v in values.items()}
        assert abs(models.evaluate(missing).scores["buy_90d"] - out["scores"]["buy_90d"]) > 1e-6  # the old answer differs

        logins = [{"customer_id": "new-usage", "type": "login", "occurred_at": (as_of - pd.Timedelta(days=d)).isoformat()} for d in (2, 3, 20)]
        assert api.client.post("/v1/events", json={"events": logins}, headers=h).status_code == 202
        moved = api.client.post("/v1/score", json={"customer_id": "new-usage", "transactions": tx}, headers=h).json()["features"]
        assert (moved["login_count_7d"], moved["login_count_30d"], moved["days_since_login"]) == (2.0, 3.0, 2.0)

        snap = api.service.loaded().snapshot
        cid = next(c for c in snap.ids if (snap.feature_values(snap.locate(c) or 0)["login_count_90d"] or 0) > 0)
        batch = api.client.get(f"/v1/customers/{cid}", headers=h).json()
        mine = usage_shop.transactions[usage_shop.transactions["CustomerID"] == cid]
        body = {"customer_id": cid, "attributes": {"country": str(mine["country"].iloc[0])},
                "transactions": [{"occurred_at": f"{d}T00:00:00Z", "amount": float(a)} for d, a in zip(mine["date"], mine["amount"], strict=True)]}
        live = api.client.post("/v1/score", json=body, headers=h).json()
        assert live["features"] == pytest.approx(batch["features"], nan_ok=True) and live["features"]["login_count_90d"] > 0
        assert live["scores"]["buy_90d"] == pytest.approx(batch["scores"]["buy_90d"], abs=1e-9)
