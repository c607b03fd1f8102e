"""Steps exchange typed results, and nothing population-sized outlives a cycle (issue 15 §3).

A daemon keeps each cycle's CycleResult; before, each carried the cycle's outputs (every
customer's features, scores and desired state), so memory grew by the population per cycle.
"""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pandas as pd
import pytest

from connector.config import load_config
from connector.daemon import RECENT, Daemon
from connector.pipeline import CycleContext, CycleResult, StepResults, run_cycle
from connector.state import StateStore
from connector.steps import FeaturesResult, PlanResult
from tests.e2e.shop import write_shop

N_CUSTOMERS = 300


@pytest.fixture
def shop(tmp_path: Path):
    return write_shop(tmp_path, N_CUSTOMERS, seed=2)


def _frames(obj: object) -> list[pd.DataFrame]:
    """Every DataFrame reachable from obj (through containers, dataclasses and objects)."""
    seen, found, todo = set(), [], [obj]
    while todo:
        o = todo.pop()
        if id(o) in seen or isinstance(o, type):
            continue
        seen.add(id(o))
        if isinstance(o, pd.DataFrame):
            found.append(o)
            continue
        todo.extend(gc.get_referents(o))
    return found


def test_cycle_result_is_a_summary_and_the_step_results_die_with_the_cycle(shop, tmp_path: Path) -> None:
    kept: list[weakref.ref] = []

    def observe(steps: StepResults) -> None:
        assert steps.features is not None and steps.plan is not None and steps.score is not None
        kept.extend(weakref.ref(f) for f in (steps.features.features, steps.features.transactions,
                                             steps.score.scores, steps.plan.desired))
        assert len(steps.plan.desired) == steps.features.features.shape[0] > 200

    with StateStore(tmp_path / "state.sqlite") as store:
        result = run_cycle(shop, store, observe=observe)
    assert result.status == "succeeded", result.error
    assert not hasattr(result, "outputs")
    gc.collect()
    assert [r() is None for r in kept] == [True] * 4, "a population-sized frame outlived its cycle"
    # what the result does carry: summaries
    assert [p["destination"] for p in result.plan] == [f"files ({Path('out/segments.csv')})"]
    assert result.plan[0]["updates"] == result.counts["customers"]
    last_day = pd.to_datetime(pd.read_csv(tmp_path / "transactions.csv")["date"], utc=True).max()
    assert result.as_of == last_day + pd.Timedelta(days=1)
    assert result.lift is not None and set(result.lift["arm"]) == {"offer"}
    assert {row["arm"] for row in result.power} == {"offer"}
    assert all(len(f) < 20 for f in _frames(result)), "the summary holds a per-customer frame"


def test_the_daemon_keeps_the_last_summaries_and_no_step_result(tmp_path: Path) -> None:
    """Many cycles whose features step makes a big frame: none survives, and the history is bounded."""
    made: list[weakref.ref] = []

    def features(ctx: CycleContext) -> FeaturesResult:
        frame = pd.DataFrame({"customer_id": [f"c{i}" for i in range(5000)], "x": 1.0})
        made.append(weakref.ref(frame))
        return FeaturesResult(frame, frame, frame, pd.Timestamp("2026-03-01", tz="UTC"))

    cfg_path = tmp_path / "segsync.yaml"
    cfg_path.write_text("state:\n  path: state.sqlite\n")
    daemon = Daemon(load_config(cfg_path, env={}), steps={"features": features})
    with StateStore(tmp_path / "state.sqlite") as store:
        for _ in range(RECENT + 10):
            daemon.cycle(store)
    gc.collect()
    assert len(made) == RECENT + 10 and all(r() is None for r in made)
    assert len(daemon.results) == RECENT
    assert [r.run_id for r in daemon.results] == list(range(11, RECENT + 11))
    assert all(isinstance(r, CycleResult) and r.status == "succeeded" for r in daemon.results)
    assert _frames(daemon.results) == []


def test_a_step_returning_an_untyped_result_fails_the_cycle_by_name(tmp_path: Path) -> None:
    cfg_path = tmp_path / "segsync.yaml"
    cfg_path.write_text("state:\n  path: state.sqlite\n")
    cfg = load_config(cfg_path, env={})
    with StateStore(tmp_path / "state.sqlite") as store:
        result = run_cycle(cfg, store, steps={"features": lambda ctx: {"features": pd.DataFrame()}})
        wrong = run_cycle(cfg, store, steps={"plan": lambda ctx: FeaturesResult(*[pd.DataFrame()] * 3, pd.Timestamp(0))})
        push = run_cycle(cfg, store, steps={"push": lambda ctx: PlanResult(pd.DataFrame(), {}, [], [])})
    assert result.status == "failed"
    assert result.error == "TypeError: step 'features' returned a dict; it should return FeaturesResult"
    assert wrong.error == "TypeError: step 'plan' returned a FeaturesResult; it should return PlanResult"
    assert push.error == "TypeError: step 'push' returned a PlanResult; it should return nothing"
