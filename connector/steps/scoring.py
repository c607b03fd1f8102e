"""Scores for the `score` step: each configured target, then CLV and P(alive).

A model younger than `scoring.retrain_every_days` (in data days) scores without
retraining, so a daily daemon does not refit every classifier every day.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from typing import TYPE_CHECKING, Any

import pandas as pd

from segmentation.scoring import ScoreParams, train_and_score

if TYPE_CHECKING:
    from connector.pipeline import CycleContext
    from connector.steps.model import FeaturesResult

log = logging.getLogger("segsync.score")


def score_all(ctx: CycleContext, feats: FeaturesResult) -> pd.DataFrame:
    """customer_id-indexed frame: one column per target, <target>_reasons, clv, p_alive."""
    cfg = ctx.config.scoring
    out = pd.DataFrame(index=feats.features.index)
    for target in cfg.targets:
        scores = _score_target(ctx, feats, ScoreParams.from_config(target, cfg))
        if scores is not None:
            out = out.join(scores.set_index("customer_id"), how="left")
            ctx.count("scores", 1)
    if cfg.clv.enabled:
        from segmentation.clv import clv_scores

        try:
            clv = clv_scores(feats.transactions, feats.as_of, cfg.clv.horizon_days, cfg.clv.annual_discount_rate)
            out = out.join(clv.set_index("customer_id")[["clv", "p_alive"]], how="left")
        except (ValueError, RuntimeError, ArithmeticError) as exc:
            log.warning("CLV not fitted: %s", exc)
    return out


def definition_hash(params: ScoreParams) -> str:
    """Everything that defines a score model (kind, horizon, candidates, cutoffs, seed, ...)."""
    return hashlib.sha256(json.dumps(dataclasses.asdict(params), sort_keys=True, default=str).encode()).hexdigest()


def _reusable(ctx: CycleContext, feats: FeaturesResult, params: ScoreParams) -> tuple[Any, int] | None:
    """(stored model, age in days) when the stored model may score this run, else None (and why, logged).

    Its definition must be unchanged, and it must be younger than retrain_every_days both in
    data days and on the wall clock: a file that never changes would otherwise keep it forever."""
    latest = ctx.store.models.latest("score", params.name)
    every = ctx.config.scoring.retrain_every_days
    if latest is None or every <= 0:
        return None
    _, model, meta = latest
    if meta.get("definition") != definition_hash(params):
        log.info("score %s: its definition changed since model %s; retraining", params.name, model.version)
        return None
    trained = pd.Timestamp(meta.get("trained_at") or model.as_of)
    age = max((feats.as_of - model.as_of).days, (pd.Timestamp.now(tz="UTC") - trained).days)
    return (model, age) if 0 <= age < every else None


def _score_target(ctx: CycleContext, feats: FeaturesResult, params: ScoreParams) -> pd.DataFrame | None:
    as_of = feats.as_of
    reusable = _reusable(ctx, feats, params)
    if reusable is not None:
        model, age = reusable
        try:
            scores = model.score(feats.features)
            log.info("score %s: reused model %s (%d day(s) old)", params.name, model.version, age)
            return scores
        except (KeyError, ValueError) as exc:
            log.info("score %s: stored model cannot score these features (%s); retraining", params.name, exc)
    try:
        result = train_and_score(feats.customers, feats.transactions, params, as_of)
    except ValueError as exc:
        # too little history for an out-of-time validation is a data condition, not a crash
        log.warning("score %s not trained: %s", params.name, exc)
        return None
    if not ctx.dry_run:
        meta = {"metrics": result.metrics, "calibration": _calibration(result.calibration, result.metrics),
                "definition": definition_hash(params), "trained_at": pd.Timestamp.now(tz="UTC").isoformat()}
        ctx.store.models.save("score", params.name, result.model, run_id=ctx.run_id, meta=meta)
    log.info("score %s: trained, chose %s", params.name, result.metrics.get("chosen"))
    return result.scores


def _calibration(cal: pd.DataFrame, metrics: dict[str, Any]) -> list[list[float]]:
    if cal is None or cal.empty or "mean_predicted" not in cal:
        return []
    chosen = metrics.get("chosen")
    rows = cal[cal["model"] == chosen] if "model" in cal and chosen in set(cal["model"]) else cal
    return [[float(a), float(b)] for a, b in zip(rows["mean_predicted"], rows["observed_rate"], strict=True)]
