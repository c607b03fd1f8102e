"""Parity: scores on Spark (training rows from Spark aggregations, the pandas engine's model
applied with mapInPandas) reach the pandas engine's AUC within 0.005, reason codes included."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from segmentation.scoring import ScoreParams, train_and_score

pytest.importorskip("pyspark")

AS_OF = pd.Timestamp("1998-01-01", tz="UTC")
HORIZON = 90


@pytest.mark.parametrize("kind", ["propensity", "churn"])
def test_scores_match_pandas_out_of_time(spark, cdnow, kind):
    from connector.engine.spark import scoring
    from connector.engine.spark.features import build_features as spark_features

    params = ScoreParams(name="buy", kind=kind, horizon_days=HORIZON, cutoffs=4)
    past = cdnow[cdnow["occurred_at"] <= AS_OF]
    expected = train_and_score(None, past, params, AS_OF).scores.set_index("customer_id").sort_index()
    tx = spark.createDataFrame(past)
    model, metrics = scoring.train(None, tx, params, AS_OF)
    got = scoring.score(model, spark_features(None, tx, AS_OF), kind).toPandas().set_index("customer_id").sort_index()
    assert list(got.index) == list(expected.index)
    # labels from the 90 days after as_of, which neither engine saw
    later = cdnow[(cdnow["occurred_at"] > AS_OF) & (cdnow["occurred_at"] <= AS_OF + pd.Timedelta(days=HORIZON))]
    bought = got.index.isin(later["customer_id"])
    truth = ~bought if kind == "churn" else bought
    auc_pandas, auc_spark = roc_auc_score(truth, expected["buy"]), roc_auc_score(truth, got["buy"])
    assert auc_spark > 0.6 and abs(auc_spark - auc_pandas) <= 0.005
    assert (got["buy_reasons"] != "").mean() > 0.9  # a customer with no notable driver gets none, on both engines
    same = (got["buy_reasons"] == expected["buy_reasons"]).mean()
    assert same >= 0.99, same
    assert set(metrics) == set(params.models)


def test_conversion_is_refused_with_a_clear_error(spark, cdnow):
    from connector.engine.spark import scoring

    params = ScoreParams(name="upgrade", kind="conversion", field="plan", value="pro")
    with pytest.raises(ValueError, match="not available on the Spark engine"):
        scoring.train(None, spark.createDataFrame(cdnow), params, AS_OF)


def test_training_rows_sampled_above_the_cap_and_not_left_cached(spark, cdnow):
    """Above max_train_rows a seeded sample of the stacked rows reaches the driver (the same rows
    for the same seed); the stacked rows are cached only while collected."""
    from connector.engine.spark import scoring
    from segmentation.targets import cutoff_dates

    params = ScoreParams(name="buy", kind="propensity", horizon_days=HORIZON, cutoffs=4)
    cutoffs = cutoff_dates(AS_OF, HORIZON, params.cutoffs, params.spacing_days)
    stacked = scoring.training_rows(None, spark.createDataFrame(cdnow), params, cutoffs)
    everyone = scoring.collect_training(stacked, 10**9, 0)
    cap = len(everyone) // 4
    part = scoring.collect_training(stacked, cap, 0)
    again = scoring.collect_training(stacked, cap, 0)
    assert 0.8 * cap < len(part) < 1.2 * cap
    assert list(part.index) == list(again.index) and part.equals(again)
    assert set(part.index) <= set(everyone.index)
    assert list(part["_which"]) == sorted(part["_which"])  # stacked as the pandas engine stacks them
    assert sorted(everyone["_which"].unique()) == list(range(len(cutoffs)))
    assert not stacked.storageLevel.useMemory and not stacked.storageLevel.useDisk


@pytest.mark.parametrize("kind", ["propensity", "churn"])
def test_training_rows_of_every_cutoff_in_one_pass_equal_the_pandas_engines(spark, cdnow, kind):
    """The stacked rows (every cutoff's features and label from one aggregation of the purchases)
    are the pandas engine's training set: the same customers per cutoff, labels, feature values."""
    from connector.engine.spark import scoring
    from connector.engine.spark.quarantine import judge
    from segmentation.features import build_features
    from segmentation.targets import cutoff_dates, training_set

    params = ScoreParams(name="buy", kind=kind, horizon_days=HORIZON, cutoffs=4)
    cutoffs = cutoff_dates(AS_OF, HORIZON, params.cutoffs, params.spacing_days)
    frame, y, which = training_set(None, cdnow, kind, HORIZON, cutoffs,
                                   lambda c, t, cut: build_features(c, t, cut))
    expected = frame.assign(_label=y, _which=which).reset_index().sort_values(["_which", "customer_id"])
    judged = judge(spark.createDataFrame(cdnow))
    stacked = scoring.training_rows(None, judged.clean, params, cutoffs)
    assert "Exchange" not in plan_above_input(stacked)  # one aggregation: no join, no union of four
    got = stacked.toPandas().sort_values(["_which", "customer_id"])
    assert list(got.columns) == list(expected.columns)
    assert list(zip(got["_which"], got["customer_id"], got["_label"], strict=True)) == \
        list(zip(expected["_which"], expected["customer_id"].astype(str), expected["_label"], strict=True))
    for column in frame.columns:
        np.testing.assert_allclose(got[column].to_numpy(float), expected[column].to_numpy(float), rtol=1e-12)
    judged.release()


def plan_above_input(frame) -> str:
    """The physical plan of `frame` above its persisted input (an Exchange there is a shuffle)."""
    plan = frame._jdf.queryExecution().executedPlan().toString()
    assert "InMemoryRelation" in plan, plan
    return plan.split("InMemoryRelation")[0]
