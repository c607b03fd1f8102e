"""Who bought what, as of a cutoff: the sparse customer x product history every offer method reads.

`PurchaseHistory.build(line_items, as_of, products, customers)` counts, for each customer and
product, the transactions that contained it and the days since the last one, from clean line
items dated before `as_of` only (so an out-of-time evaluation never sees the future). The
product and customer axes are passed in so two snapshots of the same data line up.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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
    """Clean line items as integer positions on fixed axes (c: customer, p: product, both int32,
    rows off either axis dropped; tx: transaction code), seconds since the epoch and unit price;
    n_customers, n_products: the axes' lengths."""

    c: np.ndarray
    p: np.ndarray
    tx: np.ndarray
    seconds: np.ndarray
    price: np.ndarray
    n_customers: int
    n_products: int

    @classmethod
    def encode(cls, items: pd.DataFrame, product_ids: pd.Index, customer_ids: pd.Index) -> EncodedItems:
        c = positions(items["customer_id"], customer_ids)
        p = positions(items["product_id"], product_ids)
        keep = (c >= 0) & (p >= 0)
        tx = id_codes(items["transaction_id"])
        seconds = items["occurred_at"].to_numpy(dtype="datetime64[ns]").astype("int64") / 1e9
        price = pd.to_numeric(items["unit_price"], errors="coerce").to_numpy(dtype="float64")
        return cls(c[keep], p[keep], tx[keep], seconds[keep], price[keep], len(customer_ids), len(product_ids))

    def restrict(self, customers: np.ndarray) -> EncodedItems:
        """The lines of some customers (sorted positions on this axis), re-coded 0..len-1 in
        that order: a sample's items on the sample's own axis."""
        code = np.full(self.n_customers, -1, dtype=np.int32)
        code[customers] = np.arange(len(customers), dtype=np.int32)
        keep = code[self.c] >= 0
        return EncodedItems(code[self.c[keep]], self.p[keep], self.tx[keep], self.seconds[keep], self.price[keep],
                            len(customers), self.n_products)

    def pairs_between(self, start: pd.Timestamp, stop: pd.Timestamp) -> tuple[np.ndarray, np.ndarray]:
        """Distinct (customer, product) positions bought in [start, stop)."""
        inside = (self.seconds >= start.timestamp()) & (self.seconds < stop.timestamp())
        cp = sorted_distinct(self.c[inside].astype(np.int64) * self.n_products + self.p[inside])
        return cp // self.n_products, cp % self.n_products

    @property
    def lines(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct (customer x product, transaction) pairs: (customer * n_products + product,
        the transaction's time), sorted by the first; every snapshot is a cut of these."""
        return self._kept("lines", lambda: _distinct(self.c.astype(np.int64) * self.n_products + self.p, self.tx, self.seconds))

    @property
    def visits(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct (customer, transaction) pairs: (customer, the transaction's time), by customer."""
        return self._kept("visits", lambda: _distinct(self.c.astype(np.int64), self.tx, self.seconds))

    def sort(self, n_jobs: int = 1) -> EncodedItems:
        """Work out `lines` and `visits` now (on two threads when n_jobs > 1: the sorts release
        the GIL); self."""
        if n_jobs > 1:
            with ThreadPoolExecutor(1) as side:
                visits = side.submit(lambda: self.visits)
                _ = self.lines
                visits.result()
        _ = self.lines, self.visits
        return self

    def _kept(self, name: str, make: Callable[[], tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        # worked out once per instance, without functools.cached_property's lock (in Python 3.11
        # one lock for all instances: today's snapshot and the ranker's training sample, built on
        # two threads, would wait for each other); two threads asking at once both work it out
        got = self.__dict__.get(name)
        if got is None:
            got = self.__dict__[name] = make()
        return got


def _distinct(key: np.ndarray, tx: np.ndarray, seconds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (key, tx): their keys sorted, and the earliest time of each (a transaction's
    lines share one time; the earliest decides when they do not)."""
    width = int(tx.max()) + 1 if len(tx) else 1
    if len(key) and int(key.max()) < np.iinfo(np.int64).max // width:
        both = key * width + tx
        order = np.argsort(both)
        new = np.r_[True, both[order][1:] != both[order][:-1]] if len(order) else np.zeros(0, bool)
    else:
        order = np.lexsort((tx, key))
        k, t = key[order], tx[order]
        new = np.r_[True, (k[1:] != k[:-1]) | (t[1:] != t[:-1])] if len(order) else np.zeros(0, bool)
    starts = np.flatnonzero(new)
    first = np.minimum.reduceat(seconds[order], starts) if len(starts) else np.zeros(0)
    return key[order][starts], first


def positions(values: pd.Series, axis: pd.Index) -> np.ndarray:
    """int32 position of each value on `axis` (-1 when absent); a categorical column costs one
    look-up per category, not per row."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        cats = axis.get_indexer(values.cat.categories.astype(str)).astype(np.int32)
        codes = values.cat.codes.to_numpy()
        return np.where(codes >= 0, cats[np.maximum(codes, 0)], np.int32(-1)) if len(cats) else np.full(len(codes), -1, np.int32)
    return axis.get_indexer(values.astype(str)).astype(np.int32)


def id_codes(values: pd.Series) -> np.ndarray:
    """Equal codes for equal ids (the categorical's own codes when it is one)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy().astype(np.int64)
    return pd.factorize(values)[0].astype(np.int64)


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
        n_c, n_p = len(customer_ids), len(product_ids)
        at = as_of.timestamp()
        cp, size, latest, earliest, weight, _ = _cut(*enc.lines, at)
        rows, cols = cp // n_p, cp % n_p

        def pairs(data: np.ndarray) -> sp.csr_matrix:
            return _csr(rows, cols, data.astype(np.float32), (n_c, n_p))

        cust, txn_size, txn_latest, txn_earliest, _, active = _cut(*enc.visits, at)
        txn, recent = np.zeros(n_c), np.zeros(n_c)
        txn[cust], recent[cust] = txn_size, active
        last_any, first_any = np.full(n_c, np.nan), np.full(n_c, np.nan)
        last_any[cust], first_any[cust] = (at - txn_latest) / 86400.0, (at - txn_earliest) / 86400.0
        keep = enc.seconds < at
        return cls(
            as_of, customer_ids, product_ids, pairs(size), pairs(1.0 + (at - latest) / 86400.0),
            _mean_price(enc.price[keep], enc.c[keep], n_c), txn, last_any, pairs(1.0 + (at - earliest) / 86400.0),
            pairs(weight), first_any, recent,
        )

    @property
    def owned(self) -> sp.csr_matrix:
        """1 where the customer bought the product before as_of (csr, float32)."""
        out = self.counts.copy()
        out.data[:] = 1.0
        return out

    def last_days_at(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """last_days at counts' own entries (rows, cols in counts' csr order): read straight off
        the data when both matrices share their pattern, as built here, else looked up."""
        same = self.last_days.nnz == self.counts.nnz == len(rows) and np.array_equal(self.last_days.indptr, self.counts.indptr) \
            and np.array_equal(self.last_days.indices, self.counts.indices)
        return np.asarray(self.last_days.data) if same else lookup(self.last_days, rows, cols)

    def take(self, rows: np.ndarray | slice) -> PurchaseHistory:
        """The same history restricted to some customers (positions or a slice)."""
        return PurchaseHistory(
            self.as_of, pd.Index(self.customer_ids[rows]), self.product_ids, self.counts[rows],
            self.last_days[rows], self.spend_price[rows], self.txn_count[rows], self.last_any_days[rows],
            self.first_days[rows], self.decayed[rows], self.first_any_days[rows], self.recent_txn[rows],
        )


def _cut(keys: np.ndarray, seconds: np.ndarray, at: float) -> tuple[np.ndarray, ...]:
    """Of sorted (key, time) pairs before `at`: each distinct key, how many pairs, the latest and
    the earliest time, the pairs weighted exp(-age / DECAY_DAYS), the pairs in the last ACTIVE_DAYS."""
    before = seconds < at
    k, s = keys[before], seconds[before]
    if not len(k):
        return k, np.zeros(0, np.int64), s, s, s, s
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    age = (at - s) / 86400.0
    return (k[starts], np.diff(np.r_[starts, len(k)]), np.maximum.reduceat(s, starts), np.minimum.reduceat(s, starts),
            np.add.reduceat(np.exp(-age / DECAY_DAYS), starts), np.add.reduceat((age <= ACTIVE_DAYS).astype(np.float64), starts))


def _csr(rows: np.ndarray, cols: np.ndarray, data: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """A csr matrix from entries already sorted by row then column, without a coo round trip."""
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    return sp.csr_matrix((data, cols.astype(np.int32), indptr), shape=shape)


def _mean_price(price: np.ndarray, c: np.ndarray, n: int) -> np.ndarray:
    """Geometric mean of the positive unit prices each customer paid (NaN when none); pandas'
    compensated mean, so it does not drift with the order of lines."""
    out = np.full(n, np.nan)
    ok = np.isfinite(price) & (price > 0)
    if ok.any():
        logp = pd.Series(np.log(price[ok])).groupby(c[ok]).mean()
        out[logp.index.to_numpy()] = np.exp(logp.to_numpy())
    return out


def product_catalog(items: pd.DataFrame) -> pd.DataFrame:
    """One row per product: product_id (index), product_name (the most recent; the last such
    line when several share that time), category, price (median unit price paid), buyers
    (distinct customers). Works on integer codes, so a categorical id column costs no hashing."""
    codes, uniques = pd.factorize(items["product_id"])
    n = len(uniques)
    when = items["occurred_at"].to_numpy(dtype="datetime64[ns]").astype("int64")
    latest = pd.Series(when).groupby(codes).max().to_numpy()
    tied = np.flatnonzero(when == latest[codes])
    row = np.full(n, -1, dtype=np.int64)
    np.maximum.at(row, codes[tied], tied)
    out = pd.DataFrame({
        "product_name": items["product_name"].take(row).to_numpy(),
        "category": items["category"].take(row).to_numpy(),
    }, index=pd.Index(np.asarray(uniques).astype(str), name="product_id"))
    price = pd.to_numeric(items["unit_price"], errors="coerce").groupby(codes).median()
    out["price"] = price.reindex(np.arange(n)).to_numpy(dtype="float64")
    cust = id_codes(items["customer_id"])
    known = cust >= 0
    width = int(cust.max()) + 1 if known.any() else 1
    pairs = sorted_distinct(codes[known].astype(np.int64) * width + cust[known])
    out["buyers"] = np.bincount(pairs // width, minlength=n).astype("int64")
    return out.sort_index()


def sorted_distinct(values: np.ndarray) -> np.ndarray:
    """np.unique by a sort (numpy's hash-based unique is several times slower on millions of ints)."""
    out = np.sort(values)
    return out[np.r_[True, out[1:] != out[:-1]]] if len(out) else out


def bought_between(items: pd.DataFrame, start: pd.Timestamp, stop: pd.Timestamp) -> pd.DataFrame:
    """Distinct (customer_id, product_id) pairs purchased in [start, stop)."""
    window = items[(items["occurred_at"] >= start) & (items["occurred_at"] < stop)]
    return window[["customer_id", "product_id"]].drop_duplicates().reset_index(drop=True)


def lookup(matrix: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """matrix[rows[i], cols[i]] for each i, as a flat float array."""
    return np.asarray(matrix[rows, cols]).ravel()
