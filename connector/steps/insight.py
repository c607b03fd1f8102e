"""What the report shows of a run: profiles, RFM grid, migration, model metrics, priorities.

Saved as a versioned artifact in the state store at the end of the `score` step, so
`segsync report` reads state only and never recomputes a model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from segmentation.priority import priority_matrix
from segmentation.rfm import rfm_scores

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from connector.pipeline import CycleContext
    from connector.steps.model import FeaturesResult

ARTIFACT = ("artifact", "insights")


def save_insights(ctx: CycleContext, feats: FeaturesResult,
                  scores: pd.DataFrame | DataFrame | None) -> dict[str, Any] | None:
    """The run's insights (saved unless a dry run); `scores` customer-indexed, or on a Spark
    cycle a Spark DataFrame, whose figures are then aggregated on Spark."""
    if ctx.results.segment is None:
        return None
    result = ctx.results.segment.segmentation
    profiles = result.profiles.copy()
    if ctx.results.segment.on_spark is not None and feats.on_spark is not None and feats.on_spark.features is not None:
        from connector.steps.spark_results import insight_tables

        spark_scores = scores if scores is not None and not isinstance(scores, pd.DataFrame) else None
        mean_clv, grid, named = insight_tables(ctx.results.segment.on_spark, spark_scores, feats.on_spark.features)
    else:
        assert scores is None or isinstance(scores, pd.DataFrame)
        mean_clv, grid, named = _tables(result.segments, scores, feats.features)
    if mean_clv is not None:
        profiles["mean_clv"] = profiles["segment_id"].map(mean_clv)
    insights = {
        "as_of": str(feats.as_of.date()),
        "run_id": ctx.run_id,
        "method": ctx.config.segmentation.method,
        "retrained": result.retrained,
        "reason": result.reason,
        "metrics": result.metrics,
        "profiles": profiles,
        "priority": priority_matrix(profiles, ctx.config.segmentation.channel_costs),
        "rfm_grid": grid,
        "rfm_segments": named,
        "migration": result.drift.get("migration"),
        "ari": result.drift.get("ari"),
        "psi": result.drift.get("psi"),
        "score_metrics": {name: meta.get("metrics") for name, meta in _score_metas(ctx).items()},
        "calibration": {name: meta.get("calibration") for name, meta in _score_metas(ctx).items()},
        # mean |contribution| per feature over the customers scored when the model was trained
        "drivers": {name: dict(sorted(meta.get("drivers") or [], key=lambda kv: -kv[1])) for name, meta in _score_metas(ctx).items()},
    }
    if not ctx.dry_run:
        version = ctx.store.models.save(*ARTIFACT, insights, run_id=ctx.run_id)
        ctx.store.models.prune(*ARTIFACT, version, keep=5)
    return insights


def _tables(segments: pd.DataFrame, scores: pd.DataFrame | None,
            features: pd.DataFrame) -> tuple[pd.Series | None, pd.DataFrame, pd.Series]:
    """(mean CLV per segment_id, or None; customers per r_score x f_score; customers per rfm_segment)."""
    mean_clv = None
    if scores is not None and "clv" in scores:
        seg = segments.set_index("customer_id")["segment_id"]
        mean_clv = scores["clv"].groupby(seg.reindex(scores.index)).mean()
    rfm = rfm_scores(features)
    return mean_clv, pd.crosstab(rfm["r_score"], rfm["f_score"]), rfm["rfm_segment"].value_counts()


def _score_metas(ctx: CycleContext) -> dict[str, dict[str, Any]]:
    out = {}
    for target in ctx.config.scoring.targets:
        metas = ctx.store.models.metas("score", target.name)
        if metas:
            out[target.name] = metas[-1][2]
    return out
