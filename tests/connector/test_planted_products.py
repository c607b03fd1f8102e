from __future__ import annotations

import numpy as np
import pandas as pd

from connector.sandbox.products import planted_products


def test_planted_products_are_lean_categoricals_one_line_per_visit_and_product():
    world = planted_products(1_000, 50, n_segments=3, seed=4, chunk=300)  # four chunks
    items = world.items
    for col in ("transaction_id", "customer_id", "product_id", "product_name", "category"):
        assert isinstance(items[col].dtype, pd.CategoricalDtype), col
    assert items["customer_id"].cat.codes.dtype.itemsize <= 4  # small integer codes, not a string per cell
    assert not items.duplicated(["transaction_id", "product_id"]).any()
    # a visit belongs to one customer at one time, also across chunk boundaries
    per_visit = items.groupby("transaction_id", observed=True).agg(c=("customer_id", "nunique"), t=("occurred_at", "nunique"))
    assert (per_visit["c"] == 1).all() and (per_visit["t"] == 1).all()
    assert items["customer_id"].nunique() == 1_000 and list(world.segments["customer_id"][:2]) == ["C0000000", "C0000001"]
    assert set(world.segments["segment_id"]) == {"latent-0", "latent-1", "latent-2"}
    assert np.allclose(world.affinity.sum(axis=1), 1.0) and world.affinity.shape == (3, 50)
    assert (items["product_name"].astype(str) == "Product " + items["product_id"].astype(str)).all()
    assert items["occurred_at"].max() < pd.Timestamp("2026-01-01", tz="UTC")


def test_planted_products_are_deterministic_and_follow_the_tastes():
    a = planted_products(3_000, 40, n_segments=2, seed=9)
    b = planted_products(3_000, 40, n_segments=2, seed=9)
    pd.testing.assert_frame_equal(a.items, b.items)
    seg = a.segments.set_index("customer_id")["segment_id"]
    lines = a.items.assign(segment=a.items["customer_id"].astype(str).map(seg).astype(str))
    for s in ("latent-0", "latent-1"):  # each segment's best-selling product is among its planted top 3
        top = lines.loc[lines["segment"] == s, "product_id"].astype(str).value_counts().index[0]
        assert top in a.affinity.loc[s].nlargest(3).index
