"""Persistent segment ids across retrains.

A retrain produces clusters numbered 0..k-1 in whatever order the algorithm found them. The
registry maps them onto the ids marketers already use (CRM fields, lists, experiments):

- When most current customers were also segmented last time, match on *shared members*:
  cost = 1 - Jaccard overlap of old segment and new cluster among the shared customers.
- Otherwise match on *centroids*: distance between segment profiles (per-feature medians,
  signed-log and scaled by the current population, so both runs use one yardstick).

Both are solved with the Hungarian method (`scipy.optimize.linear_sum_assignment`), after
Lange et al., "Stability-based validation of clustering solutions" (see
reference/segmentation.md section 5). A pair whose overlap or distance fails the gate is not
a match: the cluster gets a new id and the old segment is retired. Ids are never reused or
renumbered.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

MIN_JACCARD = 0.3
MAX_DISTANCE = 1.0  # population standard deviations (root mean square over features)
SHARED_FOR_MEMBERS = 0.5  # share of current customers seen last time to match on members


@dataclass
class RegistryEntry:
    """One segment id's record. profile: median of each numeric feature at the last fit."""

    segment_id: str
    name: str
    status: str = "active"  # or "retired"
    created_at: str = ""
    retired_at: str | None = None
    size: int = 0
    profile: dict[str, float] = field(default_factory=dict)


@dataclass
class SegmentRegistry:
    """All segment ids ever issued; `next_number` only grows, so ids are never reused."""

    entries: dict[str, RegistryEntry] = field(default_factory=dict)
    next_number: int = 1
    prefix: str = "seg-"

    def active(self) -> list[RegistryEntry]:
        return [e for e in self.entries.values() if e.status == "active"]

    def issue(self, name: str, as_of: str, size: int, profile: dict[str, float]) -> str:
        """A brand-new id for a cluster no existing segment matches."""
        segment_id = f"{self.prefix}{self.next_number:04d}"
        self.next_number += 1
        self.entries[segment_id] = RegistryEntry(
            segment_id, name, "active", as_of, None, size, profile
        )
        return segment_id

    def refresh(self, segment_id: str, size: int, profile: dict[str, float]) -> None:
        entry = self.entries[segment_id]
        entry.size, entry.profile = size, profile

    def retire(self, segment_id: str, as_of: str) -> None:
        entry = self.entries[segment_id]
        entry.status, entry.retired_at = "retired", as_of

    def to_dict(self) -> dict:
        """Plain JSON-able dict; `from_dict` reverses it exactly."""
        return {
            "prefix": self.prefix,
            "next_number": self.next_number,
            "entries": [asdict(e) for e in self.entries.values()],
        }

    @classmethod
    def from_dict(cls, data: dict) -> SegmentRegistry:
        entries = {e["segment_id"]: RegistryEntry(**e) for e in data.get("entries", [])}
        return cls(entries, int(data.get("next_number", 1)), data.get("prefix", "seg-"))


def overlap_cost(
    previous: pd.Series, current: pd.Series, old_ids: list[str], new_keys: list
) -> np.ndarray:
    """(len(old_ids) x len(new_keys)) of 1 - Jaccard among customers in both Series
    (index customer_id; values old segment id / new cluster key)."""
    shared = previous.index.intersection(current.index)
    table = pd.crosstab(previous.reindex(shared).to_numpy(), current.reindex(shared).to_numpy())
    table = table.reindex(index=old_ids, columns=new_keys, fill_value=0).to_numpy(dtype="float64")
    union = table.sum(axis=1, keepdims=True) + table.sum(axis=0, keepdims=True) - table
    with np.errstate(invalid="ignore", divide="ignore"):
        jaccard = np.where(union > 0, table / union, 0.0)
    return 1.0 - jaccard


def centroid_cost(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Root-mean-square distance per feature between every old and new profile vector."""
    diff = old[:, None, :] - new[None, :, :]
    return np.sqrt(np.nanmean(diff**2, axis=2))


def match(cost: np.ndarray, gate: float) -> dict[int, int]:
    """Hungarian assignment {new column -> old row}, keeping only pairs with cost <= gate."""
    if cost.size == 0:
        return {}
    rows, cols = linear_sum_assignment(np.nan_to_num(cost, nan=1e9))
    return {int(c): int(r) for r, c in zip(rows, cols, strict=True) if cost[r, c] <= gate}


def align(
    registry: SegmentRegistry,
    clusters: pd.DataFrame,
    members: pd.Series,
    previous: pd.Series | None,
    scale: pd.Series,
    as_of: str,
) -> tuple[dict, str]:
    """Give every new cluster an id; returns ({cluster key -> segment_id}, method used).

    clusters: one row per cluster key with name (proposed), size and the numeric profile
    medians (one column per feature). members: customer_id -> cluster key. previous:
    customer_id -> segment_id from the last run (None on the first). scale: per feature,
    the population sd of signed-log values, used to put profiles on one yardstick.
    Unmatched active segments are retired.
    """
    old = registry.active()
    keys = list(clusters.index)
    method, mapping = "none", {}
    if old:
        shared = previous.index.intersection(members.index) if previous is not None else []
        if previous is not None and len(shared) >= SHARED_FOR_MEMBERS * len(members):
            method = "members"
            cost = overlap_cost(previous, members, [e.segment_id for e in old], keys)
            mapping = match(cost, 1.0 - MIN_JACCARD)
        else:
            method = "centroids"
            cost = centroid_cost(
                _vectors([e.profile for e in old], scale), _frame_vectors(clusters, scale)
            )
            mapping = match(cost, MAX_DISTANCE)
    out: dict = {}
    for col, key in enumerate(keys):
        profile = {c: float(clusters.loc[key, c]) for c in scale.index}
        size = int(clusters.loc[key, "size"])
        if col in mapping:
            out[key] = old[mapping[col]].segment_id
            registry.refresh(out[key], size, profile)
    # New ids go to the largest unmatched clusters first, so numbering is deterministic.
    unmatched = sorted(
        (k for k in keys if k not in out), key=lambda k: (-int(clusters.loc[k, "size"]), str(k))
    )
    taken = {registry.entries[i].name for i in out.values()}
    for key in unmatched:
        profile = {c: float(clusters.loc[key, c]) for c in scale.index}
        name = _free_name(str(clusters.loc[key, "name"]), taken)
        taken.add(name)
        out[key] = registry.issue(name, as_of, int(clusters.loc[key, "size"]), profile)
    for entry in old:
        if entry.segment_id not in out.values():
            registry.retire(entry.segment_id, as_of)
    return out, method


def _free_name(name: str, taken: set[str]) -> str:
    """Matched segments keep their names (CRM lists keep theirs); a new one must not clash."""
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name} {n}", n + 1
    return candidate


def _signed_log(values: np.ndarray) -> np.ndarray:
    return np.sign(values) * np.log1p(np.abs(values))


def _vectors(profiles: list[dict[str, float]], scale: pd.Series) -> np.ndarray:
    raw = np.array([[p.get(c, np.nan) for c in scale.index] for p in profiles], dtype="float64")
    return _signed_log(raw) / scale.to_numpy()


def _frame_vectors(clusters: pd.DataFrame, scale: pd.Series) -> np.ndarray:
    return _signed_log(clusters[list(scale.index)].to_numpy(dtype="float64")) / scale.to_numpy()
