"""Clustering families behind one interface, safe at 1M rows.

`ClusterModel(method=...)` fits on a standardised matrix (see scaling.FeatureScaler) and
assigns every row. Anything super-linear runs on a seeded sample only: the choice of k,
silhouette, GMM, DBSCAN/HDBSCAN and Ward; the remaining rows are then assigned by the
fitted model (`predict`), nearest centroid, or nearest fitted sample point.

Label -1 means noise (DBSCAN/HDBSCAN); the engine turns it into a segment of its own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.cluster import DBSCAN, HDBSCAN, BisectingKMeans, KMeans, MiniBatchKMeans
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors

METHODS = ("kmeans", "minibatch_kmeans", "bisecting_kmeans", "gmm", "dbscan", "hdbscan", "hierarchical")
NOISE = -1
# Ward needs the full pairwise distance matrix: 4,000 rows is 64 MB, 20,000 would be 1.6 GB.
WARD_MAX_ROWS = 4_000
# Silhouettes within this distance of the best count as a tie; Davies-Bouldin decides.
_SILHOUETTE_TIE = 0.02
# Silhouette is O(n^2) (sklearn#4701, #7175): each draw uses at most this many rows.
SILHOUETTE_ROWS = 5_000
# Variance added to every Gaussian's diagonal, in standardised units: no component is thinner
# than 0.1 of a feature's population sd. Customer features sit on lattices (frequency is a count)
# and on exact relations (monetary_total = frequency x monetary_mean); at sklearn's 1e-6 or at
# 1e-4, BIC rewards ever thinner components along them: four planted customer groups came out as
# k=9 or 10 (ARI 0.75-0.86 over five draws), and k=4 with ARI 1.0 at this floor.
GMM_REG_COVAR = 1e-2


class ClusterModel:
    """One clustering family, chosen by name; scikit-learn conventions.

    Parameters mirror SegmentationConfig: method, k ("auto" or an int), k_min, k_max,
    sample_size (rows used for the super-linear steps), min_cluster_size (DBSCAN/HDBSCAN,
    in sample rows), random_state, warm_start (the previous model's centres in the space of
    the matrix being fitted, or None: kmeans, minibatch_kmeans and gmm start from them when
    the number of clusters matches, and k="auto" keeps that number when its silhouette ties
    the best, so a retrain on similar data finds the same segments).
    Learned: labels_ (one per fitted row, -1 = noise), centers_ (k_ x d), k_, k_scores_
    (DataFrame k, silhouette, calinski_harabasz, davies_bouldin, bic when k was chosen),
    estimator_; for gmm `predict_proba`; for hierarchical linkage_ and levels_ (k -> centers,
    so a segment can be split or merged by moving one level).
    """

    def __init__(
        self,
        method: str = "kmeans",
        k: int | str = "auto",
        k_min: int = 2,
        k_max: int = 10,
        sample_size: int = 20_000,
        min_cluster_size: int = 50,
        random_state: int = 0,
        warm_start: np.ndarray | None = None,
    ) -> None:
        self.method = method
        self.k = k
        self.k_min = k_min
        self.k_max = k_max
        self.sample_size = sample_size
        self.min_cluster_size = min_cluster_size
        self.random_state = random_state
        self.warm_start = warm_start

    def fit(self, X: np.ndarray) -> ClusterModel:
        if self.method not in METHODS:
            raise ValueError(
                f"unknown clustering method {self.method!r}; expected one of {METHODS}"
            )
        if self.k != "auto" and (not isinstance(self.k, int) or self.k < 1):
            raise ValueError(f"k must be 'auto' or a positive integer, not {self.k!r}")
        if self.k_min > self.k_max:
            raise ValueError(f"k_min ({self.k_min}) is greater than k_max ({self.k_max})")
        if len(X) < 2:
            raise ValueError(f"need at least 2 customers to cluster, got {len(X)}")
        self.sample_ = sample_rows(len(X), self.sample_size, self.random_state)
        getattr(self, f"_fit_{self.method}")(X)
        self.k_ = len(self.centers_)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Cluster index per row (0..k_-1, or -1 for noise)."""
        if not hasattr(self, "centers_"):
            raise ValueError("ClusterModel is not fitted; call fit first")
        if self.method in ("kmeans", "minibatch_kmeans", "gmm"):
            return self.estimator_.predict(X).astype("int64")
        if self.method in ("dbscan", "hdbscan"):
            return self._predict_by_neighbour(X)
        return nearest_center(X, self.centers_)

    def predict_row(self, x: np.ndarray) -> int:
        """`predict` for one point (1-D): for the centroid families the nearest centre
        straight from the arrays, sparing scikit-learn's per-call checks and thread pools."""
        if self.method in ("kmeans", "minibatch_kmeans") and hasattr(self, "estimator_"):
            centers = self.estimator_.cluster_centers_
            return int(np.argmin(((centers - x) ** 2).sum(axis=1)))
        return int(self.predict(np.asarray(x, dtype=float)[None, :])[0])

    def predict_level(self, X: np.ndarray, k: int) -> np.ndarray:
        """hierarchical only: cluster per row at the Ward level with k clusters, to split a
        segment (k_ + 1) or merge two (k_ - 1) without refitting."""
        levels = getattr(self, "levels_", None)
        if levels is None or k not in levels:
            raise ValueError(f"no stored level with k={k}; levels are {sorted(levels or {})}")
        return nearest_center(X, levels[k])

    def predict_proba(self, X: np.ndarray) -> np.ndarray | None:
        """Soft membership (n x k_) for gmm; None for the hard-assignment families."""
        return self.estimator_.predict_proba(X) if self.method == "gmm" else None

    # --------------------------------------------------------------- families

    def _fit_kmeans(self, X: np.ndarray) -> None:
        make = lambda k: KMeans(k, n_init=3, random_state=self.random_state)  # noqa: E731
        k, seed = self._choose_k(X, make)
        init = self._warm(k)
        if init is None:
            init = (seed or make(k).fit(X[self.sample_])).cluster_centers_
        # Start from the previous model's or the sample's centres: one Lloyd run on everyone.
        self.estimator_ = KMeans(k, init=init, n_init=1, random_state=self.random_state).fit(X)
        self.labels_ = self.estimator_.labels_.astype("int64")
        self.centers_ = self.estimator_.cluster_centers_

    def _fit_minibatch_kmeans(self, X: np.ndarray) -> None:
        k, _ = self._choose_k(X, lambda k: self._minibatch(k))
        init = self._warm(k)
        estimator = self._minibatch(k)
        if init is not None:
            estimator.set_params(init=init, n_init=1)
        self.estimator_ = estimator.fit(X)
        self.labels_ = self.estimator_.predict(X).astype("int64")
        self.centers_ = self.estimator_.cluster_centers_

    def _fit_bisecting_kmeans(self, X: np.ndarray) -> None:
        """Divisive k-means (split the largest cluster in two until k): stable top-level splits;
        the Spark engine fits the same family with pyspark.ml. Rows go to the nearest leaf centre."""
        make = lambda k: BisectingKMeans(k, n_init=3, random_state=self.random_state)  # noqa: E731
        k, seed = self._choose_k(X, make)
        self.estimator_ = seed or make(k).fit(X[self.sample_])
        self.centers_ = self.estimator_.cluster_centers_
        self.labels_ = nearest_center(X, self.centers_)

    def _minibatch(self, k: int) -> MiniBatchKMeans:
        return MiniBatchKMeans(k, batch_size=4096, n_init=3, random_state=self.random_state)

    def _fit_gmm(self, X: np.ndarray) -> None:
        sample = X[self.sample_]
        if self.k == "auto":
            rows = []
            for k in range(self.k_min, min(self.k_max, len(sample) - 1) + 1):
                gmm = self._gmm(k).fit(sample)
                rows.append({"k": k, "bic": gmm.bic(sample)})
            self.k_scores_ = pd.DataFrame(rows)
            k = int(self.k_scores_.sort_values(["bic", "k"]).iloc[0]["k"])
        else:
            k = int(self.k)
        self.estimator_ = self._gmm(k).set_params(means_init=self._warm(k)).fit(sample)
        self.labels_ = self.estimator_.predict(X).astype("int64")
        self.centers_ = self.estimator_.means_

    def _gmm(self, k: int) -> GaussianMixture:
        return GaussianMixture(
            k, covariance_type="full", n_init=1, reg_covar=GMM_REG_COVAR, random_state=self.random_state
        )

    def _fit_dbscan(self, X: np.ndarray) -> None:
        sample = X[self.sample_]
        min_samples = min(self.min_cluster_size, max(2, len(sample) // 10))
        self.eps_ = knee_eps(sample, min_samples)
        fitted = DBSCAN(eps=self.eps_, min_samples=min_samples).fit(sample)
        self.estimator_ = fitted
        core = fitted.core_sample_indices_
        self._set_reference(sample[core], fitted.labels_[core], radius=self.eps_)
        self._finish_density(X, sample, fitted.labels_)

    def _fit_hdbscan(self, X: np.ndarray) -> None:
        sample = X[self.sample_]
        size = min(self.min_cluster_size, max(2, len(sample) // 10))
        fitted = HDBSCAN(min_cluster_size=size, copy=True).fit(sample)
        self.estimator_ = fitted
        self._set_reference(sample, fitted.labels_, radius=np.inf)
        self._finish_density(X, sample, fitted.labels_)

    def _set_reference(self, points: np.ndarray, labels: np.ndarray, radius: float) -> None:
        self.reference_labels_ = labels.astype("int64")
        self.radius_ = radius
        self.neighbours_ = NearestNeighbors(n_neighbors=1).fit(points) if len(points) else None

    def _finish_density(self, X: np.ndarray, sample: np.ndarray, labels: np.ndarray) -> None:
        found = sorted(set(labels.tolist()) - {NOISE})
        if not found:
            raise ValueError("density clustering found no cluster; lower min_cluster_size")
        self.centers_ = np.vstack([sample[labels == c].mean(axis=0) for c in found])
        self.labels_ = self._predict_by_neighbour(X)
        self.labels_[self.sample_] = labels

    def _predict_by_neighbour(self, X: np.ndarray) -> np.ndarray:
        if self.neighbours_ is None:
            return np.full(len(X), NOISE, dtype="int64")
        dist, idx = self.neighbours_.kneighbors(X)
        out = self.reference_labels_[idx[:, 0]].copy()
        out[dist[:, 0] > self.radius_] = NOISE
        return out

    def _fit_hierarchical(self, X: np.ndarray) -> None:
        rows = self.sample_[:WARD_MAX_ROWS]
        sample = X[rows]
        self.linkage_ = linkage(sample, method="ward")
        top = min(self.k_max if self.k == "auto" else int(self.k), len(sample) - 1)
        low = self.k_min if self.k == "auto" else int(self.k)
        self.levels_ = {}
        scores = []
        for k in range(max(1, low), top + 1):
            labels = fcluster(self.linkage_, k, criterion="maxclust") - 1
            self.levels_[k] = np.vstack(
                [sample[labels == c].mean(axis=0) for c in np.unique(labels)]
            )
            if self.k == "auto":
                scores.append({"k": k, **quality(sample, labels, self.random_state, draws=1)})
        if self.k == "auto":
            self.k_scores_ = pd.DataFrame(scores)
            k = pick_k(self.k_scores_, self._preferred_k())
        else:
            k = int(self.k)
        self.centers_ = self.levels_[k]
        self.labels_ = nearest_center(X, self.centers_)

    def _choose_k(self, X: np.ndarray, make) -> tuple[int, Any]:
        """(k, the estimator fitted on the sample for that k, or None when k was given)."""
        if self.k != "auto":
            return int(self.k), None
        sample = X[self.sample_]
        rows, fitted = [], {}
        for k in range(self.k_min, min(self.k_max, len(sample) - 1) + 1):
            fitted[k] = make(k).fit(sample)
            rows.append({"k": k, **quality(sample, fitted[k].labels_, self.random_state, draws=1)})
        self.k_scores_ = pd.DataFrame(rows)
        k = pick_k(self.k_scores_, self._preferred_k())
        return k, fitted[k]

    def _preferred_k(self) -> int | None:
        return None if self.warm_start is None else len(self.warm_start)

    def _warm(self, k: int) -> np.ndarray | None:
        if self.warm_start is None or len(self.warm_start) != k:
            return None
        return np.asarray(self.warm_start, dtype="float64")


def pick_k(scores: pd.DataFrame, prefer: int | None = None) -> int:
    """Best silhouette; among near-ties (within 0.02) `prefer` (the previous k) if present,
    else the lowest Davies-Bouldin, then the smaller k."""
    best = scores["silhouette"].max()
    close = scores[scores["silhouette"] >= best - _SILHOUETTE_TIE]
    if prefer is not None and prefer in set(close["k"]):
        return int(prefer)
    return int(close.sort_values(["davies_bouldin", "k"]).iloc[0]["k"])


def quality(X: np.ndarray, labels: np.ndarray, random_state: int, draws: int = 3) -> dict:
    """Cluster quality ignoring noise: silhouette as the mean (and sd) over `draws` seeded
    samples of up to SILHOUETTE_ROWS rows; Calinski-Harabasz and Davies-Bouldin, O(n k), on
    all rows. NaN when fewer than 2 clusters remain."""
    keep = labels != NOISE
    X, labels = X[keep], labels[keep]
    n_labels = len(np.unique(labels))
    nan = float("nan")
    if n_labels < 2 or n_labels >= len(X):
        return {
            "silhouette": nan,
            "silhouette_sd": nan,
            "calinski_harabasz": nan,
            "davies_bouldin": nan,
        }
    sils = []
    for draw in range(draws):
        rows = sample_rows(len(X), SILHOUETTE_ROWS, random_state + draw)
        if len(np.unique(labels[rows])) >= 2:
            sils.append(float(silhouette_score(X[rows], labels[rows])))
        if len(rows) == len(X):
            break  # every draw would be the same rows
    return {
        "silhouette": float(np.mean(sils)) if sils else nan,
        "silhouette_sd": float(np.std(sils)) if sils else nan,
        "calinski_harabasz": float(calinski_harabasz_score(X, labels)),
        "davies_bouldin": float(davies_bouldin_score(X, labels)),
    }


def sample_rows(n: int, size: int, random_state: int) -> np.ndarray:
    """Sorted seeded sample of row positions (all rows when n <= size)."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(random_state).choice(n, size=size, replace=False))


def nearest_center(X: np.ndarray, centers: np.ndarray, chunk: int = 200_000) -> np.ndarray:
    """Index of the nearest centre per row, in chunks so memory stays O(chunk x k)."""
    out = np.empty(len(X), dtype="int64")
    c2 = (centers**2).sum(axis=1)
    for start in range(0, len(X), chunk):
        block = X[start : start + chunk]
        out[start : start + chunk] = np.argmin(c2 - 2.0 * block @ centers.T, axis=1)
    return out


def knee_eps(X: np.ndarray, min_samples: int) -> float:
    """DBSCAN radius: the 90th percentile of each point's distance to its min_samples-th
    neighbour, i.e. dense enough that 90 % of points could be core points."""
    dist, _ = NearestNeighbors(n_neighbors=min_samples).fit(X).kneighbors(X)
    return float(np.quantile(dist[:, -1], 0.9))
