"""Shared fixtures for the segmentation tests.

OpenMP threads in scikit-learn busy-wait; on a loaded 2-core CI box KMeans on 20k rows took
3.6 s with the default thread pool and 0.08 s with one thread, so these tests run on one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    with threadpool_limits(limits=1):
        yield


GROUPS = {
    # name: (recency_days, frequency, monetary_mean, tenure_days) typical values
    "loyal": (10.0, 25.0, 80.0, 700.0),
    "dormant": (400.0, 2.0, 25.0, 800.0),
    "new": (8.0, 1.0, 30.0, 15.0),
    "lapsed_whales": (300.0, 4.0, 900.0, 600.0),
}


def planted_features(sizes: dict[str, int], seed: int = 0, prefix: str = "c") -> pd.DataFrame:
    """Features (as build_features returns them) drawn around each group's typical values,
    with lognormal spread; index customer_id '<prefix><n>' numbered across groups in order.
    Column `group` holds the planted truth (not a feature)."""
    rng = np.random.default_rng(seed)
    frames = []
    for name, n in sizes.items():
        recency, freq, mean, tenure = GROUPS[name]
        f = np.maximum(1, np.round(freq * rng.lognormal(0, 0.15, n)))
        m = mean * rng.lognormal(0, 0.15, n)
        frames.append(
            pd.DataFrame(
                {
                    "recency_days": recency * rng.lognormal(0, 0.15, n),
                    "frequency": f.astype("int64"),
                    "monetary_total": f * m,
                    "monetary_mean": m,
                    "tenure_days": tenure * rng.lognormal(0, 0.1, n),
                    "group": name,
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    out.index = pd.Index([f"{prefix}{i:05d}" for i in range(len(out))], name="customer_id")
    return out


@pytest.fixture
def planted():
    return planted_features


def planted_offer_world(customers: int, products: int, seed: int) -> dict:
    """A planted product history (connector.sandbox.products) as the offers step sees it: the
    line items, the catalog, each customer's latent segment and the snapshot as of the day after
    the last purchase."""
    from connector.sandbox.products import planted_products
    from segmentation.offer_evaluation import Snapshot
    from segmentation.purchases import product_catalog

    planted = planted_products(customers, products, seed=seed)
    items = planted.items
    as_of = items["occurred_at"].max().normalize() + pd.Timedelta(days=1)
    catalog = product_catalog(items)
    who = pd.Index(np.sort(items["customer_id"].astype(str).unique()))
    segments = planted.segments.set_index("customer_id")["segment_id"].astype(str)
    snap = Snapshot.build(items, as_of, catalog.index, who, segments)
    return {"items": items, "catalog": catalog, "segments": segments, "snap": snap}
