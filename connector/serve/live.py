"""The live models of one snapshot: segment, scores and offers computed in a request.

They are the versions the snapshot's cycle used (pinned in its meta), loaded from the state
store together with the snapshot and swapped with it, so a response never mixes a new
snapshot with an old model.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from connector.config import ExperimentsConfig
from connector.serve.snapshot import Snapshot
from connector.state import StateStore
from connector.steps.experiment import experiment_spec, holdout_spec
from experiments.assignment import assign_arm
from experiments.spec import ExperimentSpec, HoldoutSpec
from segmentation.clv import ClvModel
from segmentation.engine import SegmentationState, assign_segment
from segmentation.purchase_summary import summary_of_one

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
    clv_model: ClvModel | None = None

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
        clv = ClvModel.from_dict(snapshot.meta["clv"]) if snapshot.meta.get("clv") else None
        return cls(segmentation, scores, specs, holdout_spec(experiments), clv)

    def evaluate(self, values: Mapping[str, Any]) -> Evaluation:
        """Segment and score one customer given as {feature: value}: the numbers the cycle's batch
        path gives for the same row (segmentation.engine.assign_segment, ScoreModel.score_row)."""
        out = Evaluation(assign_segment(self.segmentation, values) if self.segmentation is not None else None)
        for name, model in self.scores.items():
            try:
                out.scores[name], out.reasons[name] = model.score_row(values)
            except (KeyError, ValueError) as exc:  # a feature the model needs is missing: say so, keep going
                log.warning("score %s cannot score live features: %s", name, type(exc).__name__)
        return out

    def clv(self, occurred_at: Sequence[datetime], amounts: Sequence[float], as_of: pd.Timestamp) -> tuple[float | None, float | None]:
        """(clv, p_alive) of a purchase history from the snapshot's fitted CLV model; (None, None)
        without that model or without a purchase (the cycle values buyers only)."""
        return self.value(summary_of_one(occurred_at, amounts, as_of) if self.clv_model is not None else None)

    def value(self, summary: tuple[float, float, float, float] | None) -> tuple[float | None, float | None]:
        """(clv, p_alive) of one (frequency, recency, T, monetary_value) summary in days; (None, None)
        without the model or the summary."""
        if summary is None or self.clv_model is None:
            return None, None
        clv, p_alive = self.clv_model.value(*([v] for v in summary))
        return _finite(clv[0]), _finite(p_alive[0])

    def running(self, at: datetime) -> list[ExperimentSpec]:
        return [s for s in self.specs if s.is_running(at)]

    def new_arms(self, customer_id: str, segment_id: str, existing: Mapping[str, str], at: datetime) -> list[tuple[str, str]]:
        """(experiment, arm) a customer gets now in every running experiment they have no arm in
        (experiments.assignment.assign_arm: the cycle's hashing)."""
        out = []
        for spec in self.running(at):
            if spec.key not in existing:
                arm = assign_arm(customer_id, segment_id, spec, self.holdout, at)
                if arm is not None:
                    out.append((spec.key, arm))
        return out


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
