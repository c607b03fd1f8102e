"""Scores for the `score` step: each configured target, then CLV and P(alive).

The champion (connector.lifecycle) scores while it is younger than
`scoring.retrain_every_days` (in data days), so a daily daemon does not refit every classifier
every day. A retrained model is judged against the champion out of time on the same window;
it scores only if it became champion, otherwise the champion keeps scoring and the new version
waits as challenger.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

import pandas as pd

from connector.serve.snapshot import CLV_SUMMARY
from connector.state.models import definition_hash
from segmentation.scoring import ScoreParams, ScoreResult, train_and_score

if TYPE_CHECKING:
    from connector.pipeline import CycleContext
    from connector.steps.model import FeaturesResult
    from segmentation.clv import ClvModel

log = logging.getLogger("segsync.score")


def score_all(ctx: CycleContext, feats: FeaturesResult) -> tuple[pd.DataFrame, ClvModel | None, pd.DataFrame | None]:
    """customer_id-indexed frame: one column per target, <target>_reasons, clv, p_alive; the
    fitted CLV model (None when CLV is off or could not be fitted), which the snapshot carries
    so `segsync serve` values a new customer with the same parameters; and the daily summary it
    valued when the engine returned one (the pandas engine does), for the snapshot too."""
    cfg = ctx.config.scoring
    out = pd.DataFrame(index=feats.features.index)
    for target in cfg.targets:
        scores = _score_target(ctx, feats, ScoreParams.from_config(target, cfg))
        if scores is not None:
            out = out.join(scores.set_index("customer_id"), how="left")
            ctx.count("scores", 1)
    model = summary = None
    if cfg.clv.enabled:
        try:
            purchases = feats.on_spark.transactions if feats.on_spark is not None else feats.transactions
            model, clv = ctx.engine().clv(purchases, feats.as_of, cfg.clv.horizon_days, cfg.clv.annual_discount_rate)
            clv = clv.set_index("customer_id")
            out = out.join(clv[["clv", "p_alive"]], how="left")
            summary = clv[list(CLV_SUMMARY)] if set(CLV_SUMMARY) <= set(clv.columns) else None
        except (ValueError, RuntimeError, ArithmeticError) as exc:
            log.warning("CLV not fitted: %s", exc)
            model = summary = None
    return out, model, summary


def _defending(stored: tuple[int, Any, dict[str, Any]] | None, params: ScoreParams) -> tuple[int, Any, dict[str, Any]] | None:
    """The stored champion if it models this same target definition; a champion of another
    definition (kind, horizon, candidates... changed under the same name) neither scores nor defends."""
    if stored is not None and stored[2].get("definition") != definition_hash(dataclasses.asdict(params)):
        log.info("score %s: its definition changed since model %s; retraining", params.name, stored[1].version)
        return None
    return stored


def _age_days(champion: tuple[int, Any, dict[str, Any]], as_of: pd.Timestamp) -> int:
    """Age in data days or on the wall clock, whichever is more: a file that never changes
    would otherwise keep a model forever."""
    model, meta = champion[1], champion[2]
    trained = pd.Timestamp(meta.get("trained_at") or model.as_of)
    return max((as_of - model.as_of).days, (pd.Timestamp.now(tz="UTC") - trained).days)


def _score_target(ctx: CycleContext, feats: FeaturesResult, params: ScoreParams) -> pd.DataFrame | None:
    as_of = feats.as_of
    stored = ctx.store.models.champion("score", params.name)
    champion = _defending(stored, params)
    every = ctx.config.scoring.retrain_every_days
    trigger = "first model" if stored is None else "definition changed"
    if champion is not None:
        model = champion[1]
        age = _age_days(champion, as_of)
        trigger = f"champion is {age} day(s) old (retrain_every_days {every})"
        if every > 0 and 0 <= age < every:
            try:
                scores = ctx.engine().score(model, feats.features)
                log.info("score %s: champion %s (version %d, %d day(s) old)", params.name, model.version,
                         champion[0], age)
                return scores
            except (KeyError, ValueError) as exc:
                trigger = f"the champion cannot score these features ({exc})"
                log.info("score %s: %s; retraining", params.name, trigger)
    try:
        result = _train(feats, params, as_of)
    except ValueError as exc:
        # too little history for an out-of-time validation is a data condition, not a crash
        log.warning("score %s not trained: %s", params.name, exc)
        return None
    log.info("score %s: trained, chose %s", params.name, result.metrics.get("chosen"))
    if ctx.dry_run:
        return result.scores
    judged = _judge(ctx, feats, params, result.model, champion[1] if champion else None)
    calibration = _calibration(result.calibration, result.metrics)
    registered = ctx.registry().register(
        "score", params.name, result.model, run_id=ctx.run_id, trigger=trigger, judged=judged,
        meta={"metrics": result.metrics, "calibration": calibration, "out_of_time": judged,
              "definition": definition_hash(dataclasses.asdict(params)), "trained_at": pd.Timestamp.now(tz="UTC").isoformat(),
              "drivers": [[str(k), float(v)] for k, v in result.drivers.items()]},  # pairs: JSON keeps the order
        params={"kind": params.kind, "horizon_days": params.horizon_days, "candidates": ",".join(params.models),
                "chosen": result.model.chosen, "cutoffs": params.cutoffs},
        artifacts={"calibration": calibration}, example=feats.features.head(50),
        metrics={**result.metrics.get("models", {}).get(result.model.chosen, {}),
                 "n_train": result.metrics.get("n_train"), "n_validation": result.metrics.get("n_validation"),
                 **({"challenger_" + ctx.config.tracking.promote_on: judged[0],
                     "champion_" + ctx.config.tracking.promote_on: judged[1]} if judged else {})})
    if registered.champion or champion is None:
        return result.scores
    return champion[1].score(feats.features.loc[result.scores["customer_id"].to_numpy()])


def _train(feats: FeaturesResult, params: ScoreParams, as_of: pd.Timestamp) -> ScoreResult:
    """train_and_score on the driver, or on Spark when the transactions are there (FeaturesResult.on_spark)."""
    if feats.on_spark is None:
        return train_and_score(feats.customers, feats.transactions, params, as_of, usage=_usage(feats))
    from connector.engine.spark import scoring as on_spark

    tables = feats.on_spark
    assert tables.features is not None, "the features step computed them"
    return on_spark.train_and_score(tables.customers, tables.transactions, params, as_of, tables.features,
                                    feats.features)


def _judge(ctx: CycleContext, feats: FeaturesResult, params: ScoreParams, challenger: Any,
           champion: Any | None) -> tuple[float | None, float | None] | None:
    """(challenger, champion) on `tracking.promote_on` over the same out-of-time window; None
    without a champion (the first version is champion)."""
    if champion is None:
        return None
    from segmentation.champion import out_of_time_metrics

    metric = ctx.config.tracking.promote_on
    models = {"challenger": challenger, "champion": champion}
    try:
        if feats.on_spark is not None:
            from connector.engine.spark import scoring as on_spark

            found = on_spark.out_of_time_metrics(models, feats.on_spark.customers, feats.on_spark.transactions,
                                                 params, feats.as_of)
        else:
            found = out_of_time_metrics(models, feats.customers, feats.transactions, params, feats.as_of,
                                        _usage(feats))
    except (KeyError, ValueError) as exc:  # the champion cannot score today's features: it cannot defend
        log.info("score %s: the champion cannot be judged (%s)", params.name, exc)
        return (None, None)
    return found["challenger"].get(metric), found["champion"].get(metric)


def _usage(feats: FeaturesResult) -> tuple[Any, Any] | None:
    """The event log and spec the score models add usage features from, at every cutoff."""
    return (feats.usage.log, feats.usage.spec) if feats.usage is not None else None


def _calibration(cal: pd.DataFrame, metrics: dict[str, Any]) -> list[list[float]]:
    if cal is None or cal.empty or "mean_predicted" not in cal:
        return []
    chosen = metrics.get("chosen")
    rows = cal[cal["model"] == chosen] if "model" in cal and chosen in set(cal["model"]) else cal
    return [[float(a), float(b)] for a, b in zip(rows["mean_predicted"], rows["observed_rate"], strict=True)]
