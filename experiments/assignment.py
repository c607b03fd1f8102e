"""Sticky, GrowthBook-compatible arm assignment per segment, behind a global holdout.

Public API (a promise to users): ``hash_value``, ``bucket_ranges``, ``choose_variation``,
ported from growthbook/growthbook ``packages/sdk-js/src/util.ts`` and checked against its
shared ``cases.json``; and ``assign_arms`` for the arms table.

Decisions (see ``assign_arms``):

* Hash seed = the experiment key, value = ``customer_id``, hash version 2. The segment
  is a targeting condition, not part of the seed, so the arm is exactly what a GrowthBook
  SDK computes for ``Experiment(key=<key>, weights, coverage, hashVersion=2)`` with
  ``hashAttribute`` = the customer id, and a customer who changes segment would hash to
  the same arm even if the stored arm were lost. Within a segment, hashes are still
  independent across customers, so per-segment analysis loses nothing.
* The global holdout hashes ``customer_id`` on its own seed (v2) and holds out
  ``hash < share`` (a GrowthBook filter with range ``[0, share)``), before any experiment.
  Held-out customers ARE recorded, with arm ``"holdout"``: the CRM must know who gets no
  campaign (GrowthBook issue #5570), and the record keeps them held out for this
  experiment even if the share later falls. The analysis leaves them out.
* Stickiness wins over everything: an arm in ``existing`` is never recomputed, whatever
  happened to segment, weights, coverage or holdout share since.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pandas as pd

from experiments.hashing import hash_value, hash_values
from experiments.spec import HOLDOUT_ARM, ExperimentSpec, HoldoutSpec

__all__ = [
    "ARMS_COLUMNS",
    "assign_arm",
    "assign_arms",
    "bucket_ranges",
    "choose_variation",
    "choose_variations",
    "equal_weights",
    "hash_value",
    "held_out",
    "in_namespace",
]

#: Columns of the arms table (see DESIGN.md, canonical tables).
ARMS_COLUMNS = ["experiment", "customer_id", "arm", "segment_id", "assigned_at"]


def equal_weights(n_arms: int) -> list[float]:
    """GrowthBook ``getEqualWeights``: ``n`` weights of ``1/n``; empty for ``n <= 0``."""
    return [1.0 / n_arms] * n_arms if n_arms > 0 else []


def bucket_ranges(
    n_arms: int, coverage: float = 1.0, weights: Sequence[float] | None = None
) -> list[tuple[float, float]]:
    """GrowthBook ``getBucketRanges``: one ``[start, end)`` per arm.

    Coverage is clamped to [0, 1]; weights of the wrong length or summing outside
    [0.99, 1.01] fall back to equal weights. Each arm keeps its start whatever the
    coverage, so raising coverage only adds customers: nobody already in moves.
    """
    coverage = min(max(coverage, 0.0), 1.0)
    w = list(weights) if weights is not None else equal_weights(n_arms)
    if len(w) != n_arms or not 0.99 <= sum(w) <= 1.01:
        w = equal_weights(n_arms)
    ranges, cumulative = [], 0.0
    for weight in w:
        ranges.append((cumulative, cumulative + coverage * weight))
        cumulative += weight
    return ranges


def choose_variation(n: float, ranges: Sequence[Sequence[float]]) -> int:
    """GrowthBook ``chooseVariation``: the first arm with ``start <= n < end``, else -1."""
    for i, (start, end) in enumerate(ranges):
        if start <= n < end:
            return i
    return -1


def choose_variations(n: np.ndarray, ranges: Sequence[Sequence[float]]) -> np.ndarray:
    """Vectorised ``choose_variation``: int array, -1 outside coverage."""
    out = np.full(len(n), -1, dtype=np.int64)
    for i, (start, end) in enumerate(ranges):
        out[(out == -1) & (n >= start) & (n < end)] = i
    return out


def in_namespace(user_id: str, namespace: tuple[str, float, float]) -> bool:
    """GrowthBook ``inNamespace`` (legacy mutual exclusion; always hash version 1)."""
    name, start, end = namespace
    n = hash_value("__" + name, user_id, 1)
    return n is not None and start <= n < end


def held_out(customer_ids: Sequence[str] | pd.Series, holdout: HoldoutSpec | None) -> np.ndarray:
    """Boolean array: which customers fall in the global holdout."""
    ids = np.asarray(customer_ids, dtype=object)
    if holdout is None or holdout.share <= 0:
        return np.zeros(len(ids), dtype=bool)
    return hash_values(holdout.seed, ids, 2) < holdout.share


def _check_columns(frame: pd.DataFrame, needed: Sequence[str], name: str) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing columns {missing} (has {list(frame.columns)})")


def _candidates(customers: pd.DataFrame, spec: ExperimentSpec, existing: pd.DataFrame) -> pd.DataFrame:
    """Customers in the target segments, with an id, not yet in the arms table for ``spec``."""
    frame = customers[["customer_id", "segment_id"]]
    # Object dtype on purpose: pandas' arrow-backed string isin walks Python objects one by
    # one (seconds per million); the object hashtable does it in a fraction of that.
    ids = pd.Series(frame["customer_id"].astype(str).to_numpy(dtype=object), index=frame.index, dtype=object)
    keep = frame["customer_id"].notna().to_numpy() & (ids != "").to_numpy()
    if spec.segments:
        segs = pd.Series(frame["segment_id"].astype(str).to_numpy(dtype=object), dtype=object)
        keep &= segs.isin(list(spec.segments)).to_numpy()
    if len(existing):
        known = existing.loc[existing["experiment"] == spec.key, "customer_id"].astype(str).to_numpy(dtype=object)
        keep &= ~ids.isin(pd.Index(known, dtype=object)).to_numpy()
    out = pd.DataFrame({"customer_id": ids[keep], "segment_id": frame["segment_id"][keep]})
    dup = out["customer_id"].duplicated()
    if dup.any():
        examples = out.loc[dup, "customer_id"].head(3).tolist()
        raise ValueError(f"customers has duplicate customer_id values, e.g. {examples}")
    return out


def assign_arms(
    customers: pd.DataFrame,
    spec: ExperimentSpec,
    existing: pd.DataFrame,
    holdout: HoldoutSpec | None,
    assigned_at: datetime,
) -> pd.DataFrame:
    """New assignments only: the rows to append to the arms table.

    ``customers``: ``customer_id`` (str), ``segment_id`` (current segment).
    ``existing``: the arms table (``experiment, customer_id, arm, segment_id, assigned_at``);
    anyone in it for ``spec.key`` is skipped, so no stored arm ever changes.
    Returns ``ARMS_COLUMNS``: ``arm`` is an arm name or ``"holdout"``, ``segment_id`` the
    segment at assignment (analysis is intention-to-treat on it), ``assigned_at`` a UTC
    timestamp. Customers outside ``spec.coverage`` get no row yet; a later run with higher
    coverage may enrol them. Nobody is assigned outside ``spec.start``..``spec.end``.
    """
    _check_columns(customers, ["customer_id", "segment_id"], "customers")
    if len(existing.columns) or len(existing):  # a bare pd.DataFrame() means "no arms yet"
        _check_columns(existing, ["experiment", "customer_id"], "existing arms")
    at = pd.Timestamp(assigned_at)
    at = at.tz_localize("UTC") if at.tzinfo is None else at.tz_convert("UTC")
    if not spec.is_running(at):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in ARMS_COLUMNS})
    cand = _candidates(customers, spec, existing)
    ids = cand["customer_id"].to_numpy(dtype=object)
    hold = held_out(ids, holdout)
    arm_idx = choose_variations(hash_values(spec.key, ids, 2), bucket_ranges(len(spec.arms), spec.coverage, spec.weights))
    names = np.asarray(spec.arm_names + (HOLDOUT_ARM,), dtype=object)
    arm = names[np.where(hold, len(spec.arms), arm_idx)]
    take = hold | (arm_idx >= 0)
    return pd.DataFrame(
        {
            "experiment": spec.key,
            "customer_id": ids[take],
            "arm": arm[take],
            "segment_id": cand["segment_id"].to_numpy()[take],
            "assigned_at": at,
        },
        columns=ARMS_COLUMNS,
    ).reset_index(drop=True)


def assign_arm(customer_id: str, segment_id: str | None, spec: ExperimentSpec, holdout: HoldoutSpec | None,
               assigned_at: datetime) -> str | None:
    """``assign_arms`` for one customer without a stored arm in ``spec``: the arm name,
    ``"holdout"``, or None (not running, outside the target segments or outside coverage).
    The same hashes, so the real-time API gives a new customer the arm the cycle would."""
    at = pd.Timestamp(assigned_at)
    at = at.tz_localize("UTC") if at.tzinfo is None else at.tz_convert("UTC")
    if not customer_id or not spec.is_running(at):
        return None
    if spec.segments and str(segment_id) not in spec.segments:
        return None
    if holdout is not None and holdout.share > 0 and (hash_value(holdout.seed, customer_id, 2) or 0.0) < holdout.share:
        return HOLDOUT_ARM
    n = hash_value(spec.key, customer_id, 2)
    index = choose_variation(n if n is not None else -1.0, bucket_ranges(len(spec.arms), spec.coverage, spec.weights))
    return spec.arm_names[index] if index >= 0 else None
