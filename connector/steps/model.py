"""Steps `features`, `segment` and `score`: the pure core, fed from the mirror.

The data's own clock sets `as_of` (the day after the latest purchase seen), so a historic
file and a live CRM are treated alike, and so is the sandbox's simulated time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from connector.crm.registry import id_columns
from connector.identity import canonical_tables
from connector.steps.pull import PullResult
from connector.usage import Usage, build_usage, crm_events, frames_from
from segmentation.engine import SegmentationParams, SegmentationResult
from segmentation.event_features import join_event_features
from segmentation.features import Plausible

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from connector.config import QuarantineConfig
    from connector.engine.spark.sources import SparkTables
    from connector.pipeline import CycleContext
    from segmentation.clv import ClvModel

log = logging.getLogger("segsync.model")
SEGMENTATION = ("segmentation", "default")
KEEP_MODEL_VERSIONS = 5


@dataclass(frozen=True)
class FeaturesResult:
    """customers and transactions: the canonical tables (transactions cleaned); features: one
    row per customer_id (segmentation.features.build_features); as_of: the data's day;
    events_through: the newest live event (segsync serve) these tables include; line_items: the
    canonical line items of every source (raw, for the offers step), or None when none has any;
    usage: the cycle's coded usage events (features.events), whose features ``features`` holds;
    on_spark: see below."""

    customers: pd.DataFrame
    transactions: pd.DataFrame
    features: pd.DataFrame
    as_of: pd.Timestamp
    events_through: int = 0
    line_items: pd.DataFrame | None = None
    usage: Usage | None = None
    #: With the Spark engine reading the sources itself (connector.steps.spark_cycle): the
    #: customers, clean transactions and features as Spark DataFrames. Nothing per purchase or
    #: per customer comes to the driver then: `customers` and `transactions` are empty, and
    #: `features` is the seeded driver sample (connector.engine.spark.segmentation.driver_sample)
    #: the segmentation and the score drivers use. None otherwise.
    on_spark: SparkTables | None = None


@dataclass(frozen=True)
class SegmentResult:
    """segmentation: the model, profiles, drift; on_spark: on a Spark cycle every customer's
    segment as a Spark DataFrame (customer_id, segment_id, segment_name, model_version), the
    pandas `segments` then empty (connector.steps.spark_results)."""

    segmentation: SegmentationResult
    on_spark: DataFrame | None = None

    @property
    def segments(self) -> pd.DataFrame:
        """customer_id, segment_id, segment_name, model_version."""
        return self.segmentation.segments


@dataclass(frozen=True)
class ScoreResult:
    """scores: customer_id-indexed, one column per target, <target>_reasons, clv, p_alive;
    insights: what the report shows of this run (connector.steps.insight), or None; clv: the
    fitted CLV model (segmentation.clv.ClvModel), or None; clv_summary: the daily summary it
    valued (customer_id-indexed frequency, recency, T, monetary_value) when the engine returned
    it, or None."""

    scores: pd.DataFrame
    insights: dict[str, Any] | None
    clv: ClvModel | None = None
    clv_summary: pd.DataFrame | None = None
    #: On a Spark cycle: every customer's scores as a Spark DataFrame (customer_id a column),
    #: `scores` then empty (connector.steps.spark_results). None otherwise.
    on_spark: DataFrame | None = None


def plausible(cfg: QuarantineConfig, now: pd.Timestamp) -> Plausible:
    """The quarantine's bounds as of `now`: no purchase from the future, none absurdly early or large."""
    return Plausible(
        max_amount=cfg.max_amount,
        latest=now + pd.Timedelta(days=cfg.future_days),
        earliest=pd.Timestamp(cfg.earliest, tz="UTC"),
    )


def features(ctx: CycleContext) -> FeaturesResult | None:
    from connector.steps.spark_cycle import features_on_spark, reads_on_spark

    if reads_on_spark(ctx):
        return features_on_spark(ctx)
    store, cfg = ctx.store, ctx.config
    pulled = ctx.results.pull or PullResult()
    tables = canonical_tables(store.mirror.customers(), store.mirror.transactions(), cfg.identity, id_columns(),
                              pulled.tables, store.mirror.line_items())
    # live events accepted by `segsync serve` are a source: their purchases count as transactions
    events_through = store.events.last_id()
    live = store.events.purchases(events_through)
    if len(live):
        tables.transactions = pd.concat([tables.transactions, live], ignore_index=True)
    engine = ctx.engine()
    clean, rejected = engine.clean(tables.transactions, plausible(cfg.quarantine, pd.Timestamp.now(tz="UTC")))
    record_rejections(ctx, tables.rejected, rejected, tables.transactions)
    if clean.empty:
        log.warning("nothing was segmented: no usable purchases (%d read, %d quarantined); "
                    "every output keeps what the last run wrote", len(tables.transactions), len(rejected))
        ctx.count("customers", 0)
        return None
    as_of = clean["occurred_at"].max().floor("D") + pd.Timedelta(days=1)
    feats = engine.features(_without_only_rejected(tables.customers, clean, rejected), clean, as_of,
                            cfg.segmentation.attributes)
    usage = _usage(ctx, feats.index, as_of, events_through, tables.keys)
    if usage is not None:
        feats = join_event_features(feats, usage.features(as_of))
    ctx.count("customers", len(feats))
    ctx.count("transactions", len(clean))
    log.info("features for %d customers as of %s", len(feats), as_of.date())
    return FeaturesResult(tables.customers, clean, feats, as_of, events_through, tables.line_items, usage)


def _usage(ctx: CycleContext, customers: pd.Index, as_of: pd.Timestamp, through: int, keys: pd.DataFrame) -> Usage | None:
    """Usage events of every source, coded for the features (None unless features.events is set)."""
    cfg = ctx.config
    if cfg.features.events is None:
        return None
    # every source's events: those read whole at the pull (files, sql), and those a CRM reads on demand
    pulled = [ctx.results.pull.events if ctx.results.pull is not None else None, *crm_events(ctx.plugins().by_name, keys)]
    usage = build_usage(cfg.features.events, frames_from(None, cfg.base_dir, ctx.store, through, pulled), customers,
                        latest=plausible(cfg.quarantine, pd.Timestamp.now(tz="UTC")).latest)
    if usage is not None and len(usage.rejected):
        ctx.store.rejected.add(ctx.run_id, "features", "events", [
            {"record_key": f"{r.customer_id}@{r.occurred_at}", "reason": r.reason} for r in usage.rejected.itertuples()])
        ctx.count("rejected_rows", len(usage.rejected))
    if usage is not None:
        ctx.count("events", len(usage.log))
    return usage


def _without_only_rejected(customers: pd.DataFrame, clean: pd.DataFrame, rejected: pd.DataFrame) -> pd.DataFrame:
    """Customers whose every purchase was quarantined are not segmented on what is left of them."""
    only_bad = set(rejected["customer_id"].dropna().astype(str)) - set(clean["customer_id"])
    if not only_bad:
        return customers
    log.warning("%d customer(s) whose every purchase was quarantined are left out of this run", len(only_bad))
    return customers[~customers["customer_id"].astype(str).isin(only_bad)]


def record_rejections(ctx: CycleContext, identity: pd.DataFrame, rejected_tx: pd.DataFrame, tx: pd.DataFrame) -> None:
    """Each run re-checks all its input: close the old open rejections, store the current ones."""
    ctx.store.rejected.resolve_step("features")
    sources = tx.drop_duplicates("transaction_id").set_index("transaction_id")["source"]
    rejected_tx = rejected_tx.assign(source=sources.reindex(rejected_tx["transaction_id"]).to_numpy())
    for source, group in rejected_tx.groupby("source"):
        ctx.store.rejected.add(ctx.run_id, "features", str(source), [
            {"record_key": r.transaction_id, "reason": r.reason, "payload": {"customer_id": r.customer_id}}
            for r in group.itertuples(index=False)
        ])
    for source, group in identity.groupby("source"):
        ctx.store.rejected.add(ctx.run_id, "features", str(source), group[["record_key", "reason"]].to_dict("records"))
    n = len(rejected_tx) + len(identity)
    if n:
        ctx.count("rejected_rows", n)
        log.warning("%d row(s) quarantined with a reason (see `segsync status`)", n)


def segmentation_params(ctx: CycleContext) -> SegmentationParams:
    s = ctx.config.segmentation
    return SegmentationParams(
        method=s.method, k=s.k, k_min=s.k_min, k_max=s.k_max, features=tuple(s.features),
        attributes=tuple(s.attributes), sample_size=s.sample_size, min_cluster_size=s.min_cluster_size,
        random_state=s.random_state, retrain_every_days=s.retrain.every_days,
        psi_threshold=s.retrain.psi_threshold, share_shift_threshold=s.retrain.share_shift_threshold,
    )


def segment(ctx: CycleContext) -> SegmentResult | None:
    feats = ctx.results.features
    if feats is None:
        return None
    latest = ctx.store.models.latest(*SEGMENTATION)
    previous = latest[1] if latest else None
    on_spark = None
    if feats.on_spark is not None:  # every customer's segment stays on Spark
        from connector.steps.spark_results import segment_on_spark

        result, on_spark = segment_on_spark(ctx, feats, segmentation_params(ctx), previous)
    else:
        result = ctx.engine().segment(feats.features, segmentation_params(ctx), previous, feats.as_of)
    if not ctx.dry_run:
        meta = {"retrained": result.retrained, "reason": result.reason, "metrics": result.metrics}
        if result.retrained:  # a retrain is a tracked version, champion at once (connector.lifecycle)
            version = ctx.registry().register(
                *SEGMENTATION, result.state, run_id=ctx.run_id, meta=meta, trigger=result.reason,
                params={"method": result.state.params.method, "k": result.metrics.get("k"),
                        "features": ",".join(result.state.params.columns)},
                artifacts={"segment_profiles": result.profiles}, example=feats.features.head(50),
                metrics={**result.metrics, **_drift_figures(result.drift)}).version
        else:  # the model as it stands after this run (last assignments, for the next stability check)
            version = ctx.store.models.save(*SEGMENTATION, result.state, run_id=ctx.run_id, meta=meta)
        _prune_models(ctx, version)
    ctx.count("segments", int((result.profiles if on_spark is not None else result.segments)["segment_id"].nunique()))
    if result.metrics.get("fallback"):
        log.warning("segmentation: %s", result.reason)
    else:
        log.info("%s: %s", "retrained" if result.retrained else "reused the model", result.reason)
    return SegmentResult(result, on_spark)


def _drift_figures(drift: dict[str, Any]) -> dict[str, float]:
    """The drift that led to a retrain, as numbers a tracker charts: the largest PSI, the
    largest segment share shift, and the stability (ARI) against the previous assignment."""
    psi, shift = drift.get("psi"), drift.get("share_shift")
    out = {"ari": drift.get("ari")}
    if isinstance(psi, pd.DataFrame) and len(psi):
        out["psi_max"] = float(psi["psi"].max())
    if isinstance(shift, pd.DataFrame) and len(shift):
        out["share_shift_max"] = float(shift["shift"].abs().max())
    return {k: v for k, v in out.items() if v is not None}


def _prune_models(ctx: CycleContext, newest: int) -> None:
    """Drop old per-run checkpoints; retrained versions (the model history) are kept."""
    with ctx.store.transaction() as c:
        c.execute("DELETE FROM models WHERE kind = ? AND name = ? AND version <= ? "
                  "AND json_extract(meta, '$.retrained') = 0", (*SEGMENTATION, newest - KEEP_MODEL_VERSIONS))


def score(ctx: CycleContext) -> ScoreResult | None:
    """Train (out of time) and score each configured target, and CLV / P(alive)."""
    feats = ctx.results.features
    if feats is None:
        return None
    from connector.steps.insight import save_insights
    from connector.steps.scoring import score_all

    if feats.on_spark is not None:  # every customer's scores stay on Spark
        from connector.steps.spark_results import scores_on_spark

        table, clv = scores_on_spark(ctx, feats)
        return ScoreResult(pd.DataFrame(), save_insights(ctx, feats, table), clv, on_spark=table)
    scores, clv, clv_summary = score_all(ctx, feats)
    return ScoreResult(scores, save_insights(ctx, feats, scores), clv, clv_summary)
