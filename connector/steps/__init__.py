"""The cycle's step implementations, one module per step concept."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connector.steps.experiment import assign, measure
from connector.steps.model import features, score, segment
from connector.steps.plan import plan
from connector.steps.pull import pull
from connector.steps.push import push
from connector.steps.snapshot import publish_snapshot

STEP_FUNCTIONS: dict[str, Callable[[Any], None]] = {
    "pull": pull,
    "features": features,
    "segment": segment,
    "score": score,
    "assign": assign,
    "plan": plan,
    "push": push,
    "measure": measure,
    "publish": publish_snapshot,
}
