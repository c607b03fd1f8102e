"""Scores for the `score` step: each configured target, then CLV and P(alive)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from connector.pipeline import CycleContext

log = logging.getLogger("segsync.score")


def score_all(ctx: CycleContext) -> pd.DataFrame:
    """customer_id-indexed frame: one column per target, <target>_reasons, clv, p_alive."""
    from segmentation.scoring import ScoreParams, train_and_score

    cfg = ctx.config.scoring
    feats = ctx.outputs["features"]
    customers, tx, as_of = ctx.outputs["customers"], ctx.outputs["transactions"], ctx.outputs["as_of"]
    out = pd.DataFrame(index=feats.index)
    for target in cfg.targets:
        params = ScoreParams(
            name=target.name, kind=target.kind, horizon_days=target.horizon_days, field=target.field,
            value=target.value, cutoffs=cfg.cutoffs, reason_codes=cfg.reason_codes, models=tuple(cfg.models),
            smote=cfg.smote, random_state=cfg.random_state,
        )
        try:
            result = train_and_score(customers, tx, params, as_of)
        except ValueError as exc:
            # too little history for an out-of-time validation is a data condition, not a crash
            log.warning("score %s not trained: %s", target.name, exc)
            continue
        scores = result.scores.set_index("customer_id")
        out = out.join(scores, how="left")
        if not ctx.dry_run:
            ctx.store.models.save("score", target.name, result.model, run_id=ctx.run_id, meta={"metrics": result.metrics})
        ctx.count("scores", 1)
        log.info("score %s: %s", target.name, _fmt(result.metrics))
    if cfg.clv.enabled:
        from segmentation.clv import clv_scores

        try:
            clv = clv_scores(tx, as_of, cfg.clv.horizon_days, cfg.clv.annual_discount_rate).set_index("customer_id")
            out = out.join(clv[["clv", "p_alive"]], how="left")
        except (ValueError, RuntimeError) as exc:
            log.warning("CLV not fitted: %s", exc)
    return out


def _fmt(metrics: dict) -> str:
    chosen = metrics.get("chosen", metrics)
    if isinstance(chosen, dict):
        keys = ("model", "roc_auc", "pr_auc", "brier")
        return ", ".join(f"{k} {chosen[k]:.3f}" if isinstance(chosen.get(k), float) else f"{k} {chosen.get(k)}" for k in keys if k in chosen)
    return str(chosen)
