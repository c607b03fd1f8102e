"""Drift between runs and the retrain-or-reuse decision.

- PSI per feature against the training snapshot: reference-quantile bins (deciles of the
  training data, merged where ties make edges equal, so a feature like frequency with half
  its values at 1 does not show phantom drift), a bin of its own for missing values, and
  an epsilon for empty bins. Rule of thumb: < 0.1 stable, 0.1-0.25 moderate, > 0.25
  significant (R scorecard::perf_psi docs; reference/segmentation.md section 5).
- Segment share shifts, the migration matrix and ARI on the customers present in both runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

_EPS = 1e-4
_MISSING = "<missing>"


def feature_snapshot(features: pd.DataFrame, columns: Sequence[str], bins: int = 10) -> dict:
    """What PSI needs from the training data, small and JSON-able: per column either
    {"kind": "numeric", "edges": [...], "expected": [...]} or
    {"kind": "categorical", "expected": {category: share}}."""
    snapshot = {}
    for c in columns:
        values = features[c]
        if pd.api.types.is_numeric_dtype(values.dtype):
            numeric = values.to_numpy(dtype="float64", na_value=np.nan)
            finite = numeric[~np.isnan(numeric)]
            qs = np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]) if len(finite) else []
            edges = np.unique(qs).tolist()
            snapshot[c] = {
                "kind": "numeric",
                "edges": edges,
                "expected": _numeric_shares(numeric, edges),
            }
        else:
            snapshot[c] = {"kind": "categorical", "expected": _category_shares(values)}
    return snapshot


def psi_table(snapshot: dict, features: pd.DataFrame) -> pd.DataFrame:
    """PSI per snapshot column: columns feature, psi, level (stable / moderate / significant)."""
    rows = []
    for c, ref in snapshot.items():
        if c not in features:
            continue
        if ref["kind"] == "numeric":
            numeric = features[c].to_numpy(dtype="float64", na_value=np.nan)
            expected, actual = ref["expected"], _numeric_shares(numeric, ref["edges"])
        else:
            shares = _category_shares(features[c])
            cats = sorted(set(ref["expected"]) | set(shares))
            expected = [ref["expected"].get(k, 0.0) for k in cats]
            actual = [shares.get(k, 0.0) for k in cats]
        rows.append({"feature": c, "psi": psi(np.asarray(expected), np.asarray(actual))})
    out = pd.DataFrame(rows, columns=["feature", "psi"])
    out["level"] = pd.cut(
        out["psi"], [-np.inf, 0.1, 0.25, np.inf], labels=["stable", "moderate", "significant"]
    ).astype(str)
    return out


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of two share vectors over the same bins."""
    e = np.clip(expected, _EPS, None)
    a = np.clip(actual, _EPS, None)
    return float(np.sum((a - e) * np.log(a / e)))


def share_shift(previous: pd.Series, current: pd.Series) -> pd.DataFrame:
    """previous/current: share per segment_id. Columns segment_id, previous_share,
    current_share, shift (current - previous; a segment missing on one side has share 0)."""
    ids = sorted(set(previous.index) | set(current.index))
    out = pd.DataFrame({"segment_id": ids})
    out["previous_share"] = previous.reindex(ids, fill_value=0.0).to_numpy()
    out["current_share"] = current.reindex(ids, fill_value=0.0).to_numpy()
    out["shift"] = out["current_share"] - out["previous_share"]
    return out


def migration_matrix(previous: pd.Series, current: pd.Series) -> pd.DataFrame:
    """Share of each previous segment (rows) now in each current segment (columns), among
    customers in both Series (index customer_id, values segment_id); rows sum to 1."""
    shared = previous.index.intersection(current.index)
    if len(shared) == 0:
        return pd.DataFrame()
    table = pd.crosstab(previous.reindex(shared).to_numpy(), current.reindex(shared).to_numpy())
    table.index.name, table.columns.name = "previous", "current"
    return table.div(table.sum(axis=1), axis=0)


def agreement(previous: pd.Series, current: pd.Series) -> dict:
    """ARI between two runs on the customers present in both; NaN when none are."""
    shared = previous.index.intersection(current.index)
    if len(shared) == 0:
        return {"ari": float("nan"), "n_shared": 0}
    ari = adjusted_rand_score(
        previous.reindex(shared).to_numpy(), current.reindex(shared).to_numpy()
    )
    return {"ari": float(ari), "n_shared": int(len(shared))}


@dataclass(frozen=True)
class RetrainPolicy:
    """Retrain when the model is `every_days` old, a feature's PSI reaches `psi_threshold`
    or a segment's share moves by `share_shift_threshold`; None disables a trigger."""

    every_days: int | None = 30
    psi_threshold: float | None = 0.25
    share_shift_threshold: float | None = 0.10

    def decide(self, age_days: float, psi: pd.DataFrame, shifts: pd.DataFrame) -> tuple[bool, str]:
        """(retrain?, reason) with the figure that decided it."""
        if self.every_days is not None and age_days >= self.every_days:
            return True, f"model is {age_days:.0f} days old (retrain every {self.every_days} days)"
        worst_psi = psi.sort_values("psi", ascending=False, kind="stable").head(1)
        if (
            self.psi_threshold is not None
            and len(worst_psi)
            and worst_psi["psi"].iloc[0] >= self.psi_threshold
        ):
            f, v = worst_psi["feature"].iloc[0], worst_psi["psi"].iloc[0]
            return True, f"PSI of {f} is {v:.3f} (threshold {self.psi_threshold})"
        moved = (
            shifts.assign(size=shifts["shift"].abs())
            .sort_values("size", ascending=False, kind="stable")
            .head(1)
        )
        if (
            self.share_shift_threshold is not None
            and len(moved)
            and moved["size"].iloc[0] >= self.share_shift_threshold
        ):
            s, v = moved["segment_id"].iloc[0], moved["shift"].iloc[0]
            return True, f"share of {s} moved {v:+.3f} (threshold {self.share_shift_threshold})"
        top_psi = (
            f"{worst_psi['psi'].iloc[0]:.3f} ({worst_psi['feature'].iloc[0]})"
            if len(worst_psi)
            else "n/a"
        )
        top_shift = f"{moved['size'].iloc[0]:.3f}" if len(moved) else "n/a"
        return (
            False,
            f"reused model: {age_days:.0f} days old, max PSI {top_psi}, max share shift {top_shift}",
        )


def _numeric_shares(values: np.ndarray, edges: list[float]) -> list[float]:
    """Shares per bin (len(edges) + 1 bins, right-closed, as np.searchsorted side='left')
    plus a last share for missing values."""
    n = max(len(values), 1)
    missing = np.isnan(values)
    bins = np.searchsorted(np.asarray(edges, dtype="float64"), values[~missing], side="left")
    counts = np.bincount(bins, minlength=len(edges) + 1)
    return [*(counts / n).tolist(), float(missing.sum() / n)]


def _category_shares(values: pd.Series) -> dict[str, float]:
    labels = values.astype(object).where(values.notna(), _MISSING).astype(str)
    return {str(k): float(v) for k, v in labels.value_counts(normalize=True).sort_index().items()}
