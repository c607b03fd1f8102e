"""What each simulated purchase held: real products, drawn from the buyer's latent segment's taste.

The catalog is the most widely bought products of UCI Online Retail (their stock code, the
description most often written for it, the median price paid), so the sandbox CRMs hold real
product names; the tastes are products.segment_tastes (planted: each latent segment prefers its
own products), so who prefers what is known. A purchase holds one to three different products,
one unit each, priced so the lines add up to the purchase's amount to the cent: the simulator's
spend process stays what it was, and a Salesforce Opportunity's Amount (the sum of its lines)
does not move when its products are added.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from connector.sandbox.online_retail import read_online_retail
from connector.sandbox.products import draw_products
from segmentation.line_items import NON_PRODUCT_CODES

MAX_LINES = 3


@dataclass(frozen=True)
class Catalog:
    """product_id (stock code), name, price (median paid, > 0): aligned arrays, most bought first."""

    product_id: np.ndarray
    name: np.ndarray
    price: np.ndarray

    def __len__(self) -> int:
        return len(self.product_id)


@dataclass(frozen=True)
class Baskets:
    """One row per line: purchase (row index into the purchases given), product (index into the
    catalog), unit_price (quantity is always one)."""

    purchase: np.ndarray
    product: np.ndarray
    unit_price: np.ndarray


@lru_cache(maxsize=4)
def retail_catalog(n_products: int) -> Catalog:
    """The `n_products` products of Online Retail bought by the most customers (fees excluded)."""
    raw = read_online_retail()
    price = pd.to_numeric(raw["UnitPrice"], errors="coerce")
    qty = pd.to_numeric(raw["Quantity"], errors="coerce")
    sold = raw[raw["CustomerID"].notna() & (qty > 0) & (price > 0) & ~raw["StockCode"].isin(NON_PRODUCT_CODES)]
    reach = sold.groupby("StockCode")["CustomerID"].nunique().sort_values(ascending=False, kind="stable")
    top = reach.index[:n_products]
    if len(top) < n_products:
        raise ValueError(f"Online Retail has {len(top)} products, fewer than the {n_products} asked for")
    chosen = sold[sold["StockCode"].isin(top)]
    names = chosen.groupby("StockCode")["Description"].agg(lambda d: d.mode().iloc[0] if d.notna().any() else None)
    paid = pd.to_numeric(chosen["UnitPrice"]).groupby(chosen["StockCode"]).median()
    return Catalog(np.asarray(top, dtype=object), names.reindex(top).str.strip().str.title().to_numpy(dtype=object),
                   paid.reindex(top).round(2).to_numpy(dtype=float))


def draw_baskets(segment: np.ndarray, amount: np.ndarray, taste: np.ndarray, catalog: Catalog,
                 rng: np.random.Generator) -> Baskets:
    """Lines for purchases whose buyers belong to `segment` (index into taste rows) and spent
    `amount`: 1-3 draws from the segment's taste, a product drawn twice kept once, the amount
    split over the lines in proportion to their list prices (the last line takes the cents left)."""
    n = len(segment)
    purchase = np.repeat(np.arange(n), rng.integers(1, MAX_LINES + 1, n))
    product = draw_products(taste, segment[purchase], rng)
    keep = ~pd.DataFrame({"p": purchase, "q": product}).duplicated().to_numpy()
    purchase, product = purchase[keep], product[keep]
    weight = catalog.price[product]
    total = np.bincount(purchase, weights=weight, minlength=n)
    cents = np.round(np.asarray(amount, dtype=float) * 100).astype(np.int64)
    share = np.floor(cents[purchase] * weight / total[purchase]).astype(np.int64)
    last = np.r_[purchase[1:] != purchase[:-1], True]
    given = np.bincount(purchase, weights=np.where(last, 0, share), minlength=n).astype(np.int64)
    share[last] = cents[purchase[last]] - given[purchase[last]]
    return Baskets(purchase, product, share / 100.0)
