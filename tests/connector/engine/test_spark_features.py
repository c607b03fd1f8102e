"""Parity: features and RFM scores on Spark equal the pandas engine's on the same data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segmentation.features import BEHAVIOUR_COLUMNS, build_features
from segmentation.rfm import rfm_scores

pytest.importorskip("pyspark")

AS_OF = pd.Timestamp("1998-07-01", tz="UTC")


def _customers(cdnow: pd.DataFrame) -> pd.DataFrame:
    """Every buyer plus 40 sign-ups who never bought (10 without a created_at), and a plan."""
    ids = sorted(cdnow["customer_id"].unique())
    extra = [f"x{i:03d}" for i in range(40)]
    created = [pd.Timestamp("1996-12-01", tz="UTC")] * len(ids) + [
        pd.Timestamp("1998-01-01", tz="UTC") + pd.Timedelta(days=3 * i) if i >= 10 else pd.NaT for i in range(40)]
    return pd.DataFrame({"customer_id": ids + extra, "created_at": pd.to_datetime(created, utc=True),
                         "plan": ["pro" if i % 3 else "free" for i in range(len(ids) + 40)]})


def _spark_features(spark, customers, transactions, cutoff, attributes=()):
    from connector.engine.spark.features import build_features as spark_features

    out = spark_features(spark.createDataFrame(customers) if customers is not None else None,
                         spark.createDataFrame(transactions), cutoff, attributes).toPandas()
    return out.set_index("customer_id").sort_index()


@pytest.mark.parametrize("cutoff", [AS_OF, pd.Timestamp("1997-06-15 13:30", tz="UTC")])
def test_features_identical(spark, cdnow, cutoff):
    customers = _customers(cdnow)
    expected = build_features(customers, cdnow, cutoff, attributes=("plan",))
    got = _spark_features(spark, customers, cdnow, cutoff, ("plan",))
    assert list(got.index) == list(expected.index)
    assert (got["frequency"].to_numpy() == expected["frequency"].to_numpy()).all()
    for column in BEHAVIOUR_COLUMNS:
        np.testing.assert_allclose(got[column].to_numpy(float), expected[column].to_numpy(float),
                                   rtol=1e-12, atol=1e-9, equal_nan=True, err_msg=column)
    assert (got["plan"].astype(str) == expected["plan"].astype(str)).all()
    # the cutoff in June 1997 leaves out later buyers and the 1998 sign-ups
    assert len(got) == len(expected) and (len(got) < 2397 if cutoff.year == 1997 else len(got) == 2397)


def test_features_without_customers(spark, cdnow):
    expected = build_features(None, cdnow, AS_OF)
    got = _spark_features(spark, None, cdnow, AS_OF)
    assert list(got.index) == list(expected.index)
    np.testing.assert_allclose(got[list(BEHAVIOUR_COLUMNS)].to_numpy(float),
                               expected[list(BEHAVIOUR_COLUMNS)].to_numpy(float), rtol=1e-12, equal_nan=True)


def test_rfm_scores_identical(spark, cdnow):
    from connector.engine.spark.features import rfm_scores as spark_rfm

    features = build_features(_customers(cdnow), cdnow, AS_OF)
    expected = rfm_scores(features)
    got = spark_rfm(spark.createDataFrame(features.reset_index())).toPandas().set_index("customer_id").sort_index()
    for column in ("r_score", "f_score", "m_score", "rfm_score", "rfm_segment"):
        assert (got[column].astype(str).to_numpy() == expected[column].astype(str).to_numpy()).all(), column
    # the data exercises the rules: all five scores, ties (one-time buyers), NaN recency scored 1
    assert set(got["r_score"]) == {1, 2, 3, 4, 5} and got["rfm_segment"].nunique() >= 8
    assert (got.loc[[f"x{i:03d}" for i in range(10)], "r_score"] == 1).all()


def test_exact_order_statistics_above_the_driver_sort(spark, monkeypatch):
    """Above the size sorted on the driver, the bracketed search still finds exact values: the
    extremes and a cut inside a block of ties here, the quintile cuts (two in the ties, two among
    distinct values) through the scores they give; no collect brings all values to the driver."""
    import connector.engine.spark.features as sf
    from segmentation.rfm import quintile_scores

    monkeypatch.setattr(sf, "_SORT_ON_DRIVER", 50)
    # a block of 2,000 ties (one-time buyers' frequency) holds the 1000th and the 2000th values
    values = np.concatenate([np.full(2_000, 7.0), np.random.default_rng(3).integers(0, 400, 3_000)]).astype(float)
    frame = spark.createDataFrame(pd.DataFrame({"v": values}))
    ks = [1, 1000, 5000, 5001]
    from pyspark.sql.classic.dataframe import DataFrame

    rows: list[int] = []
    collect = DataFrame.collect
    monkeypatch.setattr(DataFrame, "collect", lambda self: rows.append(len(out := collect(self))) or out)
    assert sf.kth_smallest(frame, "v", ks) == [*(float(np.sort(values)[k - 1]) for k in ks[:3]), None]
    got = frame.select(sf.quintile_score(frame, "v", len(values)).alias("s")).toPandas()["s"]
    assert (got.to_numpy() == quintile_scores(pd.Series(values)).to_numpy()).all()
    assert set(got) == {1, 3, 4, 5}  # the ties hold two cuts: nobody scores 2
    assert rows and max(rows) <= 400  # distinct values with their counts reach the driver, never all 5,000 values
