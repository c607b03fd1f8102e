"""A product-level purchase history with planted tastes: each latent segment prefers some products.

The truth (segment x product purchase probabilities) is returned beside the line items, as the
campaign truth is for campaigns, so a test or benchmark can score an oracle that knows it and
check that the offer methods recover it. Vectorised: a million customers in seconds.

Each latent segment draws its taste as a Zipf law over its own random order of the products,
mixed with the global popularity (so some products sell everywhere); each customer buys on
a few days (1 + Poisson) over `days`, one to three products a time from that taste, and a
third of those lines re-buy a product the customer bought before (favourites).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

END = pd.Timestamp("2026-01-01", tz="UTC")


@dataclass(frozen=True)
class PlantedProducts:
    """items: clean canonical line items; segments: customer_id, segment_id, segment_name (the
    latent segment); affinity: segments x products, each row the segment's purchase distribution
    (index segment_id, columns product_id)."""

    items: pd.DataFrame
    segments: pd.DataFrame
    affinity: pd.DataFrame


def planted_products(
    n_customers: int, n_products: int, n_segments: int = 6, *, mean_days: float = 4.0, days: int = 540,
    end: pd.Timestamp = END, zipf: float = 1.1, shared: float = 0.2, seed: int = 0,
) -> PlantedProducts:
    rng = np.random.default_rng(seed)
    product_ids = np.char.add("P", np.char.zfill(np.arange(n_products).astype(str), 5))
    taste = segment_tastes(n_products, n_segments, rng, zipf=zipf, shared=shared)
    seg = rng.integers(0, n_segments, n_customers)
    visits = 1 + rng.poisson(mean_days - 1, n_customers)
    cust = np.repeat(np.arange(n_customers), visits)
    day = rng.uniform(0, days, len(cust))
    per_visit = rng.integers(1, 4, len(cust))
    line_cust = np.repeat(cust, per_visit)
    line_visit = np.repeat(np.arange(len(cust)), per_visit)
    line_day = np.repeat(day, per_visit)
    cdf = np.cumsum(taste, axis=1)
    u = rng.random(len(line_cust))
    product = _draw(cdf, seg[line_cust], u)
    favourite = _draw(cdf, seg, rng.random(n_customers))  # each customer's own favourite
    again = rng.random(len(line_cust)) < 1 / 3
    product[again] = favourite[line_cust[again]]
    ids = np.char.add("C", np.char.zfill(np.arange(n_customers).astype(str), 7))
    items = pd.DataFrame({
        "transaction_id": np.char.add("T", line_visit.astype(str)),
        "customer_id": ids[line_cust],
        "occurred_at": end - pd.to_timedelta(days - line_day, unit="D"),
        "product_id": product_ids[product],
        "product_name": np.char.add("Product ", product_ids[product]),
        "category": np.char.add("cat-", (product % 20).astype(str)),
        "quantity": 1.0,
        "unit_price": np.round(5 + (product % 37) * 1.5, 2),
    }).drop_duplicates(["transaction_id", "product_id"]).reset_index(drop=True)
    seg_ids = np.char.add("latent-", seg.astype(str))
    segments = pd.DataFrame({"customer_id": ids, "segment_id": seg_ids, "segment_name": seg_ids})
    affinity = pd.DataFrame(taste, index=[f"latent-{i}" for i in range(n_segments)], columns=product_ids)
    return PlantedProducts(items, segments, affinity)


def segment_tastes(n_products: int, n_segments: int, rng: np.random.Generator, *, zipf: float = 1.1,
                   shared: float = 0.2) -> np.ndarray:
    """The planted tastes: segments x products, each row a purchase distribution (a Zipf law over
    the segment's own random order of the products, mixed with a global popularity)."""
    rank_weight = 1.0 / np.arange(1, n_products + 1) ** zipf
    global_pop = rank_weight[rng.permutation(n_products)]
    taste = np.vstack([rank_weight[rng.permutation(n_products)] for _ in range(n_segments)])
    return (1 - shared) * taste / taste.sum(axis=1, keepdims=True) + shared * global_pop / global_pop.sum()


def draw_products(taste: np.ndarray, segment: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One product index per row, drawn from the taste of the row's segment (index into taste)."""
    return _draw(np.cumsum(taste, axis=1), segment, rng.random(len(segment)))


def _draw(cdf: np.ndarray, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF draws, row by row of cdf (grouped by row: one searchsorted per segment)."""
    out = np.empty(len(rows), dtype=np.int64)
    for r in range(cdf.shape[0]):
        sel = rows == r
        out[sel] = np.minimum(np.searchsorted(cdf[r], u[sel] * cdf[r, -1]), cdf.shape[1] - 1)
    return out


class PlantedOracle:
    """An offer scorer that knows the planted tastes: each customer's true segment taste."""

    def __init__(self, world: PlantedProducts) -> None:
        self.segment = world.segments.set_index("customer_id")["segment_id"]
        self.affinity = world.affinity

    def scores(self, history, signals, codes) -> np.ndarray:  # noqa: ANN001 - the OfferScorer protocol
        taste = self.affinity.reindex(columns=history.product_ids).fillna(0.0)
        rows = taste.index.get_indexer(self.segment.reindex(history.customer_ids))
        return taste.to_numpy(dtype=np.float32)[rows]


def planted_oracle(world: PlantedProducts) -> PlantedOracle:
    return PlantedOracle(world)
