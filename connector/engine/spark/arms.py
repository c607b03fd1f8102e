"""Arms on the executors: the pure experiments.assignment functions applied per partition.

Stickiness is a join on Spark: customers already in the arms table for the experiment are
left out (left anti join) before anything is hashed, so a stored arm is never recomputed.
Each partition of the remaining customers then goes through `experiments.assignment.assign_arms`
itself (mapInPandas): GrowthBook v2 hashing of customer_id on the experiment key, the global
holdout on its own seed, coverage, weights and segment targeting are the driver path's code,
not a port, so both engines assign the same arm to every customer. Every hash depends on one
customer only, so how the rows are partitioned does not matter; the rows are partitioned by
customer_id all the same, so `assign_arms`' duplicate check sees every copy of an id together.
Only the new assignments (bounded by customers new to the experiment) come back to the driver.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from experiments.assignment import ARMS_COLUMNS, assign_arms
from experiments.spec import ExperimentSpec, HoldoutSpec

_NO_ARMS = pd.DataFrame(columns=["experiment", "customer_id"])


def new_arms(segments: DataFrame, existing: DataFrame | None, spec: ExperimentSpec, holdout: HoldoutSpec | None,
             assigned_at: datetime) -> DataFrame:
    """The new assignments of one experiment as a Spark DataFrame (ARMS_COLUMNS, assigned_at a
    timestamp): `segments` (customer_id, segment_id) less the customers `existing` (experiment,
    customer_id) holds for `spec.key`, assigned by `assign_arms`."""
    candidates = segments.select(F.col("customer_id").cast("string"), "segment_id")
    if existing is not None:
        known = existing.where(F.col("experiment") == spec.key).select(F.col("customer_id").cast("string"))
        candidates = candidates.join(known, "customer_id", "left_anti")
    schema = T.StructType([
        T.StructField("experiment", T.StringType()), T.StructField("customer_id", T.StringType()),
        T.StructField("arm", T.StringType()), segments.schema["segment_id"],
        T.StructField("assigned_at", T.TimestampType()),
    ])

    def assign(chunks: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for chunk in chunks:
            rows = assign_arms(chunk, spec, _NO_ARMS, holdout, assigned_at)
            yield rows.astype({"experiment": object, "customer_id": object, "arm": object})[ARMS_COLUMNS]

    return candidates.repartition("customer_id").mapInPandas(assign, schema)


def collect_new_arms(segments: DataFrame, existing: DataFrame | None, spec: ExperimentSpec,
                     holdout: HoldoutSpec | None, assigned_at: datetime) -> pd.DataFrame:
    """`new_arms` on the driver as `assign_arms` returns them: sorted by customer_id, assigned_at UTC."""
    out = new_arms(segments, existing, spec, holdout, assigned_at).toPandas()
    out["assigned_at"] = pd.to_datetime(out["assigned_at"], utc=True)
    return out.sort_values("customer_id", kind="stable").reset_index(drop=True)
