"""The facade the pipeline calls: features in, stable segments, profiles and drift out.

`segment(features, params, previous, as_of)` either reuses the stored model (assigning
every customer with it) or retrains, as the retrain policy decides, and always says why.
A retrain aligns the new clusters with the registry so segment ids survive it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from segmentation import drift as drift_
from segmentation.clustering import NOISE, ClusterModel, quality
from segmentation.features import BEHAVIOUR_COLUMNS
from segmentation.naming import NOISE_NAME, effect_sizes, name_segments, profile_segments
from segmentation.rfm import rfm_scores
from segmentation.scaling import FeatureScaler
from segmentation.stability import SegmentRegistry, align

_POLICY_FIELDS = ("retrain_every_days", "psi_threshold", "share_shift_threshold")


@dataclass(frozen=True)
class SegmentationParams:
    """Plain mirror of connector.config.SegmentationConfig (retrain policy flattened)."""

    method: str = "kmeans"
    k: int | str = "auto"
    k_min: int = 2
    k_max: int = 10
    features: tuple[str, ...] = (
        "recency_days",
        "frequency",
        "monetary_total",
        "monetary_mean",
        "tenure_days",
    )
    attributes: tuple[str, ...] = ()
    sample_size: int = 20_000
    min_cluster_size: int = 50
    random_state: int = 0
    retrain_every_days: int | None = 30
    psi_threshold: float | None = 0.25
    share_shift_threshold: float | None = 0.10

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys([*self.features, *self.attributes]))

    def policy(self) -> drift_.RetrainPolicy:
        return drift_.RetrainPolicy(
            self.retrain_every_days, self.psi_threshold, self.share_shift_threshold
        )

    def model_params(self) -> SegmentationParams:
        """These parameters without the retrain policy (changing the policy needs no retrain)."""
        return replace(
            self, retrain_every_days=None, psi_threshold=None, share_shift_threshold=None
        )


@dataclass
class SegmentationState:
    """Everything the next run needs; picklable (the registry also has to_dict/from_dict).

    cluster_ids maps the model's cluster index (-1 = noise) to segment_id; assignments is the
    last run's customer_id -> segment_id; shares are segment shares at training; snapshot
    is the PSI reference (drift.feature_snapshot) of the training features.
    """

    params: SegmentationParams
    registry: SegmentRegistry
    scaler: FeatureScaler | None
    model: ClusterModel | None
    cluster_ids: dict
    snapshot: dict
    shares: pd.Series
    assignments: pd.Series
    trained_at: pd.Timestamp
    model_version: str
    version_number: int = 1
    metrics: dict = field(default_factory=dict)


@dataclass
class SegmentationResult:
    """segments: customer_id, segment_id, segment_name, model_version (one row per customer).
    profiles: per segment_id (see naming.profile_segments) plus segment_name.
    drift: psi, share_shift (DataFrames), migration (DataFrame), ari, n_shared, match_method.
    membership: for gmm, customer_id x segment_id probabilities; else None."""

    segments: pd.DataFrame
    profiles: pd.DataFrame
    state: SegmentationState
    drift: dict
    retrained: bool
    reason: str
    metrics: dict
    membership: pd.DataFrame | None = None


def segment(
    features: pd.DataFrame,
    params: SegmentationParams,
    previous: SegmentationState | None,
    as_of: pd.Timestamp,
) -> SegmentationResult:
    """Segment every customer in `features` (indexed by customer_id, see build_features)."""
    _check(features, params)
    as_of = pd.Timestamp(as_of)
    if params.method == "rfm":
        return _segment_rfm(features, params, previous, as_of)
    too_few = _too_few(features, params)
    if too_few is not None:
        result = _segment_rfm(features, params, previous, as_of)
        result.reason = too_few
        result.metrics["fallback"] = too_few
        return result
    _, reason, reused = _decide(features, params, previous, as_of)
    if reused is not None:
        return reused
    return _train(features, params, previous, as_of, reason)


def assign_segments(state: SegmentationState, features: pd.DataFrame) -> pd.Series | None:
    """segment_id per row of `features` under a stored model, without refitting anything.

    The real-time API uses it for a customer the model never saw or whose features moved.
    None for RFM, whose segments are population quintiles and need the whole population.
    """
    if state.model is None or state.scaler is None:
        return None
    keys = pd.Series(state.model.predict(state.scaler.transform(features)), index=features.index)
    return keys.map(state.cluster_ids)


def assign_segment(state: SegmentationState, values: Mapping[str, Any]) -> str | None:
    """`assign_segments` for one customer given as {feature: value}, without a DataFrame."""
    if state.model is None or state.scaler is None:
        return None
    cluster = state.model.predict_row(state.scaler.transform_row(values))
    segment = state.cluster_ids.get(cluster)
    return None if segment is None else str(segment)


def _check(features: pd.DataFrame, params: SegmentationParams) -> None:
    absent = [c for c in params.columns if c not in features.columns]
    if absent:
        raise ValueError(f"segmentation feature(s) {absent} are not columns of the features table")
    if len(features) < 1:
        raise ValueError("need at least 1 customer to segment, got 0")
    if not features.index.is_unique:
        raise ValueError("features index (customer_id) has duplicates")


def _too_few(features: pd.DataFrame, params: SegmentationParams) -> str | None:
    """Why the data cannot be clustered as configured (None when it can).

    Choosing k by silhouette needs at least k + 1 distinct points for the smallest k tried,
    and a fixed k needs k distinct points; below that RFM (quintiles, no model) still names
    segments."""
    need = (params.k_min + 1) if params.k == "auto" else int(params.k)
    distinct = len(features[params.columns].drop_duplicates())
    if distinct >= need:
        return None
    return (f"only {distinct} distinct customer profile(s) among {len(features)} customer(s): too few for "
            f"{params.method} with k {'>= ' + str(params.k_min) if params.k == 'auto' else params.k}; "
            "fell back to RFM segments")


def _decide(features, params, previous, as_of) -> tuple[bool, str, SegmentationResult | None]:
    if previous is None:
        return True, "first run: no stored model", None
    if previous.params.model_params() != params.model_params() or previous.model is None:
        return True, "segmentation parameters changed since the stored model", None
    X = previous.scaler.transform(features)
    keys = pd.Series(previous.model.predict(X), index=features.index)
    ids = keys.map(previous.cluster_ids)
    if ids.isna().any():  # only possible if the state was edited by hand
        return True, "stored model produced a cluster without a segment id", None
    report = _drift(previous, features, ids, previous.shares)
    age = (as_of - previous.trained_at) / pd.Timedelta(days=1)
    retrain, reason = params.policy().decide(age, report["psi"], report["share_shift"])
    if retrain:
        return True, reason, None
    names = pd.Series({i: e.name for i, e in previous.registry.entries.items()})
    metrics = {
        **quality(X, keys.to_numpy(), params.random_state),
        "k": previous.model.k_,
    }
    state = replace(previous, assignments=ids, metrics=metrics)
    result = _result(
        features, ids, names, state, report, False, reason, _describe(features, ids, params)[1]
    )
    result.membership = _membership(previous, X, features.index)
    return False, reason, result


def _train(features, params, previous, as_of, reason) -> SegmentationResult:
    scaler = FeatureScaler(params.columns).fit(features)
    X = scaler.transform(features)
    model = ClusterModel(
        params.method,
        params.k,
        params.k_min,
        params.k_max,
        params.sample_size,
        params.min_cluster_size,
        params.random_state,
        warm_start=_warm_start(previous, scaler, params),
    ).fit(X)
    keys = pd.Series(model.labels_, index=features.index)
    registry = (
        SegmentRegistry.from_dict(previous.registry.to_dict()) if previous else SegmentRegistry()
    )
    effects, profiles = _describe(features, keys, params)
    proposed = name_segments(effects, profiles)
    if NOISE in proposed.index:
        proposed[NOISE] = NOISE_NAME
    clusters, scale = _cluster_table(features, profiles, params, proposed)
    before = previous.assignments if previous is not None else None
    cluster_ids, method = align(registry, clusters, keys, before, scale, as_of.isoformat())
    ids = keys.map(cluster_ids)
    shares = ids.value_counts(normalize=True).sort_index()
    metrics = {**quality(X, model.labels_, params.random_state), "k": model.k_}
    version = previous.version_number + 1 if previous else 1
    state = SegmentationState(
        params,
        registry,
        scaler,
        model,
        cluster_ids,
        drift_.feature_snapshot(features, params.columns),
        shares,
        ids,
        as_of,
        f"{params.method}-v{version}",
        version,
        metrics,
    )
    report = _drift(previous, features, ids, shares) if previous else _empty_drift()
    report["match_method"] = method
    names = pd.Series({i: e.name for i, e in registry.entries.items()})
    profiles["segment_id"] = [cluster_ids[k] for k in effects.index]
    result = _result(features, ids, names, state, report, True, reason, profiles)
    result.membership = _membership(state, X, features.index)
    return result


def _warm_start(previous, scaler: FeatureScaler, params) -> np.ndarray | None:
    """The previous model's centres in the new feature space (same method only), so a
    retrain on similar data starts where the last one ended (reference/segmentation.md 5)."""
    if previous is None or previous.model is None or previous.scaler is None:
        return None
    if previous.params.method != params.method or params.method in ("dbscan", "hdbscan"):
        return None
    return scaler.translate(previous.model.centers_, previous.scaler)


def _describe(features, keys: pd.Series, params) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(effect sizes, profiles) per key; both sorted by key, so rows line up."""
    columns = _profile_columns(features, params)
    effects = effect_sizes(features, keys, columns)
    return effects, profile_segments(features, keys, columns, effects)


def _cluster_table(
    features, profiles: pd.DataFrame, params, names: pd.Series
) -> tuple[pd.DataFrame, pd.Series]:
    """Per cluster key: name, size and medians of the numeric features (from the profiles,
    whose rows follow the sorted keys); plus the scale (sd of signed-log values in the
    current population) that puts medians on one yardstick."""
    numeric = [c for c in params.columns if pd.api.types.is_numeric_dtype(features[c])]
    table = pd.DataFrame(
        {c: profiles[f"median_{c}"].to_numpy() for c in numeric}, index=names.index
    )
    table["size"] = profiles["size"].to_numpy()
    table["name"] = names.to_numpy()
    logged = np.sign(features[numeric]) * np.log1p(features[numeric].abs())
    scale = logged.std().fillna(1.0).replace(0.0, 1.0)
    return table, scale


def _profile_columns(features, params) -> list[str]:
    extra = [c for c in (*BEHAVIOUR_COLUMNS, "clv") if c in features.columns]
    return list(dict.fromkeys([*extra, *params.columns]))


def _drift(previous: SegmentationState, features, ids: pd.Series, shares: pd.Series) -> dict:
    current = ids.value_counts(normalize=True).sort_index()
    return {
        "psi": drift_.psi_table(previous.snapshot, features),
        "share_shift": drift_.share_shift(previous.shares, current),
        "migration": drift_.migration_matrix(previous.assignments, ids),
        **drift_.agreement(previous.assignments, ids),
    }


def _empty_drift() -> dict:
    return {
        "psi": pd.DataFrame(columns=["feature", "psi", "level"]),
        "share_shift": pd.DataFrame(
            columns=["segment_id", "previous_share", "current_share", "shift"]
        ),
        "migration": pd.DataFrame(),
        "ari": float("nan"),
        "n_shared": 0,
    }


def _result(features, ids, names, state, report, retrained, reason, profiles) -> SegmentationResult:
    segments = pd.DataFrame(
        {
            "customer_id": features.index.astype(str),
            "segment_id": ids.to_numpy(),
            "segment_name": ids.map(names).to_numpy(),
            "model_version": state.model_version,
        }
    )
    profiles.insert(1, "segment_name", profiles["segment_id"].map(names))
    profiles = profiles.sort_values("segment_id", kind="stable").reset_index(drop=True)
    return SegmentationResult(segments, profiles, state, report, retrained, reason, state.metrics)


def _membership(state: SegmentationState, X: np.ndarray, index: pd.Index) -> pd.DataFrame | None:
    proba = state.model.predict_proba(X) if state.model is not None else None
    if proba is None:
        return None
    columns = [state.cluster_ids[k] for k in range(proba.shape[1])]
    return pd.DataFrame(proba, index=index, columns=columns)


def _segment_rfm(features, params, previous, as_of) -> SegmentationResult:
    """RFM needs no model: scores are population quintiles, recomputed every run; segment
    ids are kept per RFM segment name."""
    scores = rfm_scores(features)
    registry = (
        SegmentRegistry.from_dict(previous.registry.to_dict()) if previous else SegmentRegistry()
    )
    by_name = {e.name: e.segment_id for e in registry.active()}
    for name in sorted(set(scores["rfm_segment"])):
        if name not in by_name:
            by_name[name] = registry.issue(name, as_of.isoformat(), 0, {})
    ids = scores["rfm_segment"].map(by_name)
    for segment_id, size in ids.value_counts().items():
        registry.entries[segment_id].size = int(size)
    shares = ids.value_counts(normalize=True).sort_index()
    version = previous.version_number + 1 if previous else 1
    state = SegmentationState(
        params,
        registry,
        None,
        None,
        by_name,
        drift_.feature_snapshot(features, params.columns),
        shares,
        ids,
        as_of,
        f"rfm-v{version}",
        version,
        {"k": int(ids.nunique())},
    )
    report = _drift(previous, features, ids, shares) if previous else _empty_drift()
    names = pd.Series({i: e.name for i, e in registry.entries.items()})
    reason = "rfm: quintile scores recomputed on the current population"
    return _result(
        features, ids, names, state, report, True, reason, _describe(features, ids, params)[1]
    )
