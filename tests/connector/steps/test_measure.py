"""The measure step's lift from the sums, as both engines call it: the configured sequential test."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from connector.config import ExperimentsConfig
from connector.steps.experiment import _lift
from experiments.analysis import analyse_sums, metric_sums
from experiments.spec import ArmSpec, ExperimentSpec

SPEC = ExperimentSpec("e1", (ArmSpec("ctl", 0.5, True), ArmSpec("tx", 0.5)), cuped_days=0)


def _sums() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 800
    data = pd.DataFrame({"segment_id": rng.choice(["s1", "s2"], n), "arm": rng.choice(["ctl", "tx"], n),
                         "revenue": rng.gamma(2.0, 10.0, n) * (rng.random(n) < 0.4)})
    data["conversion"] = (data["revenue"] > 0).astype(float)
    return metric_sums(data, SPEC, cuped=False)


@pytest.mark.parametrize(("settings", "expected_tuning"), [
    ({}, {"s1": 450.0, "s2": 500.0}),  # N* of each segment: its size, holdout included
    ({"sequential_tuning": 5000}, 5000.0),  # the configured N*, for every segment
    ({"sequential": False}, None),  # the fixed-horizon test
])
def test_the_configured_sequential_test_is_the_one_run(settings: dict, expected_tuning: object) -> None:
    cfg = ExperimentsConfig.model_validate(settings)
    ctx = SimpleNamespace(config=SimpleNamespace(experiments=cfg), dry_run=True)
    sums = _sums()
    got = _lift(ctx, SPEC, sums, pd.Series({"s1": 450, "s2": 500}))  # type: ignore[arg-type]
    want = analyse_sums(sums, SPEC, sequential_tuning=expected_tuning)  # type: ignore[arg-type]
    pd.testing.assert_frame_equal(got, want)
    other = analyse_sums(sums, SPEC, sequential_tuning=None if expected_tuning is not None else 5000.0)
    assert not np.allclose(got["ci_low"], other["ci_low"], equal_nan=True)  # the choice shows in the intervals
