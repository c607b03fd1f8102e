"""Labels for score targets and chronological training sets built from stacked cutoffs.

For a cutoff t and horizon N, features use only data up to t and the label looks at (t, t+N]:

- propensity: the customer buys in (t, t+N]; everyone known at t is eligible.
- churn: the customer does not buy in (t, t+N]; only customers who bought by t are eligible
  (non-contractual churn needs a purchase to lapse from).
- conversion: a CRM attribute reaches ``value`` in (t, t+N]; only customers whose value at t
  differs are eligible. It needs an attribute history with columns customer_id, value,
  changed_at (UTC): every change, or at least the latest one. Without a history, the
  customers table must carry ``<field>`` and ``<field>_changed_at`` (when it took its current
  value); that snapshot assumes no earlier flip back and forth.

The latest cutoff is ``as_of - N``, the last one whose label window is fully observed; it is
kept for out-of-time validation, never for fitting. Training cutoffs end at ``as_of - 2N``
and are spaced ``spacing`` apart (default N).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

FeatureFn = Callable[[pd.DataFrame | None, pd.DataFrame, pd.Timestamp], pd.DataFrame]
KINDS = ("propensity", "churn", "conversion")


def utc(stamp: pd.Timestamp | str) -> pd.Timestamp:
    value = pd.Timestamp(stamp)
    return value.tz_localize("UTC") if value.tzinfo is None else value.tz_convert("UTC")


def cutoff_dates(
    as_of: pd.Timestamp | str, horizon_days: int, count: int, spacing_days: int | None = None
) -> list[pd.Timestamp]:
    """``count`` cutoffs, oldest first. The last (validation) one is ``as_of - horizon``; the
    training ones end a full horizon before it, so no training label window overlaps the
    validation window, and are ``spacing_days`` (default: the horizon) apart."""
    if count < 2:
        raise ValueError("scoring needs at least 2 cutoffs: the last one validates out of time")
    horizon = pd.Timedelta(days=horizon_days)
    spacing = pd.Timedelta(days=spacing_days or horizon_days)
    validation = utc(as_of) - horizon
    last_train = validation - horizon
    return [last_train - spacing * (count - 2 - k) for k in range(count - 1)] + [validation]


def attribute_history(customers: pd.DataFrame | None, field: str) -> pd.DataFrame:
    """The customers-snapshot fallback: one row per customer from ``field`` and ``field_changed_at``."""
    stamp = f"{field}_changed_at"
    if customers is None or field not in customers.columns or stamp not in customers.columns:
        raise ValueError(
            f"conversion target on {field!r} needs an attribute history (customer_id, value, changed_at) "
            f"or customers columns {field!r} and {stamp!r}"
        )
    return pd.DataFrame(
        {
            "customer_id": customers["customer_id"].astype(str),
            "value": customers[field],
            "changed_at": pd.to_datetime(customers[stamp], utc=True),
        }
    )


class PurchaseIndex:
    """Transactions keyed once by customer (string hashing dominates at a million customers),
    so each cutoff's "who bought in this window" is an integer scatter, not a string join."""

    def __init__(self, transactions: pd.DataFrame) -> None:
        codes, uniques = pd.factorize(transactions["customer_id"].astype(str))
        self.codes = codes
        self.customers = pd.Index(uniques)
        self.when = pd.to_datetime(transactions["occurred_at"], utc=True).reset_index(drop=True)

    def bought(self, ids: pd.Index, windows: list[tuple[pd.Timestamp | None, pd.Timestamp]]) -> list[np.ndarray]:
        """For each (start, end] window (start None = since ever), whether each of ``ids`` bought."""
        position = self.customers.get_indexer(ids)
        known = position >= 0
        out = []
        for start, end in windows:
            mask = (self.when <= end) if start is None else (self.when > start) & (self.when <= end)
            flag = np.zeros(len(self.customers), dtype=bool)
            flag[self.codes[mask.to_numpy()]] = True
            out.append(known & flag[np.where(known, position, 0)])
        return out


def _value_at(history: pd.DataFrame, moment: pd.Timestamp) -> pd.Series:
    known = history[history["changed_at"] <= moment].sort_values("changed_at", kind="stable")
    return known.groupby("customer_id")["value"].last()


def eligible_and_labels(
    kind: str,
    ids: pd.Index,
    transactions: pd.DataFrame,
    cutoff: pd.Timestamp,
    horizon_days: int,
    history: pd.DataFrame | None = None,
    value: object = None,
    purchases: PurchaseIndex | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(eligible mask, label) for customers ``ids`` at ``cutoff``; labels of ineligible rows are 0.
    With ``cutoff + horizon`` in the future the labels are meaningless: use the mask only.
    ``purchases`` (built from ``transactions``) saves re-keying them when called per cutoff."""
    if kind not in KINDS:
        raise ValueError(f"unknown score kind {kind!r}; expected one of {KINDS}")
    ids = pd.Index(ids.astype(str))
    end = cutoff + pd.Timedelta(days=horizon_days)
    if kind == "conversion":
        if history is None:
            raise ValueError("conversion targets need an attribute history")
        target = str(value)
        before = _value_at(history, cutoff).astype(str).reindex(ids)
        eligible = (before != target).to_numpy()
        window = history[(history["changed_at"] > cutoff) & (history["changed_at"] <= end)]
        hits = pd.Index(
            window.loc[window["value"].astype(str) == target, "customer_id"].astype(str)
        )
        return eligible, ids.isin(hits) & eligible
    purchases = purchases or PurchaseIndex(transactions)
    if kind == "propensity":
        (bought,) = purchases.bought(ids, [(cutoff, end)])
        return np.ones(len(ids), dtype=bool), bought
    bought, eligible = purchases.bought(ids, [(cutoff, end), (None, cutoff)])
    return eligible, eligible & ~bought


def training_set(
    customers: pd.DataFrame | None,
    transactions: pd.DataFrame,
    kind: str,
    horizon_days: int,
    cutoffs: list[pd.Timestamp],
    feature_fn: FeatureFn,
    history: pd.DataFrame | None = None,
    value: object = None,
    purchases: PurchaseIndex | None = None,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Stacked (features, label, cutoff index) over ``cutoffs``, eligible customers only.

    The feature frame keeps customer_id as its index (repeated across cutoffs); the third
    item numbers each row's cutoff (0 = oldest) so callers can split by time.
    """
    frames, labels, which = [], [], []
    if purchases is None and kind != "conversion":
        purchases = PurchaseIndex(transactions)
    for k, cutoff in enumerate(cutoffs):
        features = feature_fn(customers, transactions, cutoff)
        eligible, label = eligible_and_labels(
            kind, features.index, transactions, cutoff, horizon_days, history, value, purchases
        )
        frames.append(features.loc[eligible])
        labels.append(label[eligible].astype(np.int64))
        which.append(np.full(int(eligible.sum()), k, dtype=np.int64))
    if not frames or sum(len(f) for f in frames) == 0:
        raise ValueError("no eligible customers at any cutoff; check as_of, horizon and cutoffs")
    return pd.concat(frames), np.concatenate(labels), np.concatenate(which)
