"""The live models of one snapshot: segment, scores and offers computed in a request.

They are the versions the snapshot's cycle used (pinned in its meta), loaded from the state
store together with the snapshot and swapped with it, so a response never mixes a new
snapshot with an old model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from connector.config import ExperimentsConfig
from connector.serve.snapshot import Snapshot
from connector.state import StateStore
from connector.steps.experiment import experiment_spec, holdout_spec
from experiments.assignment import assign_arms
from experiments.spec import ExperimentSpec, HoldoutSpec
from segmentation.engine import SegmentationState, assign_segments

log = logging.getLogger("segsync.serve")
SEGMENTATION = ("segmentation", "default")


@dataclass
class Evaluation:
    """One customer's live answer: segment (None: keep the snapshot's), scores and reasons."""

    segment_id: str | None
    scores: dict[str, float] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)


@dataclass
class LiveModels:
    segmentation: SegmentationState | None
    scores: dict[str, Any]
    specs: list[ExperimentSpec]
    holdout: HoldoutSpec

    @classmethod
    def load(cls, store: StateStore, snapshot: Snapshot, experiments: ExperimentsConfig) -> LiveModels:
        pinned: dict[str, int] = snapshot.meta.get("models", {})
        seg_version = pinned.get("segmentation")
        segmentation = store.models.get(*SEGMENTATION, seg_version) if seg_version else None
        scores = {}
        for name in snapshot.score_names:
            version = pinned.get(f"score.{name}")
            model = store.models.get("score", name, version) if version else None
            if model is not None:
                scores[name] = model
        table = snapshot.segment_table()
        segments = pd.DataFrame({"segment_id": list(table), "segment_name": [n for n, _ in table.values()]})
        specs = [experiment_spec(e, segments) for e in experiments.items]
        return cls(segmentation, scores, specs, holdout_spec(experiments))

    def evaluate(self, features: pd.DataFrame) -> list[Evaluation]:
        """Segment and score each row of a feature frame (indexed by customer_id)."""
        segs = assign_segments(self.segmentation, features) if self.segmentation is not None else None
        out = [Evaluation(None if segs is None or pd.isna(s) else str(s)) for s in (segs if segs is not None else [None] * len(features))]
        for name, model in self.scores.items():
            try:
                scored = model.score(features)
            except (KeyError, ValueError) as exc:  # a feature the model needs is missing: say so, keep going
                log.warning("score %s cannot score live features: %s", name, type(exc).__name__)
                continue
            for ev, value, reason in zip(out, scored[name], scored[f"{name}_reasons"], strict=True):
                ev.scores[name] = float(value)
                ev.reasons[name] = str(reason)
        return out

    def running(self, at: datetime) -> list[ExperimentSpec]:
        return [s for s in self.specs if s.is_running(at)]

    def new_arms(self, customer_id: str, segment_id: str, existing: pd.DataFrame, at: datetime) -> pd.DataFrame:
        """The arms a customer gets now in every running experiment (same hashing as the cycle)."""
        one = pd.DataFrame({"customer_id": [customer_id], "segment_id": [segment_id]})
        rows = [assign_arms(one, spec, existing[existing["experiment"] == spec.key], self.holdout, at) for spec in self.running(at)]
        rows = [r for r in rows if len(r)]
        return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["experiment", "customer_id", "arm", "segment_id", "assigned_at"])
