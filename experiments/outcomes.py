"""Per-customer metric values from the arms and outcomes tables.

One row per assigned customer (holdout excluded), intention to treat: every customer
assigned counts in the arm and segment recorded at assignment, whether or not they
converted or still sit in that segment.

* ``revenue``: the sum of ``revenue`` outcomes observed in
  ``[assigned_at, assigned_at + conversion_window_days)``; 0 when none. Capped at the
  ``revenue_cap_quantile`` of the *positive* values, pooled over all arms (one cap for
  every arm, so capping cannot favour one). Positive values, because in a CRM most
  customers buy nothing and the 99th percentile over everyone would often be 0
  (GrowthBook's "ignore zeros" capping option).
* ``conversion``: 1 when the customer has a ``conversion`` outcome with a positive value in
  the window. When the experiment's outcomes hold no ``conversion`` rows at all, a
  purchase (a positive ``revenue`` outcome) is the conversion.
* Covariates for CUPED (``pre_period``: ``customer_id, value`` = revenue in the
  ``cuped_days`` before assignment): ``revenue`` uses the pre-period revenue (capped the
  same way), ``conversion`` whether there was any pre-period revenue.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.spec import HOLDOUT_ARM, ExperimentSpec

__all__ = ["cap_values", "customer_metrics"]

ARM_COLUMNS = ["experiment", "customer_id", "arm", "segment_id", "assigned_at"]
OUTCOME_COLUMNS = ["experiment", "customer_id", "metric", "value", "observed_at"]


def _require(frame: pd.DataFrame, columns: list[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing columns {missing} (has {list(frame.columns)})")


def cap_values(values: np.ndarray, quantile: float | None) -> np.ndarray:
    """Cap ``values`` at the ``quantile`` of their positive entries (no cap if None or 1)."""
    v = np.asarray(values, dtype=float)
    positive = v[v > 0]
    if quantile is None or quantile >= 1 or positive.size == 0:
        return v
    return np.minimum(v, np.quantile(positive, quantile))


def _assigned(arms: pd.DataFrame, spec: ExperimentSpec) -> pd.DataFrame:
    _require(arms, ARM_COLUMNS, "arms")
    a = arms.loc[(arms["experiment"] == spec.key) & (arms["arm"] != HOLDOUT_ARM), ARM_COLUMNS[1:]]
    a = a.assign(customer_id=a["customer_id"].astype(str), assigned_at=pd.to_datetime(a["assigned_at"], utc=True))
    dup = a["customer_id"].duplicated()
    if dup.any():
        raise ValueError(
            f"arms has several rows for one customer in experiment {spec.key!r}, "
            f"e.g. {a.loc[dup, 'customer_id'].head(3).tolist()}"
        )
    unknown = sorted(set(a["arm"]) - set(spec.arm_names))
    if unknown:
        raise ValueError(f"arms of experiment {spec.key!r} name unknown arms {unknown}")
    return a.reset_index(drop=True)


def _windowed(outcomes: pd.DataFrame, assigned: pd.DataFrame, spec: ExperimentSpec) -> pd.DataFrame:
    """Outcome rows of ``spec`` inside each customer's conversion window."""
    _require(outcomes, OUTCOME_COLUMNS, "outcomes")
    o = outcomes.loc[outcomes["experiment"] == spec.key, ["customer_id", "metric", "value", "observed_at"]]
    o = o.assign(customer_id=o["customer_id"].astype(str), observed_at=pd.to_datetime(o["observed_at"], utc=True))
    o = o.merge(assigned[["customer_id", "assigned_at"]], on="customer_id", how="inner")
    end = o["assigned_at"] + pd.Timedelta(days=spec.conversion_window_days)
    return o[(o["observed_at"] >= o["assigned_at"]) & (o["observed_at"] < end)]


def _per_customer(rows: pd.DataFrame, ids: pd.Series, metric: str) -> np.ndarray:
    values = pd.to_numeric(rows.loc[rows["metric"] == metric, "value"], errors="coerce").fillna(0.0)
    sums = values.groupby(rows.loc[values.index, "customer_id"]).sum()
    return sums.reindex(ids).fillna(0.0).to_numpy(dtype=float)


def _any_positive(rows: pd.DataFrame, ids: pd.Series, metric: str) -> np.ndarray:
    chosen = rows[rows["metric"] == metric]
    positive = pd.to_numeric(chosen["value"], errors="coerce") > 0
    return ids.isin(chosen.loc[positive, "customer_id"]).to_numpy(dtype=float)


def customer_metrics(
    arms: pd.DataFrame,
    outcomes: pd.DataFrame,
    spec: ExperimentSpec,
    pre_period: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """``customer_id, segment_id, arm`` plus, per metric in ``spec.metrics``, the value and
    (when ``pre_period`` is given) the covariate ``<metric>_pre``."""
    assigned = _assigned(arms, spec)
    rows = _windowed(outcomes, assigned, spec)
    ids = assigned["customer_id"]
    out = assigned[["customer_id", "segment_id", "arm"]].copy()
    has_conversion_rows = bool((rows["metric"] == "conversion").any())
    if pre_period is not None:
        _require(pre_period, ["customer_id", "value"], "pre_period")
        pre = pd.to_numeric(pre_period["value"], errors="coerce").fillna(0.0)
        pre_sum = pre.groupby(pre_period["customer_id"].astype(str)).sum()
        pre_values = pre_sum.reindex(ids).fillna(0.0).to_numpy(dtype=float)
    for metric in spec.metrics:
        if metric == "revenue":
            out[metric] = cap_values(_per_customer(rows, ids, "revenue"), spec.revenue_cap_quantile)
            if pre_period is not None:
                out["revenue_pre"] = cap_values(pre_values, spec.revenue_cap_quantile)
        else:
            source = "conversion" if has_conversion_rows else "revenue"
            out[metric] = _any_positive(rows, ids, source)
            if pre_period is not None:
                out["conversion_pre"] = (pre_values > 0).astype(float)
    return out
