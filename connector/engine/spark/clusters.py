"""Cluster models on Spark: the scaled matrix built on the executors, k-means, bisecting k-means
and Gaussian mixtures fitted by pyspark.ml on every row, and rows assigned partition by partition.

The choice of k stays where it is today (`segmentation.clustering.ClusterModel` on a seeded
driver sample); pyspark.ml then fits that k on everyone. The fitted centres (or mixture) are
written back into the ClusterModel, so the batch assignment here and `segsync serve`'s
`assign_segments` on one customer use the very same model. Families without a distributed fit
(DBSCAN, HDBSCAN, Ward, mini-batch k-means) keep the sample fit and assign on the executors.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame

from segmentation.clustering import ClusterModel
from segmentation.scaling import FeatureScaler

DISTRIBUTED = ("kmeans", "bisecting_kmeans", "gmm")
KEY = "_key"


def scaled(features: DataFrame, scaler: FeatureScaler) -> DataFrame:
    """customer_id and the standardised matrix as columns _x0.._x{d-1} (float64), per partition."""
    names = [f"_x{j}" for j in range(len(scaler.columns_out_))]
    schema = "customer_id string, " + ", ".join(f"{n} double" for n in names)

    def transform(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            matrix = scaler.transform(batch)
            out = pd.DataFrame(matrix, columns=names)
            out.insert(0, "customer_id", batch["customer_id"].astype(str).to_numpy())
            yield out

    return features.select("customer_id", *scaler.columns).mapInPandas(transform, schema)


def fit_everyone(matrix: DataFrame, model: ClusterModel) -> ClusterModel:
    """Refit `model`'s family and k on every row of `matrix` (from `scaled`) with pyspark.ml."""
    if model.method not in DISTRIBUTED:
        return model
    from pyspark.ml.clustering import BisectingKMeans, GaussianMixture, KMeans
    from pyspark.ml.feature import VectorAssembler

    columns = [c for c in matrix.columns if c.startswith("_x")]
    vectors = VectorAssembler(inputCols=columns, outputCol="features").transform(matrix).select("features")
    seed = int(model.random_state)
    if model.method == "gmm":
        fitted = GaussianMixture(k=model.k_, seed=seed, maxIter=100, tol=1e-3).fit(vectors)
        return _with_mixture(model, fitted)
    family = KMeans(k=model.k_, seed=seed, maxIter=50, tol=1e-6) if model.method == "kmeans" \
        else BisectingKMeans(k=model.k_, seed=seed, maxIter=50)
    centers = np.array([np.asarray(c, dtype="float64") for c in family.fit(vectors).clusterCenters()])
    return _with_centers(model, centers)


def _with_centers(model: ClusterModel, centers: np.ndarray) -> ClusterModel:
    from sklearn.cluster import KMeans

    # A KMeans "fitted" on its own centres holds exactly those centres: predict is nearest centre.
    model.estimator_ = KMeans(len(centers), init=centers, n_init=1, max_iter=1).fit(centers)
    model.estimator_.cluster_centers_ = centers
    model.centers_ = centers
    model.k_ = len(centers)  # bisecting_kmeans predicts the nearest leaf centre (ClusterModel's default)
    return model


def _with_mixture(model: ClusterModel, fitted) -> ClusterModel:
    from sklearn.mixture import GaussianMixture
    from sklearn.mixture._gaussian_mixture import _compute_precision_cholesky

    rows = fitted.gaussiansDF.collect()
    means = np.array([np.asarray(r["mean"], dtype="float64") for r in rows])
    covariances = np.array([np.asarray(r["cov"].toArray(), dtype="float64") for r in rows])
    gmm = GaussianMixture(len(means), covariance_type="full", reg_covar=1e-4, random_state=model.random_state)
    gmm.weights_ = np.asarray(fitted.weights, dtype="float64")
    gmm.means_ = means
    gmm.covariances_ = covariances + 1e-6 * np.eye(means.shape[1])
    gmm.precisions_cholesky_ = _compute_precision_cholesky(gmm.covariances_, "full")
    gmm.converged_, gmm.n_iter_, gmm.lower_bound_ = True, 0, 0.0
    model.estimator_ = gmm
    model.centers_ = means
    model.k_ = len(means)
    return model


def assign(features: DataFrame, scaler: FeatureScaler, model: ClusterModel, keep: list[str],
           effects: FeatureScaler | None = None) -> DataFrame:
    """customer_id, `keep` columns, _key (the model's cluster index, -1 noise) and, with an
    `effects` scaler, its standardised columns _z0.. (for effect sizes), per partition."""
    needed = [*scaler.columns, *(effects.columns if effects is not None else [])]
    columns = list(dict.fromkeys(["customer_id", *needed, *keep]))
    types = dict(features.dtypes)
    z_names = [f"_z{j}" for j in range(len(effects.columns_out_))] if effects is not None else []
    schema = ", ".join(f"`{c}` {types[c]}" for c in ["customer_id", *keep]) + f", {KEY} bigint"
    schema += "".join(f", {z} double" for z in z_names)

    def predict(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            out = batch[["customer_id", *keep]].copy()
            out[KEY] = model.predict(scaler.transform(batch)).astype("int64") if len(batch) else []
            if effects is not None:
                z = effects.transform(batch) if len(batch) else np.empty((0, len(z_names)))
                out = pd.concat([out.reset_index(drop=True), pd.DataFrame(z, columns=z_names)], axis=1)
            yield out

    return features.select(*columns).mapInPandas(predict, schema)


def driver_sample(features: DataFrame, rows: int, random_state: int, total: int) -> pd.DataFrame:
    """A seeded sample of about `rows` customers (everyone below that), indexed by customer_id, sorted."""
    frame = features if total <= rows else features.sample(fraction=min(1.0, 1.05 * rows / total), seed=random_state)
    sample = frame.toPandas().set_index("customer_id").sort_index()
    return sample.iloc[:rows] if len(sample) > rows else sample


def key_counts(assigned: DataFrame) -> pd.Series:
    counts = assigned.groupBy(KEY).count().toPandas()
    return pd.Series(counts["count"].to_numpy(), index=counts[KEY].to_numpy()).sort_index()
