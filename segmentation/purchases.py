"""Who bought what, as of a cutoff: the sparse customer x product history every offer method reads.

`PurchaseHistory.build(line_items, as_of, products, customers)` counts, for each customer and
product, the transactions that contained it and the days since the last one, from clean line
items dated before `as_of` only (so an out-of-time evaluation never sees the future). The
product and customer axes are passed in so two snapshots of the same data line up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

_DAY = pd.Timedelta(days=1)
#: Time constant (days) of the decayed purchase count: a purchase a quarter ago weighs 1/e.
DECAY_DAYS = 90.0
#: The window (days) of `recent_txn`, the customer's current activity.
ACTIVE_DAYS = 90.0


@dataclass(frozen=True)
class EncodedItems:
    """Clean line items as integer positions on fixed axes (c: customer, -1 off the axis; p:
    product, -1 likewise; tx: transaction code), seconds since the epoch and unit price.
    Only rows on both axes are kept."""

    c: np.ndarray
    p: np.ndarray
    tx: np.ndarray
    seconds: np.ndarray
    price: np.ndarray

    @classmethod
    def encode(cls, items: pd.DataFrame, product_ids: pd.Index, customer_ids: pd.Index) -> EncodedItems:
        c = customer_ids.get_indexer(items["customer_id"])
        p = product_ids.get_indexer(items["product_id"])
        keep = (c >= 0) & (p >= 0)
        tx = pd.factorize(items["transaction_id"])[0]
        seconds = items["occurred_at"].to_numpy(dtype="datetime64[ns]").astype("int64") / 1e9
        price = pd.to_numeric(items["unit_price"], errors="coerce").to_numpy(dtype="float64")
        return cls(c[keep], p[keep], tx[keep], seconds[keep], price[keep])

    def pairs_between(self, start: pd.Timestamp, stop: pd.Timestamp) -> tuple[np.ndarray, np.ndarray]:
        """Distinct (customer, product) positions bought in [start, stop)."""
        inside = (self.seconds >= start.timestamp()) & (self.seconds < stop.timestamp())
        n_p = int(self.p.max()) + 1 if len(self.p) else 1
        cp = np.unique(self.c[inside] * n_p + self.p[inside])
        return cp // n_p, cp % n_p


@dataclass(frozen=True)
class PurchaseHistory:
    """customers x products, as of `as_of`.

    counts: transactions containing the product (csr, float32); last_days: 1 + days since the
    last such transaction (csr, same pattern; 0 means never); first_days: 1 + days since the
    first one (same pattern), so (first - last) / (count - 1) is the customer's own repurchase
    interval for the product; decayed: those transactions weighted exp(-age / DECAY_DAYS)
    (same pattern); spend_price: the customer's mean unit price paid (NaN when unknown);
    txn_count: transactions per customer; last_any_days / first_any_days: days since the
    customer's last / first purchase (NaN when none); recent_txn: their transactions in the
    last ACTIVE_DAYS.
    """

    as_of: pd.Timestamp
    customer_ids: pd.Index
    product_ids: pd.Index
    counts: sp.csr_matrix
    last_days: sp.csr_matrix
    spend_price: np.ndarray
    txn_count: np.ndarray
    last_any_days: np.ndarray
    first_days: sp.csr_matrix
    decayed: sp.csr_matrix
    first_any_days: np.ndarray
    recent_txn: np.ndarray

    @classmethod
    def build(
        cls, items: pd.DataFrame | EncodedItems, as_of: pd.Timestamp, product_ids: pd.Index, customer_ids: pd.Index
    ) -> PurchaseHistory:
        """From clean line items (segmentation.line_items) or the same encoded once on these axes
        (cheaper when several snapshots are built); rows at or after as_of are ignored."""
        enc = items if isinstance(items, EncodedItems) else EncodedItems.encode(items, product_ids, customer_ids)
        keep = enc.seconds < as_of.timestamp()
        c, p, tx = enc.c[keep], enc.p[keep], enc.tx[keep]
        days = (as_of.timestamp() - enc.seconds[keep]) / 86400.0
        n_c, n_p = len(customer_ids), len(product_ids)
        lines = pd.DataFrame({"cp": c * n_p + p, "tx": tx, "days": days}).drop_duplicates(["cp", "tx"])
        lines["weight"] = np.exp(-lines["days"].to_numpy() / DECAY_DAYS)
        per = lines.groupby("cp", sort=True).agg(size=("days", "size"), last=("days", "min"), first=("days", "max"), weight=("weight", "sum"))
        cp = per.index.to_numpy()

        def pairs(values: np.ndarray) -> sp.csr_matrix:
            return sp.csr_matrix((values.astype(np.float32), (cp // n_p, cp % n_p)), shape=(n_c, n_p))

        visits = pd.DataFrame({"c": c, "tx": tx, "days": days}).drop_duplicates(["c", "tx"])
        per_c = visits.assign(active=visits["days"] <= ACTIVE_DAYS).groupby("c").agg(
            size=("days", "size"), last=("days", "min"), first=("days", "max"), active=("active", "sum"))
        at = per_c.index.to_numpy()
        txn, last_any, first_any, active = np.zeros(n_c), np.full(n_c, np.nan), np.full(n_c, np.nan), np.zeros(n_c)
        txn[at], last_any[at], first_any[at], active[at] = (per_c[k].to_numpy() for k in ("size", "last", "first", "active"))
        return cls(
            as_of, customer_ids, product_ids, pairs(per["size"].to_numpy()), pairs(1.0 + per["last"].to_numpy()),
            _mean_price(enc.price[keep], c, n_c), txn, last_any, pairs(1.0 + per["first"].to_numpy()),
            pairs(per["weight"].to_numpy()), first_any, active,
        )

    @property
    def owned(self) -> sp.csr_matrix:
        """1 where the customer bought the product before as_of (csr, float32)."""
        out = self.counts.copy()
        out.data[:] = 1.0
        return out

    def take(self, rows: np.ndarray | slice) -> PurchaseHistory:
        """The same history restricted to some customers (positions or a slice)."""
        return PurchaseHistory(
            self.as_of, pd.Index(self.customer_ids[rows]), self.product_ids, self.counts[rows],
            self.last_days[rows], self.spend_price[rows], self.txn_count[rows], self.last_any_days[rows],
            self.first_days[rows], self.decayed[rows], self.first_any_days[rows], self.recent_txn[rows],
        )


def _mean_price(price: np.ndarray, c: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, np.nan)
    ok = np.isfinite(price) & (price > 0)
    if ok.any():
        logp = pd.Series(np.log(price[ok])).groupby(c[ok]).mean()
        out[logp.index.to_numpy()] = np.exp(logp.to_numpy())
    return out


def product_catalog(items: pd.DataFrame) -> pd.DataFrame:
    """One row per product: product_id (index), product_name (the most recent), category,
    price (median unit price paid), buyers (distinct customers)."""
    latest = items.sort_values("occurred_at").drop_duplicates("product_id", keep="last").set_index("product_id")
    price = pd.to_numeric(items["unit_price"], errors="coerce").groupby(items["product_id"]).median()
    buyers = items.groupby("product_id")["customer_id"].nunique()
    out = pd.DataFrame({"product_name": latest["product_name"], "category": latest["category"]})
    out["price"] = price.reindex(out.index)
    out["buyers"] = buyers.reindex(out.index).fillna(0).astype("int64")
    out.index.name = "product_id"
    return out.sort_index()


def bought_between(items: pd.DataFrame, start: pd.Timestamp, stop: pd.Timestamp) -> pd.DataFrame:
    """Distinct (customer_id, product_id) pairs purchased in [start, stop)."""
    window = items[(items["occurred_at"] >= start) & (items["occurred_at"] < stop)]
    return window[["customer_id", "product_id"]].drop_duplicates().reset_index(drop=True)


def lookup(matrix: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """matrix[rows[i], cols[i]] for each i, as a flat float array."""
    return np.asarray(matrix[rows, cols]).ravel()
