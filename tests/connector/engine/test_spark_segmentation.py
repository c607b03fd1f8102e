"""Parity: segments on Spark (pyspark.ml fit on every row) agree with the pandas engine's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from segmentation.engine import SegmentationParams, assign_segments, segment
from segmentation.features import build_features

pytest.importorskip("pyspark")

AS_OF = pd.Timestamp("1998-07-01", tz="UTC")
GROUPS = {"loyal": (10.0, 25.0, 80.0, 700.0), "dormant": (400.0, 2.0, 25.0, 800.0),
          "new": (8.0, 1.0, 30.0, 15.0), "lapsed_whales": (300.0, 4.0, 900.0, 600.0)}


def planted(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Four planted groups of `n` customers (features as build_features returns them)."""
    rng = np.random.default_rng(seed)
    frames = []
    for recency, freq, mean, tenure in GROUPS.values():
        f = np.maximum(1, np.round(freq * rng.lognormal(0, 0.15, n)))
        m = mean * rng.lognormal(0, 0.15, n)
        frames.append(pd.DataFrame({"recency_days": recency * rng.lognormal(0, 0.15, n), "frequency": f.astype("int64"),
                                    "monetary_total": f * m, "monetary_mean": m,
                                    "tenure_days": tenure * rng.lognormal(0, 0.1, n)}))
    out = pd.concat(frames, ignore_index=True)
    out.index = pd.Index([f"c{i:05d}" for i in range(len(out))], name="customer_id")
    return out


def _both(spark, features: pd.DataFrame, params: SegmentationParams):
    from connector.engine.spark.segmentation import segment as spark_segment

    expected = segment(features, params, None, AS_OF)
    got = spark_segment(spark.createDataFrame(features.reset_index()), params, None, AS_OF)
    rows = got.segments.toPandas().set_index("customer_id").loc[features.index]
    want = expected.segments.set_index("customer_id").loc[features.index]
    return expected, got, rows, want


@pytest.mark.parametrize("method", ["kmeans", pytest.param("gmm", marks=pytest.mark.xfail(strict=True, reason="issue 20 open: the Spark engine reports k=9 for the Gaussian mixture where the pandas engine chooses 4 (ARI and names agree)"))])
def test_planted_segments_agree(spark, method):
    features = planted()
    expected, got, rows, want = _both(spark, features, SegmentationParams(method=method))
    assert adjusted_rand_score(want["segment_id"], rows["segment_id"]) >= 0.95
    assert sorted(rows["segment_name"].unique()) == sorted(want["segment_name"].unique())
    assert got.metrics["k"] == expected.metrics["k"] == 4
    # the stored model assigns one customer as the batch did (segsync serve uses it)
    one = features.iloc[[0, 700, 1300, 2000]]
    assert list(assign_segments(got.state, one)) == list(rows.loc[one.index, "segment_id"])
    assert set(got.profiles["segment_name"]) == set(rows["segment_name"])
    assert int(got.profiles["size"].sum()) == len(features)


@pytest.mark.xfail(strict=True, reason="issue 20 open: pyspark.ml BisectingKMeans on the planted data ends with one segment instead of 4")
def test_bisecting_kmeans_on_spark(spark):
    """pyspark.ml bisects level by level, scikit-learn the largest cluster first: the splits may
    differ, so this family is not held to parity; it must still segment and serve consistently."""
    features = planted()
    from connector.engine.spark.segmentation import segment as spark_segment

    got = spark_segment(spark.createDataFrame(features.reset_index()), SegmentationParams(method="bisecting_kmeans", k=4),
                        None, AS_OF)
    rows = got.segments.toPandas().set_index("customer_id").loc[features.index]
    assert rows["segment_id"].nunique() == 4 and got.state.model.k_ == 4
    one = features.iloc[[0, 700, 1300, 2000]]
    assert list(assign_segments(got.state, one)) == list(rows.loc[one.index, "segment_id"])


def test_cdnow_kmeans_agrees(spark, cdnow):
    features = build_features(None, cdnow, AS_OF)
    expected, got, rows, want = _both(spark, features, SegmentationParams(method="kmeans", k=4))
    assert adjusted_rand_score(want["segment_id"], rows["segment_id"]) >= 0.95
    assert sorted(rows["segment_name"].unique()) == sorted(want["segment_name"].unique())


def test_retrain_keeps_ids_through_the_registry(spark):
    from connector.engine.spark.segmentation import segment as spark_segment

    params = SegmentationParams(method="kmeans", retrain_every_days=1)
    first = spark_segment(spark.createDataFrame(planted().reset_index()), params, None, AS_OF)
    later = spark_segment(spark.createDataFrame(planted(seed=1).reset_index()), params, first.state,
                          AS_OF + pd.Timedelta(days=5))
    assert later.retrained and later.state.version_number == 2
    a = first.segments.toPandas().set_index("customer_id")["segment_name"]
    b = later.segments.toPandas().set_index("customer_id")["segment_name"]
    ids_a = first.segments.toPandas().groupby("segment_name")["segment_id"].first()
    ids_b = later.segments.toPandas().groupby("segment_name")["segment_id"].first()
    assert set(ids_a.index) == set(ids_b.index) and (ids_a == ids_b.loc[ids_a.index]).all()
    assert a.index.size == b.index.size
