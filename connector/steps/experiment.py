"""Steps `assign` and `measure`: sticky arms per segment, then lift per segment x arm.

Outcomes are the purchases the pull already mirrors (revenue, and a purchase as the
conversion), read from the canonical transactions after each customer's assignment, so
every source, a files source included, is measured the same way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from connector.config import ExperimentConfig, ExperimentsConfig
from connector.state.experiment_data import definition_of
from experiments.analysis import analyse_sums, metric_sums
from experiments.outcomes import customer_metrics
from experiments.spec import HOLDOUT_ARM, ArmSpec, ExperimentSpec, HoldoutSpec

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from connector.pipeline import CycleContext

log = logging.getLogger("segsync.experiments")


@dataclass(frozen=True)
class AssignResult:
    """new_arms: this run's assignments; arms: every stored assignment plus the new ones
    (experiment, customer_id, arm, segment_id, assigned_at); on a Spark cycle only the new ones,
    and on_spark: every current arm of the configured experiments (the same columns, as the state
    store's text) as a Spark DataFrame (connector.steps.spark_results)."""

    new_arms: pd.DataFrame
    arms: pd.DataFrame
    on_spark: DataFrame | None = None


@dataclass(frozen=True)
class MeasureResult:
    """lift: experiments.analysis rows per experiment x segment x arm (None: nothing to measure)."""

    lift: pd.DataFrame | None


def experiment_spec(cfg: ExperimentConfig, segments: pd.DataFrame | None) -> ExperimentSpec:
    """The pure spec for one configured experiment; segment names are resolved to ids."""
    names = {} if segments is None else dict(zip(segments["segment_name"], segments["segment_id"], strict=False))
    return ExperimentSpec(
        key=cfg.key,
        arms=tuple(ArmSpec(a.name, a.weight, a.control) for a in cfg.arms),
        segments=tuple(names.get(s, s) for s in cfg.segments),
        coverage=cfg.coverage, start=cfg.start, end=cfg.end, metrics=tuple(cfg.metrics),  # type: ignore[arg-type]  # ISO text; the spec parses it
        conversion_window_days=cfg.conversion_window_days, cuped_days=cfg.cuped_days,
        revenue_cap_quantile=cfg.revenue_cap_quantile,
    )


def holdout_spec(cfg: ExperimentsConfig) -> HoldoutSpec:
    return HoldoutSpec(cfg.holdout.share, cfg.holdout.seed)


def assign(ctx: CycleContext) -> AssignResult | None:
    cfg = ctx.config.experiments
    if ctx.results.segment is None or ctx.results.features is None or not cfg.items:
        return None
    on_spark = None
    if ctx.results.segment.on_spark is not None:  # only customers new to an experiment are hashed, on Spark
        from connector.steps.spark_results import new_arms_on_spark

        new_arms, on_spark = new_arms_on_spark(ctx, segment_names(ctx))
        existing = new_arms.iloc[:0]
    else:
        existing = ctx.store.experiments.arms()
        new_arms = _new_arms(ctx, ctx.results.segment.segments, existing, ctx.results.features.as_of)
    if not ctx.dry_run:
        ctx.store.experiments.add_arms(new_arms, ctx.run_id)  # stored before any CRM shows them
        for exp in cfg.items:
            ctx.store.experiments.remember_definition(exp.key, definition_of(exp, cfg.holdout))
    ctx.count("new_arms", int((new_arms["arm"] != HOLDOUT_ARM).sum()))
    arms = pd.concat([existing, new_arms], ignore_index=True) if len(existing) else new_arms
    return AssignResult(new_arms, arms, on_spark)


def _new_arms(ctx: CycleContext, segments: pd.DataFrame, existing: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    cfg = ctx.config.experiments
    new = []
    for exp in cfg.items:
        warn_unknown_segments(exp, segments)
        spec = experiment_spec(exp, segments)
        rows = ctx.engine().assign_arms(segments[["customer_id", "segment_id"]], spec,
                                        existing[existing["experiment"] == exp.key], holdout_spec(cfg), as_of)
        new.append(rows)
        counts = rows["arm"].value_counts().to_dict()
        if counts:
            log.info("experiment %s: new assignments %s", exp.key, counts)
    return pd.concat(new, ignore_index=True)


def segment_names(ctx: CycleContext) -> pd.DataFrame:
    """segment_id, segment_name of this run's segments: from the per-segment profiles (a Spark
    cycle keeps the per-customer segments on Spark), else from the segments."""
    seg = ctx.results.segment
    assert seg is not None, "after the segment step"
    table = seg.segmentation.profiles if seg.on_spark is not None else seg.segments
    return table[["segment_id", "segment_name"]].drop_duplicates("segment_id")


def warn_unknown_segments(exp: ExperimentConfig, segments: pd.DataFrame) -> None:
    """An experiment that names a segment this run does not have assigns nobody there: say so."""
    known = set(segments["segment_id"].astype(str)) | set(segments["segment_name"].astype(str))
    unknown = [s for s in exp.segments if s not in known]
    if unknown:
        names = sorted(set(segments["segment_name"].astype(str)))
        log.warning("experiment %s: segment(s) %s do not exist in this run, nobody there is assigned; "
                    "segments are: %s", exp.key, ", ".join(unknown), ", ".join(names))


def measure(ctx: CycleContext) -> MeasureResult | None:
    cfg = ctx.config.experiments
    done = ctx.results
    if not cfg.items or done.features is None or done.assign is None:
        return None
    if done.assign.on_spark is not None and done.features.on_spark is not None:
        return _measure_on_spark(ctx, done.assign.on_spark, done.features.on_spark.transactions)
    arms = done.assign.arms
    if arms.empty:
        return None
    tx = done.features.transactions
    segments = segment_names(ctx) if done.segment is not None else None
    results = []
    for exp in cfg.items:
        spec = experiment_spec(exp, segments)
        exp_arms = arms[arms["experiment"] == exp.key]
        if exp_arms.empty:
            continue
        outcomes, pre = outcome_tables(exp_arms, tx, spec)
        if not ctx.dry_run:
            ctx.store.experiments.add_outcomes(outcomes)
        cuped = spec.cuped_days > 0
        sums = metric_sums(customer_metrics(exp_arms, outcomes, spec, pre if cuped else None), spec, cuped)
        results.append(_lift(ctx, spec, sums, exp_arms.groupby("segment_id").size()))
    return MeasureResult(pd.concat(results, ignore_index=True) if results else None)


def _measure_on_spark(ctx: CycleContext, arms: DataFrame, purchases: DataFrame) -> MeasureResult | None:
    """The measure step of a Spark cycle: the per-customer outcomes are built and summed on the
    executors (connector.engine.spark.outcomes), and only the sums per experiment x segment x arm
    reach the driver. Every current arm is in `arms` (AssignResult.on_spark: the stored ones plus
    this run's, dry run included). The outcome rows (the purchases in each customer's window) are
    not copied into the state store's outcomes table: they stay where the purchases are."""
    from connector.engine.spark.outcomes import experiment_sums

    segments = segment_names(ctx)
    specs = [experiment_spec(exp, segments) for exp in ctx.config.experiments.items]
    sums = experiment_sums(purchases, arms, specs)
    results = []
    for spec in specs:
        mine = sums[sums["experiment"] == spec.key].drop(columns="experiment")
        if mine.empty:
            continue
        units = mine[mine["metric"] == mine["metric"].iloc[0]]  # every unit once, holdout included
        sizes = units.dropna(subset=["segment_id"]).groupby("segment_id")["n"].sum()
        results.append(_lift(ctx, spec, mine, sizes))
    return MeasureResult(pd.concat(results, ignore_index=True)) if results else None


def _lift(ctx: CycleContext, spec: ExperimentSpec, sums: pd.DataFrame, sizes: pd.Series) -> pd.DataFrame:
    """The lift table of one experiment from its sums (experiments.analysis.SUM_COLUMNS), saved
    under the run; `sizes`: units per segment_id, holdout included: the sequential test's N* of
    each segment unless `experiments.sequential_tuning` gives one for every segment."""
    cfg = ctx.config.experiments
    tuning: float | dict | None = None
    if cfg.sequential:
        tuning = float(cfg.sequential_tuning) if cfg.sequential_tuning else (sizes.astype(float).to_dict() or None)
    res = analyse_sums(sums, spec, cuped=spec.cuped_days > 0, alpha=cfg.alpha, sequential_tuning=tuning,
                       correction=cfg.correction)
    if not ctx.dry_run:
        ctx.store.experiments.save_lift(ctx.run_id, spec.key, res)
    flagged = int(res["srm_flag"].fillna(False).sum()) if "srm_flag" in res else 0
    log.info("experiment %s: %d result row(s), %d significant, %d SRM flag(s)", spec.key, len(res),
             int(res["significant"].sum()), flagged)
    return res


def outcome_tables(arms: pd.DataFrame, tx: pd.DataFrame, spec: ExperimentSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(outcomes, pre_period) for one experiment from the clean canonical transactions.

    outcomes: experiment, customer_id, metric='revenue', value, observed_at, source, source_id
    (each purchase at or after the customer's assignment; the analysis applies the window).
    pre_period: customer_id, value = revenue in the cuped_days before assignment.
    """
    assigned = arms.loc[arms["arm"] != HOLDOUT_ARM, ["customer_id", "assigned_at"]].copy()
    assigned["assigned_at"] = pd.to_datetime(assigned["assigned_at"], utc=True, format="ISO8601")
    joined = tx.merge(assigned, on="customer_id", how="inner")
    after = joined[joined["occurred_at"] >= joined["assigned_at"]]
    outcomes = pd.DataFrame({
        "experiment": spec.key, "customer_id": after["customer_id"], "metric": "revenue",
        "value": after["amount"].astype(float), "observed_at": after["occurred_at"],
        "source": after["source"], "source_id": after["transaction_id"],
    })
    window = pd.Timedelta(days=spec.cuped_days)
    before = joined[(joined["occurred_at"] < joined["assigned_at"]) & (joined["occurred_at"] >= joined["assigned_at"] - window)]
    pre = before.groupby("customer_id")["amount"].sum().reindex(assigned["customer_id"], fill_value=0.0)
    return outcomes.reset_index(drop=True), pre.rename("value").reset_index()
