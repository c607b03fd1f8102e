"""The cycle's step implementations, one module per step concept.

Each step takes the CycleContext and returns its typed result (or None: nothing to do); the
pipeline keeps it in `ctx.results` for the steps after it. `push` returns nothing: what it did
is in the counts, the ledger and the rejected rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connector.steps.experiment import AssignResult, MeasureResult, assign, measure
from connector.steps.model import (
    FeaturesResult,
    ScoreResult,
    SegmentResult,
    features,
    score,
    segment,
)
from connector.steps.offers import OffersResult, offers
from connector.steps.plan import PlanResult, plan
from connector.steps.pull import PullResult, pull
from connector.steps.push import push
from connector.steps.snapshot import publish_snapshot

STEP_FUNCTIONS: dict[str, Callable[[Any], object]] = {
    "pull": pull,
    "features": features,
    "segment": segment,
    "score": score,
    "offers": offers,
    "assign": assign,
    "plan": plan,
    "push": push,
    "measure": measure,
    "publish": publish_snapshot,
}

#: What each step returns (the field of the same name in pipeline.StepResults).
RESULT_TYPES: dict[str, type] = {
    "pull": PullResult,
    "features": FeaturesResult,
    "segment": SegmentResult,
    "score": ScoreResult,
    "offers": OffersResult,
    "assign": AssignResult,
    "plan": PlanResult,
    "measure": MeasureResult,
}
