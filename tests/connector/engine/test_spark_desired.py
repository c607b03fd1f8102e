"""The desired state on Spark (connector.engine.spark.desired) is desired_table's, row for row."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from connector.config import ListsConfig
from connector.steps.desired import current_arms, desired_table, list_memberships, record_values
from tests.connector.steps.test_desired import ARMS, CUSTOMERS, PROMO, SEGMENTS, WELCOME, texts

pytest.importorskip("pyspark")


def test_spark_builds_desired_tables_rows_and_each_destinations_compare_keys(spark) -> None:
    from connector.engine.spark.desired import (
        ORDER,
        DesiredParts,
        DestinationKeys,
        desired_frame,
        join_inputs,
    )

    scores = pd.DataFrame({"buy_90d": [0.4, 0.1], "buy_90d_reasons": ["r1", "r2"]}, index=["e-3", "e-1"])
    offers = pd.DataFrame({"customer_id": ["e-1", "e-2", "e-3"], "offer_1": ["P1", "P2", "P3"],
                           "offer_2": ["Q1", "Q2", None], "offer_3": [None, None, None],
                           "offer_reasons": ["mine", "mine", "mine"]})
    experiments = (PROMO, WELCOME)
    args = {"scores": scores, "experiments": experiments, "offers": offers, "offer_defaults": {"s1": ("D1", "D2")}}
    want = desired_table(SEGMENTS, CUSTOMERS, ["crm_id", "other_id"], arms=ARMS, **args)
    parts = DesiredParts(SEGMENTS, CUSTOMERS, ("crm_id", "other_id"), arms=current_arms(ARMS, ["promo", "welcome"]),
                         **args)
    lists = ListsConfig()
    keys = DestinationKeys("crm", ("segment_name", "arm", "buy_90d", "offer_1"), "crm_id", lists)
    joined = join_inputs(spark, parts)
    assert joined.columns == list(want.columns)  # known before anything runs
    got = desired_frame(joined, parts, [keys]).toPandas().sort_values(ORDER).reset_index(drop=True)
    got["arms"] = got["arms"].map(lambda v: dict(v) if isinstance(v, list | np.ndarray) else v)
    pd.testing.assert_frame_equal(got[list(want.columns)].fillna(np.nan), want.fillna(np.nan), check_dtype=False)
    assert got.loc[1, "offer_1"] == "D1"  # e-2's discount arm switched to its segment's own offers on Spark
    values = [json.dumps(record_values(r, list(keys.keys)), sort_keys=True, default=str) if pd.notna(r["crm_id"])
              else None for _, r in want.iterrows()]
    assert texts(got["_values_crm"]) == values and values[1] is None  # e-2 has no crm_id
    members = list_memberships(want, "crm_id", lists, experiments)
    assert texts(got["_lists_crm"]) == [
        "\n".join(sorted(n for n, m in members.items() if c in m)) or None for c in want["customer_id"]]
    assert got.loc[0, "_lists_crm"] == "segsync Champions\nsegsync promo control\nsegsync welcome b"


def test_spark_inputs_give_the_same_desired_state(spark) -> None:
    """A Spark cycle hands the per-customer inputs as Spark DataFrames (segments, scores with a
    customer_id column, current arms, offers as the offers step's columns): the same rows."""
    from connector.engine.spark.desired import ORDER, DesiredParts, desired_frame, join_inputs

    scores = pd.DataFrame({"buy_90d": [0.4, 0.1], "buy_90d_reasons": ["r1", "r2"]}, index=["e-3", "e-1"])
    offers = pd.DataFrame({"customer_id": ["e-1", "e-2", "e-3"], "offer_1": ["P1", "P2", "P3"],
                           "offer_2": ["Q1", "Q2", None], "offer_3": [None, None, None],
                           "offer_reasons": ["mine", "mine", "mine"], "method": ["ranker"] * 3})
    experiments = (PROMO, WELCOME)
    want = desired_table(SEGMENTS, CUSTOMERS, ["crm_id", "other_id"], scores=scores, arms=ARMS,
                         experiments=experiments, offers=offers, offer_defaults={"s1": ("D1", "D2")})
    current = current_arms(ARMS, ["promo", "welcome"])[["experiment", "customer_id", "arm"]]
    parts = DesiredParts(spark.createDataFrame(SEGMENTS), spark.createDataFrame(CUSTOMERS), ("crm_id", "other_id"),
                         scores=spark.createDataFrame(scores.rename_axis("customer_id").reset_index()),
                         arms=spark.createDataFrame(current), experiments=experiments,
                         offers=spark.createDataFrame(offers), offer_defaults={"s1": ("D1", "D2")})
    got = desired_frame(join_inputs(spark, parts), parts).toPandas().sort_values(ORDER).reset_index(drop=True)
    got["arms"] = got["arms"].map(lambda v: dict(v) if isinstance(v, list | np.ndarray) else v)
    pd.testing.assert_frame_equal(got[list(want.columns)].fillna(np.nan), want.fillna(np.nan), check_dtype=False)
