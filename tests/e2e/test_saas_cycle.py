"""The SaaS case through the cycle: a DuckDB warehouse read by sources.sql, usage events as features.

The SaaS simulator's users, usage events and first payments go into a DuckDB file
(connector.saas_demo.write_duckdb); `segsync run` reads them with sources.sql, builds usage
features (features.events) from the SQL events entity, segments on them and trains the
conversion target (plan becomes paid within 90 days) on usage at every training cutoff.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("duckdb")

from connector.cli import main as cli_main  # noqa: E402
from connector.saas_demo import write_duckdb  # noqa: E402
from connector.sandbox.saas import simulate_saas  # noqa: E402
from connector.sandbox.saas_scenario import load_saas_scenario  # noqa: E402
from connector.state import StateStore  # noqa: E402

CONFIG = """\
version: 1
state:
  path: state.sqlite
sources:
  sql:
    url: duckdb:///warehouse.duckdb
    customers:
      table: customers
      created_at_column: created_at
      attribute_columns: [plan, plan_changed_at]
      cursor_column: updated_at
    transactions:
      table: payments
      transaction_id_column: payment_id
      date_column: paid_at
    events:
      table: events
      event_id_column: event_id
      properties_column: properties
destinations:
  files:
    path: out/segments.csv
features:
  events:
    types: [login, feature_used, ticket]
    windows: [7, 14, 30]
segmentation:
  method: kmeans
  k: 3
  sample_size: 1000
  features: [tenure_days, login_count_30d, login_trend_14d, features_adopted]
scoring:
  targets:
    - {name: convert_90d, kind: conversion, field: plan, value: paid, horizon_days: 90}
  models: [gbm]
  cutoffs: 3
  clv: {enabled: false}
"""


def test_saas_warehouse_runs_the_loop_on_usage_features(tmp_path: Path) -> None:
    population = simulate_saas(load_saas_scenario("saas"), 1_500, random_state=2)
    write_duckdb(population, tmp_path / "warehouse.duckdb")
    cfg = tmp_path / "segsync.yaml"
    cfg.write_text(CONFIG, encoding="utf-8")
    assert cli_main(["run", str(cfg)]) == 0
    segments = pd.read_csv(tmp_path / "out" / "segments.csv", dtype={"customer_id": str})
    assert len(segments) == 1_500 and segments["segment_id"].nunique() == 3
    with StateStore(tmp_path / "state.sqlite") as store:
        run = store.runs.last_success()
        champion = store.models.champion("score", "convert_90d")
    assert run is not None
    assert run.counts["pulled_sql_events"] == len(population.events)
    assert run.counts["events"] == len(population.events)
    assert champion is not None
    _, model, meta = champion
    assert {"login_trend_14d", "features_adopted", "ticket_count_30d"} <= set(model.estimator.encoder_.columns_)
    drivers = [name for name, _ in meta["drivers"]]
    assert {"login_trend_14d", "features_adopted"} & set(drivers[:4])  # usage drives conversion here
    reasons = segments["convert_90d_reasons"].dropna()
    assert reasons.str.contains("login|feature|ticket").any()
