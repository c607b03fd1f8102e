"""Every customer's offers served per bucket on the executors (segmentation.offers.serve_offers).

The serving state (the model, the product signals, the compiled rules: an OfferServing) is
broadcast once; each bucket builds its customers' purchase history (offer_history) and gets
the pandas path's rows for them. The stability rule reads each customer's current offers
joined to their bucket (CURRENT); STABILITY says per row what it decided, for the counts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from connector.engine.spark.offer_history import BUCKET, purchase_history
from segmentation.offer_evaluation import K
from segmentation.offer_signals import ProductSignals
from segmentation.offers import OfferServing, serve_offers

CURRENT = "_current"
STABILITY = "_stability"  # 0: no current list or no stability rule; 1 kept; 2 replaced: ineligible; 3: replaced: better
SLOT_IDS = tuple(f"offer_{j + 1}_id" for j in range(K))
OFFER_SCHEMA = T.StructType([
    T.StructField("customer_id", T.StringType()),
    *(T.StructField(f"offer_{j + 1}", T.StringType()) for j in range(K)),
    T.StructField("offer_reasons", T.StringType()), T.StructField("method", T.StringType()),
    *(f for j in range(K) for f in (T.StructField(f"offer_{j + 1}_id", T.StringType()),
                                    T.StructField(f"offer_{j + 1}_score", T.DoubleType()))),
    T.StructField(STABILITY, T.IntegerType()),
])
OFFER_COLUMNS = tuple(f.name for f in OFFER_SCHEMA.fields if f.name != STABILITY)


def served_offers(spark: SparkSession, lines: DataFrame, served: OfferServing, signals: ProductSignals,
                  as_of: pd.Timestamp, with_current: bool) -> DataFrame:
    """serve_offers per bucket, with the serving state broadcast once."""
    shared = spark.sparkContext.broadcast((served, signals))

    def part(frame: pd.DataFrame) -> pd.DataFrame:
        serving, product_signals = shared.value
        history, codes = purchase_history(frame, serving.products, as_of)
        current = current_lists(frame) if with_current else None
        table, stable = serve_offers(serving, history, product_signals.for_customers(codes), current)
        flag = np.zeros(len(table), dtype=np.int32)
        if stable is not None:
            flag[stable.kept], flag[stable.ineligible], flag[stable.gained] = 1, 2, 3
        return table.assign(**{STABILITY: flag})

    return lines.groupBy(BUCKET).applyInPandas(part, OFFER_SCHEMA)


def current_lists(frame: pd.DataFrame) -> pd.DataFrame:
    """The bucket's customers' current offers (those who have a list)."""
    now = frame[frame[CURRENT].notna()].drop_duplicates("customer_id")[["customer_id", *SLOT_IDS]].astype(object)
    for col in SLOT_IDS:
        now[col] = now[col].where(now[col].notna(), None)
    return now


def stability_counts(offers: DataFrame) -> dict[str, int]:
    got = offers.groupBy(STABILITY).count().toPandas().set_index(STABILITY)["count"]
    return {name: int(got.get(code, 0)) for code, name in ((1, "kept"), (2, "replaced_ineligible"), (3, "replaced_better"))}

