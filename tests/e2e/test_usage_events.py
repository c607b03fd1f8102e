"""Usage events through the cycle: an events CSV and live events become features like any other.

A shop's transactions CSV plus an events CSV (logins in the days before each purchase, a few
feature uses, one bad row) with `features.events` declared: segmentation clusters on a usage
feature, the score model trains on usage features at each of its cutoffs (its drivers name
them), reasons word them, the bad row is quarantined with its reason, and an event that
`segsync serve` accepted counts in the next cycle.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from connector.cli import main as cli_main
from connector.sandbox.population import PopulationGenerator
from connector.sandbox.scenario import load_scenario
from connector.state import StateStore

CONFIG = """\
version: 1
state:
  path: state.sqlite
sources:
  files:
    transactions: data/transactions.csv
    events:
      path: data/events.csv
      feature_column: feature
destinations:
  files:
    path: out/segments.csv
features:
  events:
    types: [login, feature_used, ticket]
    windows: [7, 30, 90]
    trend_days: 14
segmentation:
  method: kmeans
  k: 3
  sample_size: 1000
  features: [recency_days, frequency, monetary_total, login_count_30d]
scoring:
  targets:
    - {name: buy_90d, kind: propensity, horizon_days: 90}
  models: [gbm]
"""


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    pop = PopulationGenerator(load_scenario("default"), 600, history_days=540, end=pd.Timestamp("2026-03-01", tz="UTC"),
                              random_state=4).generate()
    tx = pop.transactions
    (tmp_path / "data").mkdir()
    pd.DataFrame({"CustomerID": tx["customer_id"].astype(str), "amount": tx["amount"].map(lambda a: f"{a:.2f}"),
                  "date": tx["occurred_at"].dt.strftime("%Y-%m-%d")}).to_csv(tmp_path / "data" / "transactions.csv", index=False)
    rng = np.random.default_rng(1)
    # three logins in the week before each purchase, and a feature use with each login of odd customers
    before = np.repeat(tx["occurred_at"].to_numpy(dtype="datetime64[ns]"), 3)
    who = np.repeat(tx["customer_id"].astype(str).to_numpy(), 3)
    when = pd.to_datetime(before, utc=True) - pd.to_timedelta(rng.integers(1, 7 * 86_400, len(before)), unit="s")
    logins = pd.DataFrame({"customer_id": who, "occurred_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "type": "login",
                           "feature": ""})
    uses = logins[logins["customer_id"].str[-1].isin(list("13579"))].assign(
        type="feature_used", feature=lambda f: "feature_" + f["customer_id"].str[-2:])
    bad = pd.DataFrame([{"customer_id": who[0], "occurred_at": "not a date", "type": "login", "feature": ""}])
    pd.concat([logins, uses, bad], ignore_index=True).to_csv(tmp_path / "data" / "events.csv", index=False)
    cfg = tmp_path / "segsync.yaml"
    cfg.write_text(CONFIG, encoding="utf-8")
    return cfg


def test_events_become_features_of_segments_and_scores(shop: Path) -> None:
    from connector.config import load_config
    from connector.pipeline import run_cycle

    cfg = load_config(shop)
    with StateStore(shop.parent / "state.sqlite") as store:
        first = run_cycle(cfg, store)
        _, model, meta = store.models.champion("score", "buy_90d")
        rejected = store.rejected.open()
        segmentation = store.models.latest("segmentation", "default")[1]
        segments = pd.read_csv(shop.parent / "out" / "segments.csv", dtype={"customer_id": str})
        # an event `segsync serve` accepted counts in the next cycle
        store.events.add([{"customer_id": segments["customer_id"].iloc[0], "type": "login",
                           "occurred_at": "2026-02-27T10:00:00Z", "properties": {}}])
        second = run_cycle(cfg, store)
    assert first.status == second.status == "succeeded"
    assert second.counts["events"] == first.counts["events"] + 1
    assert segments["segment_id"].nunique() == 3
    columns = list(model.estimator.encoder_.columns_)
    assert {"login_count_7d", "login_trend_14d", "days_since_login", "features_adopted"} <= set(columns)
    assert "login_count_30d" in segmentation.params.columns
    drivers = [name for name, _ in meta["drivers"]]
    assert any(d.startswith(("login_", "days_since_login")) for d in drivers[:3])  # logins precede purchases
    assert segments["buy_90d_reasons"].str.contains("login").any()
    bad = rejected[rejected["source"] == "events"]
    assert bad["reason"].tolist() == ["occurred_at is not a date ('not a date')"]


def test_usage_features_need_features_events(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "segsync.yaml"
    cfg.write_text(CONFIG.replace("features:\n  events:\n    types: [login, feature_used, ticket]\n    windows: [7, 30, 90]\n"
                                  "    trend_days: 14\n", ""), encoding="utf-8")
    assert cli_main(["validate", str(cfg)]) == 2
    assert "unknown feature(s) login_count_30d; declare features.events" in capsys.readouterr().err
