"""The measured lift recovers the simulation's true effect, and a null scenario finds nothing.

A small version of `segsync demo`: both sandbox CRMs, a synthetic population, one cycle that
assigns arms and pushes the arm lists, 31 simulated days in which the sandbox treats the
treatment lists' members (a known effect per latent segment), then one more cycle that reads
the purchases and measures lift per segment. The effects here are large, so that a pipeline
that measured the wrong thing (no outcomes, the wrong window, arms mixed up) would miss them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from connector.config import Config
from connector.demo import estimated_vs_true
from connector.pipeline import run_cycle
from connector.sandbox.scenario import SCENARIO_DIR
from connector.state import StateStore
from tests.e2e.world import EXPERIMENT_KEY, E2EWorld


def scenario_file(tmp: Path, lifts: tuple[float, ...]) -> Path:
    yaml = YAML()
    data = yaml.load((SCENARIO_DIR / "default.yaml").read_text())
    for segment, lift in zip(data["segments"], lifts, strict=True):
        segment["effect"]["conversion_lift"] = lift
    path = tmp / "scenario.yaml"
    with path.open("w") as f:
        yaml.dump(data, f)
    return path


def measure(tmp: Path, scenario: Path | str) -> tuple:
    world = E2EWorld(tmp, n_customers=5000, seed=11, scenario=scenario)
    data = world.config_data()
    data["experiments"]["items"][0]["arms"] = [
        {"name": "control", "weight": 0.5, "control": True}, {"name": "treatment", "weight": 0.5},
    ]
    data["experiments"]["items"][0]["conversion_window_days"] = 30
    data["scoring"]["targets"] = []
    config = Config.model_validate(data)
    with StateStore(tmp / "state.sqlite") as store:
        first = run_cycle(config, store, connector_factory=world.factory)
        assert first.status == "succeeded", first.error
        world.sim.advance_days(31)
        world.settle()
        last = run_cycle(config, store, connector_factory=world.factory)
        assert last.status == "succeeded", last.error
        arms = store.experiments.arms(EXPERIMENT_KEY)
    return last.lift, estimated_vs_true(last.lift, arms, world.sim.truth())


def test_true_effects_fall_inside_the_intervals_and_are_detected(tmp_path: Path) -> None:
    lift, table = measure(tmp_path, scenario_file(tmp_path, (0.20, 0.30, 0.25)))
    assert len(table) == 4 and (table["n_control"] > 300).all()
    assert table["true_effect"].between(0.15, 0.35).all()  # the planted effects, as segsync's segments mix them
    assert table["true_inside"].all(), table
    assert (table["estimate"] - table["true_effect"]).abs().max() < 0.1
    conversion = lift[lift["metric"] == "conversion"]
    assert conversion["significant"].all() and not conversion["srm_flag"].any()


@pytest.mark.parametrize("scenario", ["null"])
def test_null_scenario_shows_no_significant_lift(tmp_path: Path, scenario: str) -> None:
    lift, table = measure(tmp_path, scenario)
    assert (table["true_effect"] == 0).all()
    assert table["true_inside"].all(), table
    assert not lift["significant"].any(), lift[["segment_id", "metric", "estimate", "p_adjusted"]]
