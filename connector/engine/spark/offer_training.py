"""The offer model's fit on Spark: what of the line items the driver needs to fit it, and no more.

- the latent tastes are fitted on the driver to the core's own sample of buyers (at most
  segmentation.offer_tastes.MAX_FIT_CUSTOMERS; Spark finds who they are by rank): only their
  (customer, product) pairs come to the driver;
- the method comes from the out-of-time comparison when one runs (segmentation.offers.evaluates
  says when), over the line items before as_of collected to the driver, as the pandas path reads
  them; else it is the configured one or its fallback;
- the ranker is trained on the core's training population (segmentation.offer_evaluation.training_sample,
  at most TRAINING_POPULATION customers), whose line items alone come to the driver.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

# the caps through the module (read per call); fit_ranker by name (a test replaces it per module)
import segmentation.offer_evaluation as evaluation
from connector.engine.spark.offer_history import ROW
from segmentation.offer_evaluation import fit_ranker
from segmentation.offer_model import OfferModel
from segmentation.offer_ranker import OfferRanker
from segmentation.offer_tastes import TasteMixture, taste_sample
from segmentation.offers import (
    OfferParams,
    choose_offer_model,
    code_ids,
    evaluates,
    fit_offer_model,
)
from segmentation.purchases import EncodedItems


def ranked_ids(frame: DataFrame, ranks: np.ndarray | None) -> pd.Index:
    """The ids (sorted) of `frame`'s distinct customer_ids at these ranks in sorted order (None: all)."""
    from pyspark.sql import Window

    ids = frame.select("customer_id").distinct()
    if ranks is not None:  # one sorted pass over the ids (a partition of ids only: strings, no lines)
        wanted = ids.sparkSession.createDataFrame(pd.DataFrame({"_rank": ranks.astype(np.int64) + 1}))
        ranked = ids.withColumn("_rank", F.row_number().over(Window.orderBy("customer_id")).cast("long"))
        ids = ranked.join(F.broadcast(wanted), "_rank").select("customer_id")
    return pd.Index(np.sort(ids.toPandas()["customer_id"].astype(str).to_numpy()))


def fitted_tastes(past: DataFrame, products: pd.Index, buyers: int) -> TasteMixture:
    """TasteMixture.fit as ProductSignals.build calls it, on the buyers its sample draws: only
    their (customer, product) pairs come to the driver."""
    rng = np.random.default_rng(0)
    who = ranked_ids(past, taste_sample(buyers, rng))
    keep = F.broadcast(past.sparkSession.createDataFrame(pd.DataFrame({"customer_id": who})))
    got = past.join(keep, "customer_id").select("customer_id", "product_id").distinct().toPandas()
    rows, cols = who.get_indexer(got["customer_id"].astype(str)), products.get_indexer(got["product_id"].astype(str))
    order = np.argsort(rows.astype(np.int64) * len(products) + cols, kind="stable")
    indptr = np.zeros(len(who) + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=len(who)), out=indptr[1:])
    owned = sp.csr_matrix((np.ones(len(order), np.float32), cols[order].astype(np.int32), indptr), shape=(len(who), len(products)))
    return TasteMixture.fit_sample(owned, rng)


def collected(frame: DataFrame) -> pd.DataFrame:
    """Line items on the driver in their order of arrival, as the pandas path holds them."""
    out = frame.toPandas().sort_values(ROW, kind="stable").drop(columns=ROW).reset_index(drop=True)
    return code_ids(out.assign(occurred_at=pd.to_datetime(out["occurred_at"], utc=True)))


def fit_model(past: DataFrame, segments: DataFrame, as_of: pd.Timestamp, params: OfferParams, mix: pd.Series,
              version: str | None) -> OfferModel:
    """The model's method: from the out-of-time comparison when one runs (on the driver, over the
    line items before as_of of the core's evaluation population, as in the pandas path: at most
    EVAL_POPULATION customers, sampled on Spark), else the configured one or its fallback."""
    if not evaluates(params, first_purchase(past), as_of):
        return choose_offer_model(None, as_of, params, mix, version)
    picked = evaluation.training_sample(past.select("customer_id").distinct().count(), evaluation.EVAL_POPULATION,
                                        params.random_state)
    if picked is not None:  # only the sampled customers' line items and segments come to the driver
        keep = F.broadcast(past.sparkSession.createDataFrame(pd.DataFrame({"customer_id": ranked_ids(past, picked)})))
        past, segments = past.join(keep, "customer_id"), segments.join(keep, "customer_id")
    seg = segments.toPandas()
    return fit_offer_model(collected(past), seg.set_index("customer_id"), as_of, params, mix, seg)


def fitted_ranker(past: DataFrame, axis: DataFrame, segments: DataFrame, catalog: pd.DataFrame, as_of: pd.Timestamp,
                params: OfferParams, price: np.ndarray) -> OfferRanker:
    """segmentation.offer_evaluation.make_scorer's ranker from its training population only: the
    customers training_sample draws from the sorted axis, their line items and segments."""
    who = ranked_ids(axis, evaluation.training_sample(axis.count(), evaluation.TRAINING_POPULATION, params.random_state))
    keep = F.broadcast(past.sparkSession.createDataFrame(pd.DataFrame({"customer_id": who})))
    items = collected(past.join(keep, "customer_id"))
    seg = segments.join(keep, "customer_id").select("customer_id", "segment_id").toPandas()
    first = first_purchase(past)
    if first is None:
        raise ValueError("offers on Spark: no line items before as_of to train the ranker on")
    return fit_ranker(
        EncodedItems.encode(items, catalog.index, who), who, seg.set_index("customer_id")["segment_id"], as_of,
        pd.Timestamp(first.value / 1e9, unit="s", tz="UTC"), catalog.index, horizon_days=params.horizon_days,
        cross_sell=params.mode == "cross_sell", price=price, random_state=params.random_state, n_jobs=params.n_jobs,
    )


def first_purchase(past: DataFrame) -> pd.Timestamp | None:
    """The first line item's time (UTC), read as microseconds: no Python local time zone involved."""
    micros = past.agg(F.min(F.unix_micros("occurred_at"))).first()[0]
    return None if micros is None else pd.Timestamp(int(micros) * 1000, unit="ns", tz="UTC")

