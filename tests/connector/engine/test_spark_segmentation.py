"""Parity: segments on Spark agree with the pandas engine's on the same data, for every family.

k-means and mini-batch k-means are refitted on every row (Lloyd's iterations on the executors); the other families keep
the pandas engine's own fit on the seeded driver sample and every row is assigned on the
executors (connector.engine.spark.clusters says why). Each family's pair of results is computed
once per module: a Spark segmentation costs seconds of JVM work even on 2,400 rows.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from segmentation.engine import SegmentationParams, assign_segments, segment
from segmentation.features import build_features
from tests.segmentation.conftest import planted_features

pytest.importorskip("pyspark")

AS_OF = pd.Timestamp("1998-07-01", tz="UTC")
GROUP_SIZE = 600
#: The super-linear steps see 1,000 of the 2,400 rows: the sample path is the one under test.
PARAMS = SegmentationParams(k_max=6, sample_size=1_000)
METHODS = ("kmeans", "minibatch_kmeans", "gmm", "bisecting_kmeans", "dbscan", "hdbscan", "hierarchical")
ON_EVERY_ROW = ("kmeans", "minibatch_kmeans")


def planted(seed: int = 0) -> pd.DataFrame:
    """Four planted groups of 600 customers (features as build_features returns them, and `group`)."""
    sizes = dict.fromkeys(("loyal", "dormant", "new", "lapsed_whales"), GROUP_SIZE)
    return planted_features(sizes, seed=seed)


def _spark_segment(spark, features: pd.DataFrame, params: SegmentationParams, previous=None, as_of=AS_OF):
    from connector.engine.spark.segmentation import segment as spark_segment

    return spark_segment(spark.createDataFrame(features.drop(columns="group").reset_index()), params, previous,
                         as_of)


def _rows(result, index: pd.Index) -> pd.DataFrame:
    segments = result.segments if isinstance(result.segments, pd.DataFrame) else result.segments.toPandas()
    return segments.set_index("customer_id").loc[index]


@pytest.fixture(scope="module")
def both(spark):
    """method -> (pandas result, Spark result, pandas rows, Spark rows) on the planted data, computed once."""
    features, done = planted(), {}

    def run(method: str):
        if method not in done:
            params = replace(PARAMS, method=method)
            expected = segment(features.drop(columns="group"), params, None, AS_OF)
            got = _spark_segment(spark, features, params)
            done[method] = expected, got, _rows(expected, features.index), _rows(got, features.index)
        return done[method]

    return run


@pytest.mark.parametrize("method", METHODS)
def test_planted_segments_agree(both, method):
    expected, got, want, rows = both(method)
    features = planted()
    assert adjusted_rand_score(want["segment_id"], rows["segment_id"]) >= 0.95
    assert adjusted_rand_score(features["group"], rows["segment_id"]) >= 0.95
    assert sorted(rows["segment_name"].unique()) == sorted(want["segment_name"].unique())
    assert got.metrics["k"] == expected.metrics["k"] == 4
    # the stored model assigns one customer as the batch did (segsync serve uses it)
    one = features.drop(columns="group").iloc[[0, 700, 1300, 2000]]
    assert list(assign_segments(got.state, one)) == list(rows.loc[one.index, "segment_id"])
    assert set(got.profiles["segment_name"]) == set(rows["segment_name"])
    assert int(got.profiles["size"].sum()) == len(features)
    sizes = rows["segment_id"].value_counts()
    assert (got.profiles.set_index("segment_id")["size"].loc[sizes.index] == sizes).all()


@pytest.mark.parametrize("method", METHODS)
def test_the_engine_says_where_each_family_is_fitted(both, method):
    _, got, _, _ = both(method)
    on_every_row = method in ON_EVERY_ROW
    assert got.metrics["fit_rows"] == (2_400 if on_every_row else PARAMS.sample_size)


def test_a_sample_fit_is_logged_with_its_size(spark, caplog):
    with caplog.at_level(logging.INFO, logger="segsync.spark"):
        _spark_segment(spark, planted(), SegmentationParams(method="hierarchical", k=4, sample_size=500))
    assert "hierarchical: fitted on a driver sample of 500 of 2400 rows" in caplog.text
    assert "every row assigned on the executors" in caplog.text


@pytest.mark.parametrize("method", ["kmeans", "gmm"])
def test_agree_above_the_driver_sample(spark, monkeypatch, method):
    """With more customers than the driver sample holds, the scaler and k see a Spark sample, not
    the pandas engine's rows: the segments still agree."""
    import connector.engine.spark.segmentation as spark_segmentation

    monkeypatch.setattr(spark_segmentation, "SAMPLE_ROWS", 1_500)
    features = planted(seed=2)
    params = SegmentationParams(method=method, k_max=6, sample_size=1_000)
    want = _rows(segment(features.drop(columns="group"), params, None, AS_OF), features.index)
    got = _spark_segment(spark, features, params)
    rows = _rows(got, features.index)
    assert 1_400 <= len(got.sample) <= 1_500  # the driver saw a sample, not everyone
    assert adjusted_rand_score(want["segment_id"], rows["segment_id"]) >= 0.95
    assert sorted(rows["segment_name"].unique()) == sorted(want["segment_name"].unique())


def test_cdnow_kmeans_agrees(spark, cdnow):
    features = build_features(None, cdnow, AS_OF)
    params = SegmentationParams(method="kmeans", k=4)
    want = _rows(segment(features, params, None, AS_OF), features.index)
    from connector.engine.spark.segmentation import segment as spark_segment

    rows = _rows(spark_segment(spark.createDataFrame(features.reset_index()), params, None, AS_OF), features.index)
    assert adjusted_rand_score(want["segment_id"], rows["segment_id"]) >= 0.95
    assert sorted(rows["segment_name"].unique()) == sorted(want["segment_name"].unique())


@pytest.mark.parametrize("method", ["kmeans", "gmm"])
def test_a_retrain_on_shuffled_rows_keeps_every_id(spark, both, method):
    """The registry on the driver matches the new clusters to the old segments: the same customers
    in another order (other partitions, another pyspark.ml start) keep their segment ids."""
    _, first, _, before = both(method)
    features = planted().sample(frac=1.0, random_state=7)
    params = replace(PARAMS, method=method, retrain_every_days=1)
    later = _spark_segment(spark, features, params, first.state, AS_OF + pd.Timedelta(days=5))
    assert later.retrained and later.state.version_number == 2
    after = _rows(later, before.index)
    assert (after["segment_id"] == before["segment_id"]).all()
    assert (after["segment_name"] == before["segment_name"]).all()


def test_a_retrain_on_new_customers_keeps_ids_by_name(spark, both):
    _, first, _, _ = both("gmm")
    params = replace(PARAMS, method="gmm", retrain_every_days=1)
    later = _spark_segment(spark, planted(seed=1), params, first.state, AS_OF + pd.Timedelta(days=5))
    assert later.retrained and later.drift["match_method"] == "centroids"
    ids_a = first.segments.toPandas().groupby("segment_name")["segment_id"].first()
    ids_b = later.segments.toPandas().groupby("segment_name")["segment_id"].first()
    assert set(ids_a.index) == set(ids_b.index) and (ids_a == ids_b.loc[ids_a.index]).all()
    assert len(ids_b) == 4 and sorted(later.profiles["segment_id"]) == sorted(ids_a)


def test_the_stored_model_is_reused_as_the_pandas_engine_reuses_it(spark, both):
    """Inside the retrain window and without drift both engines keep the model and its ids."""
    expected, first, want, before = both("gmm")
    features, day = planted(), AS_OF + pd.Timedelta(days=1)
    kept = segment(features.drop(columns="group"), replace(PARAMS, method="gmm"), expected.state, day)
    again = _spark_segment(spark, features, replace(PARAMS, method="gmm"), first.state, day)
    assert not kept.retrained and not again.retrained and again.reason == kept.reason
    assert again.state.model_version == first.state.model_version
    assert (_rows(again, before.index)["segment_id"] == before["segment_id"]).all()
    # the kept model's profiles are today's, described as a retrain describes them (`segsync report` reads them)
    assert list(again.profiles.columns) == list(first.profiles.columns)
    pd.testing.assert_frame_equal(again.profiles[["segment_id", "segment_name", "size", "share"]],
                                  first.profiles[["segment_id", "segment_name", "size", "share"]])
    assert again.profiles["share"].sum() == pytest.approx(1.0)


def test_kmeans_refit_on_everyone_is_the_pandas_engines_lloyd_run(spark):
    """clusters.fit_everyone: Lloyd's iterations on the executors from the sample fit's centres
    reach scikit-learn's KMeans(init=those centres, n_init=1) on every row (the pandas engine's
    refit), centre for centre."""
    from sklearn.cluster import KMeans

    from connector.engine.spark import clusters
    from segmentation.clustering import ClusterModel
    from segmentation.scaling import FeatureScaler

    features = planted().drop(columns="group")
    scaler = FeatureScaler(PARAMS.columns).fit(features)
    X = scaler.transform(features)
    local = ClusterModel("kmeans", 4, sample_size=300, random_state=0).fit(X[::8])
    start = local.centers_.copy()
    expected = KMeans(4, init=start, n_init=1).fit(X).cluster_centers_
    matrix = clusters.scaled(spark.createDataFrame(features.reset_index()), scaler)
    got = clusters.fit_everyone(matrix, local)
    np.testing.assert_allclose(got.centers_, expected, atol=1e-3)
    assert adjusted_rand_score(got.predict(X), KMeans(4, init=start, n_init=1).fit(X).labels_) == 1.0
