"""Step `offers`: three products per customer, after `score` and before `assign`.

It runs when the data has line items (any source that provides them: a files source with a
product column, a CRM that pulls them), read the same way from every source
(FeaturesResult.line_items). Every line item
is either used or quarantined with its reason (cancellations, no customer, fee codes, zero
prices) as rejected rows of this step under its source, re-checked each run. The out-of-time table of methods,
the chosen method and each segment's top offers are saved as the `offers` artifact, so
`segsync report` shows them without recomputing anything.

The offer model (that table, the chosen method, the fitted ranker) is stored as ("offers",
"model") and reused until `offers.retrain` says refit (segmentation.offer_model) or the settings
that shape it change (their hash is in the version's meta, like a score model's definition), so
most runs only score. Each customer's current offers (state table offers_current) are kept
unless the new ones are materially better (`offers.min_score_gain`, segmentation.offer_stability).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from connector.state.models import definition_hash
from segmentation.line_items import NON_PRODUCT_CODES, clean_line_items
from segmentation.offer_model import OfferModel, OfferRetrain
from segmentation.offer_selection import OfferRules
from segmentation.offers import OfferParams, OfferResult, recommend_offers, top_offers_by_segment

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from connector.config import OffersConfig
    from connector.pipeline import CycleContext

log = logging.getLogger("segsync.offers")
ARTIFACT = ("artifact", "offers")
MODEL = ("offers", "model")
KEEP_VERSIONS = 5
#: The settings that shape the offer model: a change of any of them refits it. The rules, the
#: labels written, the threads and the stability margin act after it, every run.
DEFINITION = ("method", "mode", "horizon_days", "evaluate", "max_eval_customers", "non_product_codes", "random_state")


@dataclass(frozen=True)
class OffersResult:
    """offers: customer_id, offer_1..3, offer_reasons, method (+ ids and scores), see
    segmentation.offers; defaults: segment_id -> the segment's own offers; summary: what the
    report shows (method, reason, evaluation rows, top offers per segment)."""

    offers: pd.DataFrame
    defaults: Mapping[str, tuple[str, ...]]
    summary: dict[str, Any]
    #: With the Spark engine: every customer's offers as a Spark DataFrame (the columns of
    #: `offers`, then empty), which the desired state joins there (connector.steps.spark_offers).
    on_spark: DataFrame | None = None


def offer_params(cfg: OffersConfig) -> OfferParams:
    return OfferParams(
        method=cfg.method, mode=cfg.mode, label=cfg.write, horizon_days=cfg.horizon_days, evaluate=cfg.evaluate,
        max_eval_customers=cfg.max_eval_customers, random_state=cfg.random_state, n_jobs=cfg.n_jobs,
        retrain=OfferRetrain(cfg.retrain.every_days, cfg.retrain.product_shift_threshold), min_score_gain=cfg.min_score_gain,
    )


def offer_definition(cfg: OffersConfig) -> dict[str, Any]:
    """The settings that define the offer model (DEFINITION); a stored model whose
    definition_hash differs from theirs is refitted."""
    return cfg.model_dump(include=set(DEFINITION))


def offer_rules(cfg: OffersConfig) -> OfferRules:
    r = cfg.rules
    return OfferRules(
        exclude_products=tuple(r.exclude_products), exclude_categories=tuple(r.exclude_categories),
        eligible={k: tuple(v) for k, v in r.eligible.items()}, non_repeatable=tuple(r.non_repeatable),
        max_per_category=r.max_per_category,
    )


def offers(ctx: CycleContext) -> OffersResult | None:
    cfg = ctx.config.offers
    features = ctx.results.features
    if not cfg.enabled or features is None or features.line_items is None or ctx.results.segment is None:
        return None
    raw = features.line_items
    clean, rejected = clean_line_items(raw, cfg.non_product_codes if cfg.non_product_codes is not None else NON_PRODUCT_CODES)
    _record_rejections(ctx, rejected, raw)
    ctx.count("line_items", len(clean))
    if clean.empty:
        log.info("no usable line items: no offers")
        return None
    version, previous = _previous_model(ctx, cfg)
    if ctx.config.engine.kind == "spark":  # the table stays on the executors, its changes come back
        from connector.steps.spark_offers import offers_on_spark

        return offers_on_spark(ctx, clean, version, previous)
    segments = ctx.results.segment.segments
    current = ctx.store.offers.current() if cfg.min_score_gain > 0 else None
    result = recommend_offers(clean, segments, features.as_of, offer_params(cfg), offer_rules(cfg), previous=previous,
                              current=current)
    table = result.offers[result.offers["customer_id"].isin(segments["customer_id"])].reset_index(drop=True)
    if not ctx.dry_run:
        ctx.count("offers_changed", ctx.store.offers.save(table, ctx.run_id))
    summary = record_outcome(ctx, result, version, top_offers_by_segment(table, segments), _stability_counts(result),
                             (len(table), int(table["offer_1"].notna().sum())))
    return OffersResult(table, result.defaults, summary)


def record_outcome(ctx: CycleContext, result: OfferResult, version: int | None, top: pd.DataFrame,
                   stability: dict[str, int] | None, sizes: tuple[int, int]) -> dict[str, Any]:
    """Save a refitted offer model and the report's artifact, count what happened; the summary.
    top: top_offers_by_segment of the table; sizes: (customers in the table, customers offered)."""
    cfg, as_of = ctx.config.offers, ctx.results.features.as_of if ctx.results.features is not None else None
    assert as_of is not None, "the offers step runs on features"
    if result.retrained is not None and not ctx.dry_run and result.model is not None:
        version = _save_model(ctx, cfg, result.model, result.retrained)
    summary = {
        "as_of": str(as_of.date()), "run_id": ctx.run_id, "mode": cfg.mode,
        "method": result.method, "reason": result.reason, "evaluation": result.evaluation,
        "top_by_segment": top, "defaults": dict(result.defaults),
        "model_version": version, "retrained": result.retrained,
        "model_as_of": str(result.model.as_of.date()) if result.model is not None else None,
    }
    if not ctx.dry_run:
        saved = ctx.store.models.save(*ARTIFACT, summary, run_id=ctx.run_id)
        ctx.store.models.prune(*ARTIFACT, saved, KEEP_VERSIONS)
    for name, count in (stability or {}).items():
        ctx.count(f"offers_{name}", count)
    ctx.count("offers", sizes[1])
    log.info("offers for %d customers by %s (%s); offer model %s", sizes[0], result.method, result.reason,
             f"refitted: {result.retrained}" if result.retrained else f"version {version} reused")
    return summary


def _previous_model(ctx: CycleContext, cfg: OffersConfig) -> tuple[int | None, OfferModel | None]:
    """The stored offer model if it was fitted on these settings and is not older on the wall clock
    than `retrain.every_days` (a file that never changes would otherwise keep it forever)."""
    stored = ctx.store.models.latest(*MODEL)
    if stored is None or not isinstance(stored[1], OfferModel):
        return None, None
    version, model, meta = stored
    if meta.get("definition") != definition_hash(offer_definition(cfg)):
        log.info("offers: the settings that shape the offer model changed since version %d; refitting", version)
        return None, None
    trained = pd.Timestamp(meta.get("trained_at") or pd.Timestamp.now(tz="UTC"))
    if cfg.retrain.every_days and (pd.Timestamp.now(tz="UTC") - trained).days >= cfg.retrain.every_days:
        log.info("offers: offer model version %d was fitted %s; refitting", version, trained.date())
        return None, None
    return version, model


def _save_model(ctx: CycleContext, cfg: OffersConfig, model: OfferModel, reason: str) -> int:
    meta = {"definition": definition_hash(offer_definition(cfg)), "trained_at": pd.Timestamp.now(tz="UTC").isoformat(),
            "reason": reason, "as_of": str(model.as_of), "method": model.method, "chosen_because": model.reason}
    version = ctx.store.models.save(*MODEL, model, meta=meta, run_id=ctx.run_id)
    ctx.store.models.prune(*MODEL, version, KEEP_VERSIONS)
    return version


def _stability_counts(result: OfferResult) -> dict[str, int] | None:
    """Who kept their offers and why the others changed (None without the stability rule)."""
    s = result.stability
    if s is None:
        return None
    return {"kept": int(s.kept.sum()), "replaced_ineligible": int(s.ineligible.sum()), "replaced_better": int(s.gained.sum())}


def _record_rejections(ctx: CycleContext, rejected: pd.DataFrame, raw: pd.DataFrame) -> None:
    """Each run re-checks every line item: close the old open rejections, store the current ones
    under the source each line came from."""
    ctx.store.rejected.resolve_step("offers")
    if rejected.empty:
        return
    of = raw["source"].astype(str).groupby(raw["transaction_id"].astype(str)).first()
    rejected = rejected.assign(source=of.reindex(rejected["transaction_id"].astype(str)).to_numpy())
    for source, group in rejected.groupby("source", dropna=False):
        ctx.store.rejected.add(ctx.run_id, "offers", str(source), [
            {"record_key": f"{r.transaction_id}/{r.product_id}", "reason": r.reason, "payload": {"customer_id": r.customer_id}}
            for r in group.itertuples(index=False)
        ])
    ctx.count("rejected_line_items", len(rejected))
    log.warning("%d line item(s) quarantined with a reason (see `segsync status`)", len(rejected))
