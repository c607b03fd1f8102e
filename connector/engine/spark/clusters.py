"""Cluster models on Spark: the scaled matrix built on the executors, k-means fitted by
pyspark.ml on every row, and rows assigned partition by partition.

The choice of k stays where it is today (`segmentation.clustering.ClusterModel` on a seeded
driver sample). k-means and mini-batch k-means are the families the pandas engine fits on every
row; here pyspark.ml's KMeans fits that k on everyone and its centres are written
back into the ClusterModel, so the batch assignment here and `segsync serve`'s `assign_segments`
on one customer use the very same model. Every other family is fitted as the pandas engine fits
it, on the seeded sample of at most `sample_size` rows, and every row is assigned by that model
on the executors:
- gmm and bisecting_kmeans: the pandas engine fits them on the sample too. pyspark.ml's own fits
  on every row disagree with it: GaussianMixture from its own initialisation reached ARI 0.85
  on planted data; BisectingKMeans splits every divisible cluster of a level at once (scikit-learn
  splits the one with the largest inertia), which cut one planted group in two and merged two
  others (ARI 0.63 against the pandas engine and against the planted truth), and on standardised
  data it does not split at all (it starts a split at centre -/+ 1e-4 x |centre|, and the root's
  centre is the origin).
- dbscan, hdbscan, hierarchical (Ward): no pyspark.ml twin; the same sample fit, then nearest
  core point / nearest sample point / nearest Ward centre for every row on the executors.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame

from connector.engine.spark.session import fit_and_read
from segmentation.clustering import WARD_MAX_ROWS, ClusterModel
from segmentation.scaling import FeatureScaler

#: Families pyspark.ml refits on every row (the others keep the driver sample's fit, see above).
DISTRIBUTED = ("kmeans", "minibatch_kmeans")
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
    from pyspark.ml.clustering import KMeans
    from pyspark.ml.feature import VectorAssembler

    columns = [c for c in matrix.columns if c.startswith("_x")]
    vectors = VectorAssembler(inputCols=columns, outputCol="features").transform(matrix).select("features")
    seed = int(model.random_state)
    family = KMeans(k=model.k_, seed=seed, maxIter=50, tol=1e-6)
    centers = np.array([np.asarray(c, dtype="float64") for c in fit_and_read(family, vectors, _centers)])
    return _with_centers(model, centers)


def _centers(model: Any) -> list[Any]:
    return list(model.clusterCenters())


def fitted_rows(model: ClusterModel, total: int) -> int:
    """Rows the fit of `model` saw: every row for the DISTRIBUTED families, else its driver sample."""
    if model.method in DISTRIBUTED:
        return total
    rows = len(model.sample_)
    return min(rows, WARD_MAX_ROWS) if model.method == "hierarchical" else rows


def _with_centers(model: ClusterModel, centers: np.ndarray) -> ClusterModel:
    from sklearn.cluster import KMeans

    # A KMeans "fitted" on its own centres holds exactly those centres: predict is nearest centre.
    model.estimator_ = KMeans(len(centers), init=centers, n_init=1, max_iter=1).fit(centers)
    model.estimator_.cluster_centers_ = centers
    model.centers_ = centers
    model.k_ = len(centers)
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
