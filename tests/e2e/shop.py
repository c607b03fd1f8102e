"""A files-source shop: a CSV of simulated purchases and a config that segments, scores,
assigns and measures it with no CRM (the daemon memory test and benchmark run on it)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from connector.config import Config, load_config
from connector.sandbox.population import PopulationGenerator
from connector.sandbox.scenario import load_scenario

CONFIG = """\
version: 1
state:
  path: state.sqlite
sources:
  files:
    transactions: transactions.csv
destinations:
  files:
    path: out/segments.csv
segmentation:
  method: kmeans
  k: 3
  sample_size: 1000
scoring:
  targets:
    - {name: buy_90d, kind: propensity, horizon_days: 90}
  models: [logistic]
experiments:
  items:
    - key: welcome
      arms:
        - {name: control, weight: 0.5, control: true}
        - {name: offer, weight: 0.5}
"""


def write_shop(folder: Path, n_customers: int, seed: int = 0) -> Config:
    """Write transactions.csv (CustomerID, amount, date) and segsync.yaml into `folder`."""
    pop = PopulationGenerator(load_scenario("default"), n_customers, history_days=540,
                              end=pd.Timestamp("2026-03-01", tz="UTC"), random_state=seed).generate()
    tx = pop.transactions
    pd.DataFrame({
        "CustomerID": tx["customer_id"].astype(str),
        "amount": tx["amount"].map(lambda a: f"{a:.2f}"),
        "date": tx["occurred_at"].dt.strftime("%Y-%m-%d"),
    }).to_csv(folder / "transactions.csv", index=False)
    path = folder / "segsync.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return load_config(path, env={})
