"""Step `publish`: the cycle's results as the serving snapshot `segsync serve` reads.

Last in the cycle, so a snapshot is only ever the result of a cycle whose every step
succeeded; a dry run publishes nothing. The models it pins are the versions this cycle
used, so the API's live scoring agrees with the batch answers it serves.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pandas as pd

from connector.crm.registry import id_columns
from connector.identity import email_key, normalise_email
from connector.serve.snapshot import SnapshotTables, publish
from connector.steps.model import SEGMENTATION
from segmentation.event_features import usage_state
from segmentation.purchase_summary import summary_from_transactions

if TYPE_CHECKING:
    from connector.pipeline import CycleContext, StepResults

log = logging.getLogger("segsync.publish")


def publish_snapshot(ctx: CycleContext) -> None:
    r = ctx.results
    if ctx.dry_run or r.features is None or r.segment is None:
        return
    customers, segments, scores, features = r.features.customers, r.segment.segments, \
        r.score.scores if r.score else None, r.features.features
    arms = r.assign.arms if r.assign else None
    if r.features.on_spark is not None:
        if ctx.config.serve is None:  # a Spark population stays on Spark unless it is to be served
            log.info("no snapshot published: the Spark cycle's per-customer results stay on Spark (configure "
                     "`serve:` for `segsync serve`, which loads one row per customer)")
            return
        from connector.steps.spark_results import served_frames

        customers, segments, scores, features, arms = served_frames(ctx)
    tables = SnapshotTables(
        run_id=ctx.run_id, as_of=r.features.as_of, customers=_customer_keys(ctx, customers),
        segments=segments, scores=scores, features=features,
        arms=arms, actions=_actions(r.score.insights if r.score else None),
        score_names=[t.name for t in ctx.config.scoring.targets], models=_pinned(ctx),
        events_through=r.features.events_through, offers=_offers(r),
        segment_offers={str(k): tuple(map(str, v)) for k, v in r.offers.defaults.items()} if r.offers else {},
        clv=r.score.clv.to_dict() if r.score is not None and r.score.clv is not None else None,
        clv_summary=_clv_summary(r) if r.score is not None and r.score.clv is not None else None,
        usage_state=usage_state(r.features.usage.log, r.features.as_of, r.features.usage.spec) if r.features.usage is not None else None,
    )
    folder = publish(ctx.config.snapshot_dir(), tables)
    ctx.count("snapshot_customers", len(segments))
    log.info("snapshot %s published for segsync serve (%d customers)", folder.name, len(segments))


def _offers(r: StepResults) -> pd.DataFrame | None:
    """Every customer's offers, which the snapshot holds: collected when their step kept them on Spark."""
    if r.offers is None or r.offers.on_spark is None:
        return r.offers.offers if r.offers is not None else None
    from connector.engine.spark.offers import offers_on_driver

    log.info("collecting every customer's offers for the serving snapshot")
    return offers_on_driver(r.offers.on_spark)


def _clv_summary(r: StepResults) -> pd.DataFrame | None:
    """The daily summary the CLV model valued, for the API to move with live purchases: the
    score step's (the pandas engine returns it), else worked out from the cycle's transactions
    (None where the cycle holds none as a pandas frame)."""
    assert r.score is not None and r.features is not None
    if r.score.clv_summary is not None:
        return r.score.clv_summary
    transactions = r.features.transactions
    if not isinstance(transactions, pd.DataFrame) or transactions.empty:
        return None
    return summary_from_transactions(transactions, r.features.as_of, freq="D")


def _customer_keys(ctx: CycleContext, customers: pd.DataFrame) -> pd.DataFrame:
    """customer_id, each source's record id column and the hashed email key (no email itself)."""
    ident = ctx.config.identity
    emails = customers["email"] if "email" in customers else pd.Series(None, index=customers.index, dtype=object)
    keys = [email_key(e) if e else None for e in (normalise_email(v, ident) for v in emails)]
    frame = pd.DataFrame({"customer_id": customers["customer_id"].astype(str), "email_key": keys})
    for name in id_columns().values():
        frame[name] = customers[name] if name in customers else None
    return frame


def _actions(insights: dict | None) -> dict[str, str]:
    priority = None if insights is None else insights.get("priority")
    if priority is None or "action" not in priority:
        return {}
    return {str(s): str(a) for s, a in zip(priority["segment_id"], priority["action"], strict=True)}


def _pinned(ctx: CycleContext) -> dict[str, int]:
    models = {}
    seg = ctx.store.models.latest_version(*SEGMENTATION)
    if seg:
        models["segmentation"] = int(seg)
    for target in ctx.config.scoring.targets:
        version = ctx.store.models.champion_version("score", target.name)  # what the cycle scored with
        if version:
            models[f"score.{target.name}"] = int(version)
    return models
