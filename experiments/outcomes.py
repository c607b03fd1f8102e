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


def _object_ids(values: pd.Series) -> np.ndarray:
    # Object arrays on purpose: pandas' arrow-backed strings hash and look up one Python
    # object at a time, several times slower than the object hashtable on a million ids.
    return values.astype(str).to_numpy(dtype=object)


def _utc_instants(values: pd.Series) -> np.ndarray:
    """datetime64[ns] in UTC (naive input is taken as UTC, aware input converted). Text is ISO 8601
    in any precision: the cycle stores whole seconds, `segsync serve` microseconds, in one column."""
    return pd.to_datetime(values, utc=True, format="ISO8601").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")


def _assigned(arms: pd.DataFrame, spec: ExperimentSpec) -> pd.DataFrame:
    _require(arms, ARM_COLUMNS, "arms")
    a = arms.loc[(arms["experiment"] == spec.key) & (arms["arm"] != HOLDOUT_ARM), ARM_COLUMNS[1:]]
    a = pd.DataFrame({
        "customer_id": _object_ids(a["customer_id"]), "segment_id": a["segment_id"].to_numpy(),
        "arm": a["arm"].to_numpy(dtype=object), "assigned_at": _utc_instants(a["assigned_at"]),
    })
    dup = pd.Index(a["customer_id"], dtype=object).duplicated()
    if dup.any():
        raise ValueError(
            f"arms has several rows for one customer in experiment {spec.key!r}, "
            f"e.g. {a.loc[dup, 'customer_id'].head(3).tolist()}"
        )
    unknown = sorted(set(pd.unique(a["arm"])) - set(spec.arm_names))
    if unknown:
        raise ValueError(f"arms of experiment {spec.key!r} name unknown arms {unknown}")
    return a


def _windowed(outcomes: pd.DataFrame, assigned: pd.DataFrame, spec: ExperimentSpec) -> pd.DataFrame:
    """Outcome rows of ``spec`` inside each customer's conversion window, with ``pos``:
    the row of the customer in ``assigned``."""
    _require(outcomes, OUTCOME_COLUMNS, "outcomes")
    o = outcomes.loc[outcomes["experiment"] == spec.key]
    pos = pd.Index(assigned["customer_id"], dtype=object).get_indexer(_object_ids(o["customer_id"]))
    observed = _utc_instants(o["observed_at"])
    instants = assigned["assigned_at"].to_numpy()
    start = instants[np.maximum(pos, 0)] if len(instants) else np.zeros(len(pos), dtype="datetime64[ns]")
    end = start + np.timedelta64(spec.conversion_window_days, "D")
    keep = (pos >= 0) & (observed >= start) & (observed < end)
    return pd.DataFrame({
        "pos": pos[keep], "metric": o["metric"].to_numpy(dtype=object)[keep],
        "value": pd.to_numeric(o["value"], errors="coerce").fillna(0.0).to_numpy(dtype=float)[keep],
    })


def _per_customer(rows: pd.DataFrame, n: int, metric: str) -> np.ndarray:
    chosen = rows[rows["metric"] == metric]
    return np.bincount(chosen["pos"], weights=chosen["value"], minlength=n).astype(float)


def _any_positive(rows: pd.DataFrame, n: int, metric: str) -> np.ndarray:
    chosen = rows[(rows["metric"] == metric) & (rows["value"] > 0)]
    return (np.bincount(chosen["pos"], minlength=n) > 0).astype(float)


def _pre_values(pre_period: pd.DataFrame, assigned: pd.DataFrame) -> np.ndarray:
    _require(pre_period, ["customer_id", "value"], "pre_period")
    pos = pd.Index(assigned["customer_id"], dtype=object).get_indexer(_object_ids(pre_period["customer_id"]))
    value = pd.to_numeric(pre_period["value"], errors="coerce").fillna(0.0).to_numpy(dtype=float)
    return np.bincount(pos[pos >= 0], weights=value[pos >= 0], minlength=len(assigned)).astype(float)


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
    n = len(assigned)
    out = assigned[["customer_id", "segment_id", "arm"]].copy()
    pre = _pre_values(pre_period, assigned) if pre_period is not None else None
    for metric in spec.metrics:
        if metric == "revenue":
            out[metric] = cap_values(_per_customer(rows, n, "revenue"), spec.revenue_cap_quantile)
            if pre is not None:
                out["revenue_pre"] = cap_values(pre, spec.revenue_cap_quantile)
        else:
            has_conversion_rows = bool((rows["metric"] == "conversion").any())
            out[metric] = _any_positive(rows, n, "conversion" if has_conversion_rows else "revenue")
            if pre is not None:
                out["conversion_pre"] = (pre > 0).astype(float)
    return out
