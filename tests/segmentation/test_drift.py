from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from segmentation.drift import (
    RetrainPolicy,
    agreement,
    feature_snapshot,
    migration_matrix,
    psi,
    psi_table,
    share_shift,
)


def test_psi_known_answer():
    # (0.25-0.5) ln(0.5) + (0.75-0.5) ln(1.5)
    assert psi(np.array([0.5, 0.5]), np.array([0.25, 0.75])) == pytest.approx(0.27465, abs=1e-4)
    assert psi(np.array([0.3, 0.7]), np.array([0.3, 0.7])) == 0.0


def test_psi_table_levels_and_json_snapshot():
    rng = np.random.default_rng(0)
    train = pd.DataFrame(
        {
            "recency_days": rng.exponential(100, 5000),
            "frequency": rng.geometric(0.5, 5000),  # half the values are 1: heavy ties
            "plan": rng.choice(["free", "pro"], 5000, p=[0.7, 0.3]),
        }
    )
    snapshot = feature_snapshot(train, ["recency_days", "frequency", "plan"])
    assert json.loads(json.dumps(snapshot)) == snapshot
    same = pd.DataFrame(
        {
            "recency_days": rng.exponential(100, 5000),
            "frequency": rng.geometric(0.5, 5000),
            "plan": rng.choice(["free", "pro"], 5000, p=[0.7, 0.3]),
        }
    )
    stable = psi_table(snapshot, same).set_index("feature")
    assert (stable["psi"] < 0.02).all()  # ties do not create phantom drift
    assert set(stable["level"]) == {"stable"}
    moved = same.assign(
        recency_days=same["recency_days"] * 3,
        plan=rng.choice(["free", "pro", "enterprise"], 5000, p=[0.3, 0.3, 0.4]),
    )
    shifted = psi_table(snapshot, moved).set_index("feature")
    assert shifted.loc["recency_days", "level"] == "significant"
    assert shifted.loc["plan", "psi"] > 0.25
    assert shifted.loc["frequency", "level"] == "stable"


def test_missing_values_get_their_own_bin():
    snapshot = feature_snapshot(pd.DataFrame({"x": np.arange(100.0)}), ["x"])
    half_missing = pd.DataFrame({"x": np.r_[np.arange(50.0), [np.nan] * 50]})
    assert psi_table(snapshot, half_missing)["psi"].iloc[0] > 1.0


def test_share_shift_migration_and_agreement():
    prev = pd.Series(["a", "a", "b", "b", "c"], index=["1", "2", "3", "4", "5"])
    cur = pd.Series(["a", "b", "b", "b", "d"], index=["1", "2", "3", "4", "6"])
    shifts = share_shift(prev.value_counts(normalize=True), cur.value_counts(normalize=True))
    assert shifts.set_index("segment_id")["shift"].round(2).to_dict() == {
        "a": -0.2,
        "b": 0.2,
        "c": -0.2,
        "d": 0.2,
    }
    m = migration_matrix(prev, cur)
    assert m.loc["a", "a"] == 0.5 and m.loc["a", "b"] == 0.5 and m.loc["b", "b"] == 1.0
    np.testing.assert_allclose(m.sum(axis=1), 1.0)
    assert agreement(prev, cur)["n_shared"] == 4
    assert agreement(prev, prev)["ari"] == 1.0
    assert math.isnan(agreement(prev, pd.Series(["x"], index=["z"]))["ari"])


def _tables(max_psi: float, max_shift: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    psi_t = pd.DataFrame({"feature": ["recency_days", "frequency"], "psi": [max_psi, 0.01]})
    shifts = pd.DataFrame({"segment_id": ["seg-0001", "seg-0002"], "shift": [-max_shift, 0.0]})
    return psi_t, shifts


def test_policy_triggers_and_reasons():
    policy = RetrainPolicy(every_days=30, psi_threshold=0.25, share_shift_threshold=0.1)
    assert policy.decide(31, *_tables(0.0, 0.0)) == (
        True,
        "model is 31 days old (retrain every 30 days)",
    )
    retrain, reason = policy.decide(3, *_tables(0.3, 0.0))
    assert retrain and reason == "PSI of recency_days is 0.300 (threshold 0.25)"
    retrain, reason = policy.decide(3, *_tables(0.05, 0.12))
    assert retrain and reason == "share of seg-0001 moved -0.120 (threshold 0.1)"
    retrain, reason = policy.decide(3, *_tables(0.05, 0.02))
    assert not retrain
    assert reason == "reused model: 3 days old, max PSI 0.050 (recency_days), max share shift 0.020"


def test_disabled_triggers_never_fire():
    policy = RetrainPolicy(every_days=None, psi_threshold=None, share_shift_threshold=None)
    assert policy.decide(10_000, *_tables(9.0, 0.9))[0] is False
