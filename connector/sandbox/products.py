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
CHUNK = 200_000


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
    end: pd.Timestamp = END, zipf: float = 1.1, shared: float = 0.2, seed: int = 0, chunk: int = CHUNK,
) -> PlantedProducts:
    """Customers are drawn `chunk` at a time on int32 codes; the id columns are categoricals, so
    a million customers (7M lines) cost about 300 MB, not a string per cell."""
    rng = np.random.default_rng(seed)
    taste = segment_tastes(n_products, n_segments, rng, zipf=zipf, shared=shared)
    seg = rng.integers(0, n_segments, n_customers).astype(np.int32)
    cdf = np.cumsum(taste, axis=1)
    parts, visits = [], 0
    for start in range(0, n_customers, chunk):
        part = _draw_lines(rng, cdf, seg[start:start + chunk], start, visits, mean_days, days)
        visits += int(part["visits"])
        parts.append(part)
    lines = {k: np.concatenate([p[k] for p in parts]) for k in ("customer", "visit", "product", "day")}
    items = _line_items(lines, n_customers, n_products, visits, days, end)
    seg_ids = pd.Categorical.from_codes(seg, [f"latent-{i}" for i in range(n_segments)])
    segments = pd.DataFrame({"customer_id": items["customer_id"].cat.categories, "segment_id": seg_ids, "segment_name": seg_ids})
    affinity = pd.DataFrame(taste, index=[f"latent-{i}" for i in range(n_segments)], columns=_codes("P", n_products, 5))
    return PlantedProducts(items, segments, affinity)


def _draw_lines(rng, cdf, seg, first, first_visit, mean_days, days) -> dict:  # noqa: ANN001
    """One chunk of customers (positions first..): their lines as int32 customer, visit, product
    and float32 day, one row per distinct (visit, product)."""
    n = len(seg)
    visits = (1 + rng.poisson(mean_days - 1, n)).astype(np.int32)
    cust = np.repeat(np.arange(n, dtype=np.int32), visits)
    day = rng.uniform(0, days, len(cust)).astype(np.float32)
    per_visit = rng.integers(1, 4, len(cust)).astype(np.int32)
    line_cust = np.repeat(cust, per_visit)
    line_visit = np.repeat(np.arange(len(cust), dtype=np.int64), per_visit)
    product = _draw(cdf, seg[line_cust], rng.random(len(line_cust)))
    favourite = _draw(cdf, seg, rng.random(n))  # each customer's own favourite
    again = rng.random(len(line_cust)) < 1 / 3
    product[again] = favourite[line_cust[again]]
    _, keep = np.unique(line_visit * cdf.shape[1] + product, return_index=True)  # a product once per visit
    keep.sort()
    return {"customer": line_cust[keep] + np.int32(first), "visit": (line_visit[keep] + first_visit).astype(np.int32),
            "product": product[keep], "day": np.repeat(day, per_visit)[keep], "visits": len(cust)}


def _line_items(lines: dict, n_customers: int, n_products: int, n_visits: int, days: int, end: pd.Timestamp) -> pd.DataFrame:
    product = lines["product"]
    ago = ((days - lines["day"].astype(np.float64)) * 86400e9).astype("timedelta64[ns]")
    names = pd.Index(np.char.add("Product ", _codes("P", n_products, 5)))
    return pd.DataFrame({
        "transaction_id": pd.Categorical.from_codes(lines["visit"], _codes("T", n_visits, 0)),
        "customer_id": pd.Categorical.from_codes(lines["customer"], _codes("C", n_customers, 7)),
        "occurred_at": end - pd.to_timedelta(ago),
        "product_id": pd.Categorical.from_codes(product, _codes("P", n_products, 5)),
        "product_name": pd.Categorical.from_codes(product, names),
        "category": pd.Categorical.from_codes(product % 20, [f"cat-{i}" for i in range(20)]),
        "quantity": 1.0,
        "unit_price": np.round(5 + (product % 37) * 1.5, 2),
    })


def _codes(prefix: str, n: int, width: int) -> np.ndarray:
    """prefix + zero-padded 0..n-1 (fixed-width str array, the categories of an id column)."""
    digits = np.arange(n).astype(f"U{max(len(str(max(n - 1, 0))), width)}")
    return np.char.add(prefix, np.char.zfill(digits, width) if width else digits)


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
    out = np.empty(len(rows), dtype=np.int32)
    for r in range(cdf.shape[0]):
        sel = rows == r
        out[sel] = np.minimum(np.searchsorted(cdf[r], u[sel] * cdf[r, -1]), cdf.shape[1] - 1)
    return out


class PlantedOracle:
    """An offer scorer that knows the planted tastes: each customer's true segment's taste.

    segment: latent segment by customer_id; affinity: latent segment x product_id, each row a
    purchase distribution (PlantedProducts.affinity, Simulation.product_taste)."""

    def __init__(self, segment: pd.Series, affinity: pd.DataFrame) -> None:
        self.segment = segment
        self.affinity = affinity

    def scores(self, history, signals, codes) -> np.ndarray:  # noqa: ANN001 - the OfferScorer protocol
        taste = self.affinity.reindex(columns=history.product_ids).fillna(0.0)
        rows = taste.index.get_indexer(self.segment.reindex(history.customer_ids))
        table = np.vstack([taste.to_numpy(dtype=np.float32), np.zeros((1, taste.shape[1]), np.float32)])
        return table[rows]  # row -1 (a customer the truth does not know): the zero row


def planted_oracle(world: PlantedProducts) -> PlantedOracle:
    return PlantedOracle(world.segments.set_index("customer_id")["segment_id"], world.affinity)
