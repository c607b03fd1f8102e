"""Step `offers`: three products per customer, after `score` and before `assign`.

It runs when the data has line items (any source that provides them: a files source with a
product column, a CRM that pulls them), read the same way from every source
(FeaturesResult.line_items). Every line item
is either used or quarantined with its reason (cancellations, no customer, fee codes, zero
prices) as rejected rows of this step under its source, re-checked each run. The out-of-time table of methods,
the chosen method and each segment's top offers are saved as the `offers` artifact, so
`segsync report` shows them without recomputing anything.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from segmentation.line_items import NON_PRODUCT_CODES, clean_line_items
from segmentation.offer_selection import OfferRules
from segmentation.offers import OfferParams, recommend_offers, top_offers_by_segment

if TYPE_CHECKING:
    from connector.config import OffersConfig
    from connector.pipeline import CycleContext

log = logging.getLogger("segsync.offers")
ARTIFACT = ("artifact", "offers")
KEEP_VERSIONS = 5


@dataclass(frozen=True)
class OffersResult:
    """offers: customer_id, offer_1..3, offer_reasons, method (+ ids and scores), see
    segmentation.offers; defaults: segment_id -> the segment's own offers; summary: what the
    report shows (method, reason, evaluation rows, top offers per segment)."""

    offers: pd.DataFrame
    defaults: Mapping[str, tuple[str, ...]]
    summary: dict[str, Any]


def offer_params(cfg: OffersConfig) -> OfferParams:
    return OfferParams(
        method=cfg.method, mode=cfg.mode, label=cfg.write, horizon_days=cfg.horizon_days, evaluate=cfg.evaluate,
        max_eval_customers=cfg.max_eval_customers, random_state=cfg.random_state, n_jobs=cfg.n_jobs,
    )


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
    segments = ctx.results.segment.segments
    result = recommend_offers(clean, segments, features.as_of, offer_params(cfg), offer_rules(cfg))
    table = result.offers[result.offers["customer_id"].isin(segments["customer_id"])].reset_index(drop=True)
    summary = {
        "as_of": str(features.as_of.date()), "run_id": ctx.run_id, "mode": cfg.mode,
        "method": result.method, "reason": result.reason, "evaluation": result.evaluation,
        "top_by_segment": top_offers_by_segment(table, segments), "defaults": dict(result.defaults),
    }
    if not ctx.dry_run:
        version = ctx.store.models.save(*ARTIFACT, summary, run_id=ctx.run_id)
        with ctx.store.transaction() as c:
            c.execute("DELETE FROM models WHERE kind = ? AND name = ? AND version <= ?", (*ARTIFACT, version - KEEP_VERSIONS))
    ctx.count("offers", int(table["offer_1"].notna().sum()))
    log.info("offers for %d customers by %s (%s)", len(table), result.method, result.reason)
    return OffersResult(table, result.defaults, summary)


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
