"""A cycle whose step results the test keeps: `run_cycle` hands them to `observe` and drops them."""

from __future__ import annotations

from typing import Any

from connector.config import Config
from connector.pipeline import CycleResult, StepResults, run_cycle
from connector.state import StateStore


def run_observed(config: Config, store: StateStore, **kwargs: Any) -> tuple[CycleResult, StepResults]:
    """run_cycle, plus the step results (desired state, features, ...) it would drop."""
    seen: list[StepResults] = []
    result = run_cycle(config, store, observe=seen.append, **kwargs)
    (steps,) = seen
    return result, steps
