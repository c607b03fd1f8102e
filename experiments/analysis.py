"""The analysis facade: arms + outcomes in, one row per segment x arm x metric out.

Each treatment arm is compared with the control inside the segment recorded at
assignment (intention to treat). Per cell: relative and absolute lift (CUPED-adjusted
when a pre-period is given and ``spec.cuped_days > 0``), the frequentist interval and
p-value (fixed horizon, or the always-valid confidence sequence with
``sequential_tuning``), the Bayesian chance to beat control, the segment's SRM check, and
p-values adjusted over the whole experiment. A cell that cannot be compared (a control that
converted nobody, an arm whose values do not vary: ``experiments.stats.refusal_reasons``,
judged on the raw values even under CUPED) has NaN lifts and says why in ``note``.

Everything the statistics read is a handful of sums per segment x arm x metric
(``SUM_COLUMNS``): ``analyse_sums`` takes them, so an engine that keeps the customers where
they are (Spark: connector.engine.spark.outcomes) computes the sums there and brings back one
row per cell. ``analyse_experiment`` is ``customer_metrics`` -> ``metric_sums`` ->
``analyse_sums``: both engines share one implementation of everything after the sums.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from experiments.bayes import DEFAULT_PRIOR_SD, posterior_arrays
from experiments.correction import Correction, adjust_p_values
from experiments.cuped import ArmSums, adjusted_moments, pooled_theta
from experiments.outcomes import customer_metrics
from experiments.spec import HOLDOUT_ARM, ExperimentSpec
from experiments.srm import SRM_THRESHOLD, srm_p_value
from experiments.stats import lift_arrays, refusal_reasons

__all__ = ["RESULT_COLUMNS", "SUM_COLUMNS", "analyse_experiment", "analyse_sums", "metric_sums"]

#: Columns of the result table. ``estimate``/``ci_*`` are the relative lift
#: ``(mean_t - mean_c) / |mean_c|`` (CUPED-adjusted means when ``cuped``: the parity table in
#: experiments/__init__.py), ``abs_*`` the absolute difference; ``mean_*`` are raw
#: (unadjusted) means; ``cuped`` says whether the lift was regression-adjusted;
#: ``chance_to_win`` and ``credible_*`` are the Bayesian posterior of the relative lift;
#: ``note`` is why a cell has no lift ("" when it has one).
RESULT_COLUMNS = [
    "experiment", "segment_id", "arm", "metric", "n_control", "n_treatment",
    "mean_control", "mean_treatment", "estimate", "abs_estimate", "ci_low", "ci_high",
    "abs_ci_low", "abs_ci_high", "p_value", "p_adjusted", "chance_to_win", "credible_low",
    "credible_high", "srm_p",
    "srm_flag", "significant", "cuped", "note",
]
NOT_ESTIMABLE = "the CUPED-adjusted control mean is 0, so a relative lift is undefined"

_SUMS = ("n", "y", "yy", "x", "xx", "xy")
#: The sufficient statistics of one experiment, one row per segment_id x arm x metric (holdout
#: excluded): ``n`` customers, and over them the sums of the metric ``y``, ``y * y``, its CUPED
#: covariate ``x`` (``<metric>_pre``; 0 without CUPED), ``x * x`` and ``x * y``. Rows of one
#: cell may be split (partial sums of partitions): they are added up.
SUM_COLUMNS = ["segment_id", "arm", "metric", *_SUMS]


def metric_sums(data: pd.DataFrame, spec: ExperimentSpec, cuped: bool) -> pd.DataFrame:
    """``customer_metrics``' rows reduced to ``SUM_COLUMNS`` for every metric of ``spec``
    (covariates ``<metric>_pre`` read when ``cuped``). Customers without a segment_id are in no
    cell: a lift is per segment."""
    parts = []
    for metric in spec.metrics:
        y = data[metric].to_numpy(dtype=float)
        x = data[f"{metric}_pre"].to_numpy(dtype=float) if cuped else np.zeros(len(data))
        frame = pd.DataFrame(
            {"segment_id": data["segment_id"].to_numpy(), "arm": data["arm"].to_numpy(),
             "n": 1.0, "y": y, "yy": y * y, "x": x, "xx": x * x, "xy": x * y}
        )
        parts.append(frame.groupby(["segment_id", "arm"], sort=False)[list(_SUMS)].sum().reset_index()
                     .assign(metric=metric))
    return pd.concat(parts, ignore_index=True)[SUM_COLUMNS] if parts else pd.DataFrame(columns=SUM_COLUMNS)


def _checked_sums(sums: pd.DataFrame, spec: ExperimentSpec) -> pd.DataFrame:
    """``sums`` with its columns and arm names checked; holdout cells, and cells without a segment or
    a unit, dropped."""
    missing = [c for c in SUM_COLUMNS if c not in sums.columns]
    if missing:
        raise ValueError(f"sums is missing columns {missing} (has {list(sums.columns)})")
    sums = sums[sums["arm"] != HOLDOUT_ARM]
    unknown = sorted(set(pd.unique(sums["arm"])) - set(spec.arm_names))
    if unknown:
        raise ValueError(f"arms of experiment {spec.key!r} name unknown arms {unknown}")
    return sums[sums["segment_id"].notna() & (sums["n"] > 0)]


def _cell_sums(sums: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per (segment_id, arm): the six sums of ``metric``."""
    return sums[sums["metric"] == metric].groupby(["segment_id", "arm"], sort=False)[list(_SUMS)].sum()


def _grid(segments: list, spec: ExperimentSpec, sums: pd.DataFrame, arm: str | None) -> ArmSums:
    """ArmSums of ``arm`` (or, if None, of the treatment itself) for every (segment, treatment) pair."""
    keys = [(s, t if arm is None else arm) for s in segments for t in spec.treatments]
    aligned = sums.reindex(pd.MultiIndex.from_tuples(keys)).fillna(0.0)
    return ArmSums(*(aligned[c].to_numpy() for c in _SUMS))


def _lifts(segments: list, spec: ExperimentSpec, sums: pd.DataFrame, metric: str, alpha: float, tuning):
    control = _grid(segments, spec, sums, spec.control)
    treated = _grid(segments, spec, sums, None)
    theta = pooled_theta(control, treated)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_x = (control.x + treated.x) / (control.n + treated.n)
    binary = metric == "conversion"
    mc, vc = adjusted_moments(control, theta, mean_x, binary)
    mt, vt = adjusted_moments(treated, theta, mean_x, binary)
    # judged on the raw values: the adjustment gives a control that converted nobody a
    # non-zero mean, and a constant arm the covariate's variance
    raw_c, raw_vc = adjusted_moments(control, np.zeros_like(theta), mean_x, binary)
    raw_t, raw_vt = adjusted_moments(treated, np.zeros_like(theta), mean_x, binary)
    reasons = refusal_reasons(raw_c, raw_vc, control.n, raw_vt, treated.n, relative=True)
    refused = reasons != ""
    rel = lift_arrays(mc, vc, control.n, mt, vt, treated.n, relative=True, alpha=alpha, sequential_tuning=tuning, refused=refused)
    ab = lift_arrays(mc, vc, control.n, mt, vt, treated.n, relative=False, alpha=alpha, sequential_tuning=tuning, refused=refused)
    fixed = rel if tuning is None else lift_arrays(mc, vc, control.n, mt, vt, treated.n, relative=True, alpha=alpha, refused=refused)
    _, cred_low, cred_high, chance = posterior_arrays(fixed[0], fixed[1], alpha=alpha, prior_sd=DEFAULT_PRIOR_SD)
    reasons = np.where((reasons == "") & np.isnan(rel[0]), NOT_ESTIMABLE, reasons)
    return pd.DataFrame({
        "segment_id": [s for s in segments for _ in spec.treatments],
        "arm": [t for _ in segments for t in spec.treatments], "metric": metric,
        "n_control": control.n.astype(np.int64), "n_treatment": treated.n.astype(np.int64),
        "mean_control": raw_c, "mean_treatment": raw_t, "estimate": rel[0], "abs_estimate": ab[0],
        "ci_low": rel[2], "ci_high": rel[3], "abs_ci_low": ab[2], "abs_ci_high": ab[3],
        "p_value": rel[4], "chance_to_win": chance, "credible_low": cred_low, "credible_high": cred_high,
        "note": reasons,
    })


def _srm(cells: pd.DataFrame, spec: ExperimentSpec) -> pd.DataFrame:
    """srm_p per segment_id from the units per arm (``cells``: n per segment_id x arm)."""
    counts = cells.groupby(["segment_id", "arm"], sort=False)["n"].sum().unstack(fill_value=0)
    counts = counts.reindex(columns=list(spec.arm_names), fill_value=0)
    p = [srm_p_value(row.to_numpy(), spec.weights) for _, row in counts.iterrows()]
    return pd.DataFrame({"segment_id": counts.index, "srm_p": p})


def _tuning(segments: list, spec: ExperimentSpec, sequential_tuning) -> np.ndarray | float | None:
    if sequential_tuning is None:
        return None
    if isinstance(sequential_tuning, Mapping):
        missing = [s for s in segments if s not in sequential_tuning]
        if missing:
            raise ValueError(f"sequential_tuning has no entry for segments {missing[:5]}")
        values = np.repeat([float(sequential_tuning[s]) for s in segments], len(spec.treatments))
    else:
        values = np.asarray(float(sequential_tuning))
    if not (values >= 1).all():
        raise ValueError(f"sequential_tuning must be >= 1 (got {sequential_tuning!r})")
    return values


def analyse_experiment(
    arms: pd.DataFrame,
    outcomes: pd.DataFrame,
    spec: ExperimentSpec,
    *,
    pre_period: pd.DataFrame | None = None,
    alpha: float = 0.05,
    sequential_tuning: float | Mapping[object, float] | None = None,
    correction: Correction = "holm",
) -> pd.DataFrame:
    """Lift per segment x treatment arm x metric of ``spec`` (``RESULT_COLUMNS``).

    ``arms``: ``experiment, customer_id, arm, segment_id, assigned_at`` (holdout rows are
    ignored). ``outcomes``: ``experiment, customer_id, metric, value, observed_at``.
    ``pre_period``: ``customer_id, value`` (revenue in the ``cuped_days`` before
    assignment) turns CUPED on. The other arguments: ``analyse_sums``.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1) (got {alpha!r})")
    cuped = pre_period is not None and spec.cuped_days > 0
    data = customer_metrics(arms, outcomes, spec, pre_period if cuped else None)
    return analyse_sums(metric_sums(data, spec, cuped), spec, cuped=cuped, alpha=alpha,
                        sequential_tuning=sequential_tuning, correction=correction)


def analyse_sums(
    sums: pd.DataFrame,
    spec: ExperimentSpec,
    *,
    cuped: bool = False,
    alpha: float = 0.05,
    sequential_tuning: float | Mapping[object, float] | None = None,
    correction: Correction = "holm",
) -> pd.DataFrame:
    """Lift per segment x treatment arm x metric of ``spec`` (``RESULT_COLUMNS``) from the
    sufficient statistics ``sums`` (``SUM_COLUMNS``; ``metric_sums`` of the per-customer rows).

    ``cuped``: the sums' ``x`` columns hold the pre-period covariates (regression adjustment).
    ``sequential_tuning``: N* (expected total of two arms), one number or one per segment_id;
    None is the fixed-horizon test. ``correction``: "holm", "bh" or "none" over every row.
    ``significant`` is ``p_adjusted < alpha``; rows with ``srm_flag`` are untrustworthy
    whatever their p-value.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1) (got {alpha!r})")
    sums = _checked_sums(sums, spec)
    segments = list(pd.unique(sums["segment_id"]))
    if not segments or not spec.metrics:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    tuning = _tuning(segments, spec, sequential_tuning)
    parts = [_lifts(segments, spec, _cell_sums(sums, m), m, alpha, tuning) for m in spec.metrics]
    units = sums[sums["metric"] == spec.metrics[0]]
    result = pd.concat(parts, ignore_index=True).merge(_srm(units, spec), on="segment_id", how="left")
    result["srm_flag"] = result["srm_p"] < SRM_THRESHOLD
    result["p_adjusted"] = adjust_p_values(result["p_value"].to_numpy(), correction)
    result["significant"] = (result["p_adjusted"] < alpha).fillna(False).astype(bool)
    result["experiment"] = spec.key
    result["cuped"] = cuped
    rank = {"arm": {a: i for i, a in enumerate(spec.arm_names)}, "metric": {m: i for i, m in enumerate(spec.metrics)}}
    result = result.sort_values(
        ["segment_id", "arm", "metric"], key=lambda c: c.map(rank[c.name]) if c.name in rank else c, kind="stable"
    )
    return result[RESULT_COLUMNS].reset_index(drop=True)
