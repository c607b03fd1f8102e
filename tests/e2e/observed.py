"""What a test observes of a cycle: its step results (`run_cycle` hands them to `observe` and drops them),
and the rows Spark handed to the driver (the `collected` fixture of tests/e2e/conftest.py), by kind."""

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


Seen = list[tuple[frozenset[str], int]]


def kinds(seen: Seen) -> dict[str, int]:
    """Rows collected per kind; "clv_counts": CLV's counts per distinct (x, t_x, T) and (x, spend);
    "aggregate": other results without a customer_id (per rule, per segment, per RFM cell, the
    centres' sums per k-means iteration, the distinct values bracketing an RFM cut)."""
    out: dict[str, int] = {}
    for cols, n in seen:
        if "_triple" in cols:
            kind = "clv_counts"
        elif "customer_id" not in cols:
            kind = "aggregate"
        elif "reason" in cols:
            kind = "rejected"
        elif any(c.startswith("_values") for c in cols):
            kind = "changed"
        elif "_label" in cols:
            kind = "training"
        elif {"arm", "assigned_at"} <= cols:
            kind = "new_arms"
        elif "transaction_id" in cols:
            kind = "purchases"
        elif "recency_days" in cols and not cols & {"segment_id", "buy_90d", "clv"}:
            kind = "sample"
        else:
            kind = "per-customer " + ",".join(sorted(cols))
        out[kind] = out.get(kind, 0) + n
    return out
