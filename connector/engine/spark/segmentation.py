"""Segmentation on Spark: `segmentation.engine.segment`'s flow with the heavy parts distributed.

On the driver, as today: the scaler and the choice of k on a seeded sample, the naming rules,
and the segment registry that keeps ids stable across retrains. On the executors: the fit on
every row (Lloyd's iterations for k-means, see `clusters`), every customer's assignment, and the per-segment
profile (sizes, revenue, means, approximate medians, effect sizes) as one aggregation. Only the
sample and per-segment rows reach the driver.

Segment ids across retrains are matched on centroids (the registry's profiles): matching by
members would need every customer's previous segment on the driver.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from connector.engine.spark import clusters
from segmentation import drift as drift_
from segmentation.clustering import NOISE, ClusterModel, quality
from segmentation.engine import (  # the pandas engine's own rules, shared, not copied
    SegmentationParams,
    SegmentationState,
    _cluster_table,
    _empty_drift,
    _profile_columns,
    _too_few,
    _warm_start,
)
from segmentation.naming import NOISE_NAME, describe_effects, name_segments
from segmentation.scaling import FeatureScaler
from segmentation.stability import SegmentRegistry, align

log = logging.getLogger("segsync.spark")

#: Customers the driver sees for the scaler, k and the profile scale (the pandas engine: all).
SAMPLE_ROWS = 200_000


@dataclass
class SparkSegmentation:
    """segments: Spark DataFrame customer_id, segment_id, segment_name, model_version;
    profiles, state, drift, retrained, reason, metrics as in segmentation.engine.SegmentationResult;
    sample: the driver sample (indexed by customer_id) with its segment_id; cached: what `segments`
    reads from the executors' cache (a retrain's assignments), freed by `unpersist` once the caller
    is done with `segments` (a daemon's session outlives its cycles)."""

    segments: DataFrame
    profiles: pd.DataFrame
    state: SegmentationState
    drift: dict
    retrained: bool
    reason: str
    metrics: dict = field(default_factory=dict)
    sample: pd.DataFrame | None = None
    cached: DataFrame | None = None

    def unpersist(self) -> None:
        if self.cached is not None:
            self.cached.unpersist()


def driver_sample(features: DataFrame, params: SegmentationParams, total: int) -> pd.DataFrame:
    """The seeded sample of the features (customer_id-indexed) the driver fits the scaler and
    chooses k on: at most max(params.sample_size, SAMPLE_ROWS) rows, everyone below that."""
    return clusters.driver_sample(features, max(params.sample_size, SAMPLE_ROWS), params.random_state, total)


def segment(features: DataFrame, params: SegmentationParams, previous: SegmentationState | None,
            as_of: pd.Timestamp, sample: pd.DataFrame | None = None) -> SparkSegmentation:
    """Segment every row of `features` (customer_id + feature columns, see spark.features);
    `sample`: its `driver_sample`, when the caller holds it already."""
    if params.method == "rfm":
        raise ValueError("method rfm needs no model: use connector.engine.spark.features.rfm_scores")
    absent = [c for c in params.columns if c not in features.columns]
    if absent:
        raise ValueError(f"segmentation feature(s) {absent} are not columns of the features table")
    total = features.count()
    if total < 1:
        raise ValueError("need at least 1 customer to segment, got 0")
    sample = driver_sample(features, params, total) if sample is None else sample
    too_few = _too_few(sample, params)
    if too_few is not None:
        raise ValueError(too_few)
    as_of = pd.Timestamp(as_of)
    reused = _reuse(features, sample, params, previous, as_of, total)
    if isinstance(reused, SparkSegmentation):
        return reused
    return _train(features, sample, params, previous, as_of, reused, total)


def _reuse(features, sample, params, previous, as_of, total) -> SparkSegmentation | str:
    """The previous model's result when the retrain policy keeps it, else the reason to retrain.
    Its segments are described (today's profiles, as a retrain describes them: the report reads
    their shares and means) by the same aggregation that counts them for the share shift."""
    if previous is None:
        return "first run: no stored model"
    if previous.params.model_params() != params.model_params() or previous.model is None:
        return "segmentation parameters changed since the stored model"
    effect_scaler, numeric = _profile_inputs(sample, params)
    assigned = clusters.assign(features, previous.scaler, previous.model, numeric, effect_scaler)
    effects, profiles = _describe(assigned, numeric, effect_scaler, total)
    shares = _shares(pd.Series(profiles["size"].to_numpy(), index=effects.index), previous.cluster_ids)
    report = {**_empty_drift(), "psi": drift_.psi_table(previous.snapshot, sample),
              "share_shift": drift_.share_shift(previous.shares, shares)}
    age = (as_of - previous.trained_at) / pd.Timedelta(days=1)
    retrain, reason = params.policy().decide(age, report["psi"], report["share_shift"])
    if retrain:
        return reason
    names = {i: e.name for i, e in previous.registry.entries.items()}
    state = replace(previous, assignments=pd.Series(dtype=object))
    return SparkSegmentation(_segments(assigned, previous.cluster_ids, names, state.model_version),
                             _with_ids(profiles, effects.index, previous.cluster_ids, names), state, report, False,
                             reason, dict(previous.metrics))


def _train(features, sample, params, previous, as_of, reason, total) -> SparkSegmentation:
    scaler = FeatureScaler(params.columns).fit(sample)
    X = scaler.transform(sample)
    local = ClusterModel(params.method, params.k, params.k_min, params.k_max, params.sample_size,
                         params.min_cluster_size, params.random_state,
                         warm_start=_warm_start(previous, scaler, params)).fit(X)
    model = clusters.fit_everyone(clusters.scaled(features, scaler), local)
    effect_scaler, numeric = _profile_inputs(sample, params)
    assigned = clusters.assign(features, scaler, model, numeric, effect_scaler).cache()
    effects, profiles = _describe(assigned, numeric, effect_scaler, total)
    proposed = name_segments(effects, profiles)
    if NOISE in proposed.index:
        proposed[NOISE] = NOISE_NAME
    table, scale = _cluster_table(sample, profiles, params, proposed)
    registry = SegmentRegistry.from_dict(previous.registry.to_dict()) if previous else SegmentRegistry()
    sample_keys = pd.Series(model.predict(X), index=sample.index)
    cluster_ids, method = align(registry, table, sample_keys, None, scale, as_of.isoformat())
    counts = pd.Series(profiles["size"].to_numpy(), index=effects.index)
    shares = _shares(counts, cluster_ids)
    version = previous.version_number + 1 if previous else 1
    metrics = {**quality(X, sample_keys.to_numpy(), params.random_state), "k": model.k_,
               "fit_rows": clusters.fitted_rows(model, total)}
    _say_where_fitted(params.method, metrics["fit_rows"], total)
    state = SegmentationState(params, registry, scaler, model, cluster_ids,
                              drift_.feature_snapshot(sample, params.columns), shares, pd.Series(dtype=object),
                              as_of, f"{params.method}-v{version}", version, metrics)
    report = _empty_drift()
    if previous is not None:
        report.update(psi=drift_.psi_table(previous.snapshot, sample),
                      share_shift=drift_.share_shift(previous.shares, shares))
    report["match_method"] = method
    names = {i: e.name for i, e in registry.entries.items()}
    profiles = _with_ids(profiles, effects.index, cluster_ids, names)
    segments = _segments(assigned, cluster_ids, names, state.model_version)
    return SparkSegmentation(segments, profiles, state, report, True, reason, metrics,
                             sample.assign(segment_id=sample_keys.map(cluster_ids)), cached=assigned)


def _say_where_fitted(method: str, rows: int, total: int) -> None:
    if method in clusters.DISTRIBUTED:
        log.info("%s: refitted on all %d rows on the executors (Lloyd from the sample fit's centres)", method, total)
    else:  # see connector.engine.spark.clusters for why these keep the pandas engine's sample fit
        log.info("%s: fitted on a driver sample of %d of %d rows (as the pandas engine fits it); "
                 "every row assigned on the executors", method, rows, total)


def _describe(assigned: DataFrame, numeric: list[str], effects: FeatureScaler, total: int):
    """(effect sizes, profiles) per cluster key, sorted by key, from one aggregation."""
    z = [f"_z{j}" for j in range(len(effects.columns_out_))]
    aggs = [F.count(F.lit(1)).alias("size")]
    aggs += [F.avg(c).alias(f"mean_{c}") for c in numeric]
    aggs += [F.percentile_approx(c, 0.5, 10_000).cast("double").alias(f"median_{c}") for c in numeric]
    aggs += [F.avg(c).alias(c) for c in z]
    if "monetary_total" in numeric:
        aggs.append(F.sum("monetary_total").alias("revenue"))
    table = assigned.groupBy(clusters.KEY).agg(*aggs).toPandas().sort_values(clusters.KEY).set_index(clusters.KEY)
    effect = table[z].set_axis(effects.columns_out_, axis=1)
    out = pd.DataFrame({"segment_id": table.index.astype(str), "size": table["size"].to_numpy()})
    out["share"] = out["size"] / max(total, 1)
    if "revenue" in table:
        out["revenue"] = table["revenue"].to_numpy()
        whole = out["revenue"].sum()
        out["revenue_share"] = out["revenue"] / whole if whole > 0 else 0.0
    for c in numeric:
        out[f"mean_{c}"] = table[f"mean_{c}"].to_numpy()
        out[f"median_{c}"] = table[f"median_{c}"].to_numpy()
    out["top_attributes"] = [describe_effects(effect.loc[k]) for k in table.index]
    return effect, out


def _segments(assigned: DataFrame, cluster_ids: dict, names: dict, version: str) -> DataFrame:
    ids = F.create_map(*[F.lit(x) for k, v in cluster_ids.items() for x in (int(k), str(v))])
    label = F.create_map(*[F.lit(x) for k, v in cluster_ids.items() for x in (int(k), str(names[v]))])
    return assigned.select("customer_id", ids[F.col(clusters.KEY)].alias("segment_id"),
                           label[F.col(clusters.KEY)].alias("segment_name"), F.lit(version).alias("model_version"))


def _shares(counts: pd.Series, cluster_ids: dict) -> pd.Series:
    by_id = counts.groupby(counts.index.map(cluster_ids)).sum()
    return (by_id / max(int(by_id.sum()), 1)).sort_index()


def _profile_inputs(sample: pd.DataFrame, params: SegmentationParams) -> tuple[FeatureScaler, list[str]]:
    """The scaler of the profile columns' effect sizes (fitted on the sample) and the numeric ones."""
    columns = _profile_columns(sample, params)
    return FeatureScaler(columns).fit(sample), [c for c in columns if pd.api.types.is_numeric_dtype(sample[c])]


def _with_ids(profiles: pd.DataFrame, keys: pd.Index, cluster_ids: dict, names: dict) -> pd.DataFrame:
    """`profiles` (one row per cluster key, in `keys`' order) with segment ids and names, by id."""
    profiles["segment_id"] = [cluster_ids[k] for k in keys]
    profiles.insert(1, "segment_name", profiles["segment_id"].map(names))
    return profiles.sort_values("segment_id", kind="stable").reset_index(drop=True)


__all__ = ["SAMPLE_ROWS", "SparkSegmentation", "driver_sample", "segment"]
