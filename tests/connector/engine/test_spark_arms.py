"""Arms on Spark (connector.engine.spark.arms) are the driver's arms: same hashing, holdout, stickiness."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experiments.assignment import assign_arms
from experiments.spec import HOLDOUT_ARM, ArmSpec, ExperimentSpec, HoldoutSpec

pytest.importorskip("pyspark")

AT = pd.Timestamp("2026-03-01", tz="UTC")


def _world(n: int = 4000, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(segments of n customers in 4 segments, stored arms: 600 of them in 'promo' with an arm
    hashing would not give them, and 50 customers no longer segmented, plus another experiment's)."""
    rng = np.random.default_rng(seed)
    ids = [f"c{i:05d}" for i in rng.permutation(n)]
    segments = pd.DataFrame({"customer_id": ids, "segment_id": rng.choice(["s1", "s2", "s3", "s4"], n)})
    sticky = segments["customer_id"].iloc[:600].tolist() + [f"gone{i}" for i in range(50)]
    existing = pd.DataFrame({"experiment": "promo", "customer_id": sticky, "arm": "legacy", "segment_id": "s0",
                             "assigned_at": "2025-12-01T00:00:00+00:00"})
    other = pd.DataFrame({"experiment": "other", "customer_id": ids[600:900], "arm": "b", "segment_id": "s1",
                          "assigned_at": "2025-12-01T00:00:00+00:00"})
    return segments, pd.concat([existing, other], ignore_index=True)


@pytest.mark.parametrize("spec", [
    ExperimentSpec("promo", (ArmSpec("control", 0.5, True), ArmSpec("offer", 0.3), ArmSpec("gift", 0.2)),
                   segments=("s1", "s2", "s3"), coverage=0.8),
    ExperimentSpec("promo", (ArmSpec("control", 0.5, True), ArmSpec("offer", 0.5))),
], ids=["weighted-targeted-coverage", "plain"])
def test_spark_assigns_the_arms_the_driver_assigns(spark, spec: ExperimentSpec) -> None:
    from connector.config.engine import EngineConfig
    from connector.engine.spark.engine import SparkEngine
    from tests.connector.engine.conftest import TEST_CONF

    segments, existing = _world()
    holdout = HoldoutSpec(0.1, "global-holdout")
    mine = existing[existing["experiment"] == spec.key]
    driver = assign_arms(segments, spec, mine, holdout, AT)
    engine = SparkEngine(EngineConfig(kind="spark", master="local[2]", spark_conf=TEST_CONF))
    on_spark = engine.assign_arms(segments, spec, mine, holdout, AT)
    pd.testing.assert_frame_equal(on_spark, driver, check_dtype=False)
    # the sticky customers kept their stored arm: nobody in the arms table is assigned again
    assert not set(on_spark["customer_id"]) & set(mine["customer_id"])
    assert len(on_spark) > 2000 and (on_spark["arm"] == HOLDOUT_ARM).any()
    assert set(on_spark["arm"]) == {*spec.arm_names, HOLDOUT_ARM}
    assert str(on_spark["assigned_at"].dt.tz) == "UTC" and (on_spark["assigned_at"] == AT).all()
