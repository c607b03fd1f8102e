from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from segmentation.clustering import (
    METHODS,
    ClusterModel,
    nearest_center,
    pick_k,
    quality,
    sample_rows,
)
from segmentation.scaling import FeatureScaler


def _planted(n: int = 3000, k: int = 4, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    X, y = make_blobs(
        n_samples=n, centers=k, n_features=4, cluster_std=0.6, center_box=(-8, 8), random_state=seed
    )
    return (X - X.mean(0)) / X.std(0), y


@pytest.mark.parametrize("method", METHODS)
def test_each_family_recovers_planted_clusters(method):
    X, y = _planted()
    model = ClusterModel(
        method, k="auto", k_min=2, k_max=7, sample_size=1500, min_cluster_size=30
    ).fit(X)
    labels = model.labels_
    kept = labels != -1
    assert kept.mean() > 0.9
    assert adjusted_rand_score(y[kept], labels[kept]) > 0.9
    # Assigning the same rows again reproduces the fitted labels (the sample rows included).
    assert adjusted_rand_score(labels, model.predict(X)) > 0.98
    assert model.k_ == 4


def test_gmm_finds_planted_customer_groups(planted):
    """Counts (frequency) and products (monetary_total = frequency x monetary_mean) give BIC
    thin components to reward; the covariance floor keeps the four planted groups four (at a
    floor of 1e-4 this found k=9, ARI 0.81)."""
    features = planted({"loyal": 600, "dormant": 600, "new": 600, "lapsed_whales": 600})
    columns = ["recency_days", "frequency", "monetary_total", "monetary_mean", "tenure_days"]
    X = FeatureScaler(columns).fit(features).transform(features)
    model = ClusterModel("gmm", k="auto", k_min=2, k_max=10).fit(X)
    assert model.k_ == 4 and model.k_scores_["bic"].idxmin() == 2
    assert adjusted_rand_score(features["group"], model.labels_) >= 0.95


@pytest.mark.parametrize("method", ["kmeans", "gmm", "hierarchical"])
def test_fixed_k_is_honoured(method):
    X, _ = _planted()
    assert ClusterModel(method, k=3, sample_size=1000).fit(X).k_ == 3


def test_kmeans_is_deterministic_for_a_seed():
    X, _ = _planted()
    a = ClusterModel("kmeans", sample_size=800, random_state=7).fit(X)
    b = ClusterModel("kmeans", sample_size=800, random_state=7).fit(X)
    assert np.array_equal(a.labels_, b.labels_)
    assert list(a.k_scores_.columns) == [
        "k",
        "silhouette",
        "silhouette_sd",
        "calinski_harabasz",
        "davies_bouldin",
    ]


def test_gmm_keeps_soft_membership():
    X, _ = _planted()
    model = ClusterModel("gmm", k=4, sample_size=1000).fit(X)
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 4)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert np.array_equal(proba.argmax(axis=1), model.labels_)
    assert ClusterModel("kmeans", k=2).fit(X).predict_proba(X) is None


def test_hierarchical_keeps_nested_levels():
    X, _ = _planted()
    model = ClusterModel("hierarchical", k="auto", k_min=2, k_max=6, sample_size=1000).fit(X)
    assert sorted(model.levels_) == [2, 3, 4, 5, 6]
    for k, centers in model.levels_.items():
        assert centers.shape == (k, X.shape[1])
    # Ward levels nest: each level-5 cluster lies inside one level-4 cluster.
    fine = model.predict_level(X, 5)
    coarse = model.predict_level(X, 4)
    with pytest.raises(ValueError, match="k=9"):
        model.predict_level(X, 9)
    parents = [np.bincount(coarse[fine == c]).argmax() for c in range(5)]
    agree = np.mean([coarse[i] == parents[fine[i]] for i in range(len(X))])
    assert agree > 0.97


def test_hdbscan_marks_far_points_as_noise():
    X, _ = _planted(n=2000, k=3)
    outliers = np.full((20, X.shape[1]), 40.0) + np.arange(20)[:, None] * 5
    model = ClusterModel("hdbscan", min_cluster_size=30, sample_size=5000).fit(
        np.vstack([X, outliers])
    )
    assert (model.labels_[-20:] == -1).all()
    assert (model.labels_[:-20] != -1).mean() > 0.9


def test_bad_parameters_are_named():
    X, _ = _planted(n=100)
    with pytest.raises(ValueError, match="'spectral'"):
        ClusterModel("spectral").fit(X)
    with pytest.raises(ValueError, match="k_min"):
        ClusterModel("kmeans", k_min=5, k_max=3).fit(X)
    with pytest.raises(ValueError, match="not fitted"):
        ClusterModel().predict(X)


def test_quality_on_sample_and_noise():
    X, y = _planted(n=1000)
    q = quality(X, y, random_state=0)
    assert q["silhouette"] > 0.5 and q["davies_bouldin"] < 1.0 and q["calinski_harabasz"] > 100
    assert np.isnan(quality(X, np.zeros(len(X), dtype=int), 0)["silhouette"])
    assert len(sample_rows(1000, 300, 0)) == 300 and len(sample_rows(10, 300, 0)) == 10


def test_pick_k_prefers_the_previous_k_among_ties():
    scores = pd.DataFrame(
        {"k": [2, 3, 4], "silhouette": [0.30, 0.29, 0.20], "davies_bouldin": [1.2, 1.1, 0.9]}
    )
    assert pick_k(scores) == 3  # tie on silhouette, lower Davies-Bouldin
    assert pick_k(scores, prefer=2) == 2
    assert pick_k(scores, prefer=4) == 3  # 4 is not a near-tie


def test_warm_start_reproduces_the_previous_centres():
    X, _ = _planted()
    first = ClusterModel("kmeans", k="auto", k_max=6, sample_size=1000).fit(X)
    order = np.arange(first.k_)[::-1]
    again = ClusterModel(
        "kmeans",
        k="auto",
        k_max=6,
        sample_size=1000,
        random_state=99,
        warm_start=first.centers_[order],
    ).fit(X)
    # Started from the (reversed) previous centres: cluster j is the previous cluster order[j].
    np.testing.assert_allclose(again.centers_, first.centers_[order], atol=1e-6)


def test_nearest_center_in_chunks():
    centers = np.array([[0.0, 0.0], [10.0, 10.0]])
    X = np.array([[1.0, 1.0], [9.0, 8.0], [4.9, 4.9], [5.1, 5.1]])
    assert nearest_center(X, centers, chunk=3).tolist() == [0, 1, 0, 1]
