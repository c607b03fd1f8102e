"""Cluster models on Spark: the scaled matrix built on the executors, k-means refitted on every
row there, and rows assigned partition by partition.

The choice of k stays where it is today (`segmentation.clustering.ClusterModel` on a seeded
driver sample). k-means and mini-batch k-means are the families the pandas engine fits on every
row: it runs Lloyd's iterations on everyone from the sample fit's centres. Here the same
iterations run on the executors (each one aggregation of the persisted matrix: nearest centre
and per-centre sums as SQL expressions) and the centres are written back into the ClusterModel,
so the batch assignment here and `segsync serve`'s `assign_segments` on one customer use the
very same model. pyspark.ml's KMeans did this before; it cannot start from given centres (no
initial model in pyspark.ml), so it paid for its own k-means|| initialisation (several passes)
and up to 50 iterations to land near where the sample's centres already are: at 1M customers
the SQL iterations take a fraction of its time (BENCHMARKS.md, "The Spark engine").
Every other family is fitted as the pandas engine fits
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

import numpy as np
import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from segmentation.clustering import WARD_MAX_ROWS, ClusterModel
from segmentation.scaling import FeatureScaler

#: Families refitted on every row (the others keep the driver sample's fit, see above).
DISTRIBUTED = ("kmeans", "minibatch_kmeans")
KEY = "_key"
#: scikit-learn KMeans' defaults: stop when the centres' summed squared shift is at most tol x
#: the mean variance of the columns, after at most max_iter iterations.
LLOYD_TOL, LLOYD_MAX_ITER = 1e-4, 300


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
    """Refit `model`'s centres on every row of `matrix` (from `scaled`): Lloyd's iterations from
    the sample fit's centres, as the pandas engine refits k-means on everyone (one Lloyd run from
    the sample's centres, scikit-learn's stopping rule), each iteration one aggregation over the
    persisted matrix on the executors (nearest centre and per-centre sums as SQL expressions)."""
    if model.method not in DISTRIBUTED:
        return model
    columns = [c for c in matrix.columns if c.startswith("_x")]
    centers = np.asarray(model.centers_, dtype="float64")
    rows = matrix.select(*columns).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        spread = rows.agg(*[F.var_pop(c).alias(c) for c in columns]).first()
        tol = LLOYD_TOL * float(np.mean([spread[c] or 0.0 for c in columns]))
        for _ in range(LLOYD_MAX_ITER):
            moved, centers = _lloyd_step(rows, columns, centers)
            if moved <= tol:
                break
    finally:
        rows.unpersist()
    return _with_centers(model, centers)


def _lloyd_step(rows: DataFrame, columns: list[str], centers: np.ndarray) -> tuple[float, np.ndarray]:
    """(the summed squared shift of the centres, the new centres): each row to its nearest centre
    (the first on a tie, as argmin), each centre to the mean of its rows (an empty one stays)."""
    key = nearest(columns, centers).alias(KEY)
    sums = rows.groupBy(key).agg(F.count(F.lit(1)).alias("_n"), *[F.sum(c).alias(c) for c in columns]).collect()
    moved = centers.copy()
    for row in sums:
        moved[int(row[KEY])] = [row[c] / row["_n"] for c in columns]
    return float(((moved - centers) ** 2).sum()), moved


def nearest(columns: list[str], centers: np.ndarray) -> Column:
    """The index of the nearest of `centers` to the row (columns[j] is coordinate j)."""
    distances = [sum(((F.col(c) - float(x)) ** 2 for c, x in zip(columns, center, strict=True)), F.lit(0.0))
                 for center in centers]
    if len(distances) == 1:
        return F.lit(0)
    least = F.least(*distances)
    index = F.when(distances[0] == least, F.lit(0))
    for k, distance in enumerate(distances[1:], start=1):
        index = index.when(distance == least, F.lit(k))
    return index


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
