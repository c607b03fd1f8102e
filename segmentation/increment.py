"""Features updated by new purchases without recomputing them from the whole history.

The real-time API holds each customer's behaviour features as of the snapshot's cutoff;
a live purchase moves them. `add_purchases` gives exactly what `build_features` would on
the full history when the new purchases fall on or before the cutoff; purchases after it
count as made on the cutoff day (the snapshot's clock does not move between cycles, so
every customer is still compared on one time axis with the model's training data).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

_DAY = pd.Timedelta(days=1)


def add_purchases(features: pd.DataFrame, purchases: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """`features` (build_features columns, indexed by customer_id) after `purchases`.

    purchases: customer_id, occurred_at (UTC), amount (float, >= 0). Customers without a
    purchase keep their row; purchases of customers absent from `features` are ignored.
    Returns a copy; recency_days, frequency, monetary_total, monetary_mean, tenure_days and
    ipt_mean_days change, attributes do not.
    """
    out = features.copy()
    if purchases.empty:
        return out
    cutoff = pd.Timestamp(cutoff)
    when = pd.to_datetime(purchases["occurred_at"], utc=True, format="ISO8601")
    day = np.minimum(((when - cutoff) / _DAY).to_numpy(dtype=float), 0.0)
    frame = pd.DataFrame({"customer_id": purchases["customer_id"].astype(str).to_numpy(), "day": day,
                          "amount": purchases["amount"].to_numpy(dtype=float)})
    new = frame.groupby("customer_id").agg(n=("day", "size"), total=("amount", "sum"), last=("day", "max"), first=("day", "min"))
    new = new.reindex(out.index.astype(str)).dropna()
    if new.empty:
        return out
    rows = out.index.astype(str).isin(new.index)
    old = out.loc[rows]
    n0 = old["frequency"].to_numpy(dtype=float)
    bought = n0 > 0
    last = np.where(bought, np.maximum(-old["recency_days"].to_numpy(dtype=float), new["last"].to_numpy()), new["last"].to_numpy())
    first = np.where(bought, np.minimum(-old["tenure_days"].to_numpy(dtype=float), new["first"].to_numpy()), new["first"].to_numpy())
    n = n0 + new["n"].to_numpy()
    total = old["monetary_total"].to_numpy(dtype=float) + new["total"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        ipt = np.where(n >= 2, (last - first) / (n - 1), np.nan)
    out.loc[rows, "recency_days"] = -last
    out.loc[rows, "frequency"] = n.astype(out["frequency"].dtype)
    out.loc[rows, "monetary_total"] = total
    out.loc[rows, "monetary_mean"] = total / n
    out.loc[rows, "tenure_days"] = -first
    if "ipt_mean_days" in out:
        out.loc[rows, "ipt_mean_days"] = ipt
    return out


def features_of_one(occurred_at: Sequence[pd.Timestamp], amounts: Sequence[float], created_at: pd.Timestamp | None,
                    cutoff: pd.Timestamp) -> dict[str, float]:
    """One customer's behaviour features from their purchases, as `build_features` gives them.

    For the real-time API's one-customer requests, where a DataFrame group-by costs more than
    the model. Purchases after `cutoff` count as made on it (see the module docstring).
    """
    cutoff = pd.Timestamp(cutoff)
    days = np.minimum(np.array([(pd.Timestamp(t) - cutoff) / _DAY for t in occurred_at], dtype=float), 0.0)
    money = np.asarray(amounts, dtype=float)
    n = len(days)
    if n == 0:
        since = float("nan") if created_at is None else (cutoff - pd.Timestamp(created_at)) / _DAY
        return {"recency_days": since, "frequency": 0.0, "monetary_total": 0.0, "monetary_mean": 0.0,
                "tenure_days": since, "ipt_mean_days": float("nan")}
    last, first, total = float(days.max()), float(days.min()), float(money.sum())
    return {"recency_days": -last, "frequency": float(n), "monetary_total": total, "monetary_mean": total / n,
            "tenure_days": -first, "ipt_mean_days": (last - first) / (n - 1) if n >= 2 else float("nan")}


def add_purchases_one(features: Mapping[str, Any], occurred_at: Sequence[pd.Timestamp], amounts: Sequence[float],
                      cutoff: pd.Timestamp) -> dict[str, Any]:
    """`add_purchases` for one customer's feature values (a dict), without a DataFrame."""
    if not len(occurred_at):
        return dict(features)
    new = features_of_one(occurred_at, amounts, None, cutoff)
    n0 = float(features["frequency"])
    out = dict(features)
    last, first = -new["recency_days"], -new["tenure_days"]
    if n0 > 0:
        last, first = max(-float(features["recency_days"]), last), min(-float(features["tenure_days"]), first)
    n = n0 + new["frequency"]
    total = float(features["monetary_total"]) + new["monetary_total"]
    out.update(recency_days=-last, frequency=n, monetary_total=total, monetary_mean=total / n, tenure_days=-first)
    if "ipt_mean_days" in out:
        out["ipt_mean_days"] = (last - first) / (n - 1) if n >= 2 else float("nan")
    return out
