"""A small shop for the hostile-input tests: a transactions CSV and a config around it.

`write_shop(folder)` writes data/tx.csv (150 customers, a year of purchases, seeded) and
segsync.yaml (files in, files out, k-means, one score, one experiment); `config(folder)` is
that config as a dict to change and `write_config` writes it back (JSON is YAML).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from connector.cli import main as cli_main

BASE: dict[str, Any] = {
    "version": 1,
    "state": {"path": "state.sqlite"},
    "sources": {"files": {"transactions": "data/tx.csv"}},
    "destinations": {"files": {"path": "out/segments.csv"}},
    "segmentation": {"method": "kmeans", "k": 3, "sample_size": 100},
    "scoring": {"targets": [{"name": "buy_90d", "kind": "propensity", "horizon_days": 90}], "models": ["logistic"],
                "cutoffs": 2},
    "experiments": {"items": [{"key": "exp1", "arms": [{"name": "control", "weight": 0.5, "control": True},
                                                       {"name": "offer", "weight": 0.5}]}]},
}


def transactions(n_customers: int = 150, seed: int = 3) -> pd.DataFrame:
    """CustomerID, date (ISO day), amount (text): 1-8 purchases each between 2025-01-01 and 2026-03-01."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 9, n_customers)
    ids = np.repeat([f"C{i:04d}" for i in range(n_customers)], counts)
    days = rng.integers(0, 424, len(ids))
    return pd.DataFrame({
        "CustomerID": ids,
        "date": (pd.Timestamp("2025-01-01") + pd.to_timedelta(days, unit="D")).strftime("%Y-%m-%d"),
        "amount": [f"{a:.2f}" for a in rng.gamma(2.0, 20.0, len(ids))],
    })


def config(**sections: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data.update(sections)
    return data


def write_config(folder: Path, data: dict[str, Any], name: str = "segsync.yaml") -> Path:
    path = folder / name
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path


def write_shop(folder: Path, rows: pd.DataFrame | None = None, **sections: Any) -> Path:
    (folder / "data").mkdir(exist_ok=True)
    (transactions() if rows is None else rows).to_csv(folder / "data" / "tx.csv", index=False)
    return write_config(folder, config(**sections))


def run(*argv: str) -> int:
    return cli_main(list(argv))
