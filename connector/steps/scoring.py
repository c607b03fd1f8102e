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
    from typing import TypeAlias

    from pyspark.sql import DataFrame

    from connector.pipeline import CycleContext
    from connector.steps.model import FeaturesResult
    from segmentation.clv import ClvModel

    #: A target's scores: a pandas frame, or a Spark DataFrame on a Spark cycle.
    Scores: TypeAlias = pd.DataFrame | DataFrame

log = logging.getLogger("segsync.score")


def score_all(ctx: CycleContext, feats: FeaturesResult) -> tuple[pd.DataFrame, ClvModel | None, pd.DataFrame | None]:
    """customer_id-indexed frame: one column per target, <target>_reasons, clv, p_alive; the
    fitted CLV model (None when CLV is off or could not be fitted), which the snapshot carries
    so `segsync serve` values a new customer with the same parameters; and the daily summary it
    valued when the engine returned one (the pandas engine does), for the snapshot too."""
    cfg = ctx.config.scoring
    out = pd.DataFrame(index=feats.features.index)
    for target in cfg.targets:
        scores = score_target(ctx, feats, ScoreParams.from_config(target, cfg))
        if isinstance(scores, pd.DataFrame):
            out = out.join(scores.set_index("customer_id"), how="left")
            ctx.count("scores", 1)
    model = summary = None
    if cfg.clv.enabled:
        try:
            model, clv = ctx.engine().clv(feats.transactions, feats.as_of, cfg.clv.horizon_days,
                                          cfg.clv.annual_discount_rate)
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


def score_target(ctx: CycleContext, feats: FeaturesResult, params: ScoreParams) -> Scores | None:
    """One target's scores (customer_id, <name>, <name>_reasons) by its champion or a new model:
    a pandas frame, or on a Spark cycle (FeaturesResult.on_spark) a Spark DataFrame."""
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
                scores = _scored(ctx, feats, model, params.kind)
                log.info("score %s: champion %s (version %d, %d day(s) old)", params.name, model.version,
                         champion[0], age)
                return scores
            except (KeyError, ValueError) as exc:
                trigger = f"the champion cannot score these features ({exc})"
                log.info("score %s: %s; retraining", params.name, trigger)
    try:
        result, scores = _train(feats, params, as_of)
    except ValueError as exc:
        # too little history for an out-of-time validation is a data condition, not a crash
        log.warning("score %s not trained: %s", params.name, exc)
        return None
    log.info("score %s: trained, chose %s", params.name, result.metrics.get("chosen"))
    if ctx.dry_run:
        return scores
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
        return scores
    if feats.on_spark is not None:
        return _scored(ctx, feats, champion[1], params.kind)
    assert isinstance(scores, pd.DataFrame)
    return champion[1].score(feats.features.loc[scores["customer_id"].to_numpy()])


def _scored(ctx: CycleContext, feats: FeaturesResult, model: Any, kind: str) -> Scores:
    """`model`'s scores of the cycle's customers; on Spark those of the eligible rows of `kind`
    (churn: buyers), as the Spark training scores them. A model that cannot read these features
    raises KeyError or ValueError here, on the driver's sample, not later on an executor."""
    if feats.on_spark is None:
        return ctx.engine().score(model, feats.features)
    from connector.engine.spark import scoring as on_spark

    assert feats.on_spark.features is not None, "the features step computed them"
    model.score(feats.features.head(20))
    return on_spark.score(model, feats.on_spark.features, kind)


def _train(feats: FeaturesResult, params: ScoreParams, as_of: pd.Timestamp) -> tuple[ScoreResult, Scores]:
    """(the trained model's ScoreResult, its scores): train_and_score on the driver, or on Spark when
    the transactions are there (FeaturesResult.on_spark; the scores then a Spark DataFrame)."""
    if feats.on_spark is None:
        result = train_and_score(feats.customers, feats.transactions, params, as_of, usage=_usage(feats))
        return result, result.scores
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
