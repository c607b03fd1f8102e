"""analyse_experiment on small literal frames with known answers."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from experiments.analysis import (
    RESULT_COLUMNS,
    SUM_COLUMNS,
    analyse_experiment,
    analyse_sums,
    metric_sums,
)
from experiments.bayes import bayesian_lift
from experiments.correction import adjust_p_values
from experiments.outcomes import cap_values, customer_metrics
from experiments.spec import HOLDOUT_ARM, ArmSpec, ExperimentSpec
from experiments.stats import SampleMoments, frequentist_lift

T0 = pd.Timestamp("2026-02-01T00:00:00Z")
SPEC = ExperimentSpec(
    key="e1", arms=[ArmSpec("ctl", 0.5, True), ArmSpec("tx", 0.5)], revenue_cap_quantile=None,
    conversion_window_days=7,
)


def arms_frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["experiment", "customer_id", "arm", "segment_id", "assigned_at"])


def outcomes_frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["experiment", "customer_id", "metric", "value", "observed_at"])


ARMS = arms_frame(
    [("e1", f"c{i}", "ctl", "s1", T0) for i in range(1, 5)]
    + [("e1", f"t{i}", "tx", "s1", T0) for i in range(1, 5)]
    + [("e1", "h1", "holdout", "s1", T0), ("other", "c1", "tx", "s9", T0)]
)
DAY = pd.Timedelta(days=1)
OUTCOMES = outcomes_frame(
    [("e1", "c1", "revenue", 10.0, T0 + DAY), ("e1", "c1", "conversion", 1, T0 + DAY),
     ("e1", "c4", "revenue", 20.0, T0 + 2 * DAY), ("e1", "c4", "conversion", 1, T0 + 2 * DAY),
     ("e1", "t1", "revenue", 30.0, T0 + DAY), ("e1", "t1", "conversion", 1, T0 + DAY),
     ("e1", "t3", "revenue", 15.0, T0 + DAY), ("e1", "t3", "conversion", 1, T0 + DAY),
     ("e1", "t4", "revenue", 5.0, T0 + 6 * DAY), ("e1", "t4", "conversion", 1, T0 + 6 * DAY),
     # Not counted: before assignment, after the 7-day window, other experiment, holdout, unassigned.
     ("e1", "c2", "revenue", 99.0, T0 - DAY), ("e1", "c2", "conversion", 1, T0 - DAY),
     ("e1", "c3", "revenue", 99.0, T0 + 7 * DAY), ("e1", "c3", "conversion", 1, T0 + 7 * DAY),
     ("other", "c1", "revenue", 500.0, T0 + DAY),
     ("e1", "h1", "revenue", 77.0, T0 + DAY), ("e1", "zz", "revenue", 77.0, T0 + DAY)]
)


def row(result: pd.DataFrame, metric: str, segment="s1", arm="tx") -> pd.Series:
    sel = result[(result["segment_id"] == segment) & (result["arm"] == arm) & (result["metric"] == metric)]
    assert len(sel) == 1
    return sel.iloc[0]


def test_lifts_match_hand_computed_moments():
    res = analyse_experiment(ARMS, OUTCOMES, SPEC, correction="none")
    assert list(res.columns) == RESULT_COLUMNS and len(res) == 2
    rev = row(res, "revenue")
    expected = frequentist_lift(SampleMoments.from_values([10, 0, 0, 20]), SampleMoments.from_values([30, 0, 15, 5]))
    assert (rev["n_control"], rev["n_treatment"]) == (4, 4)
    assert (rev["mean_control"], rev["mean_treatment"]) == (7.5, 12.5)
    assert rev[["estimate", "ci_low", "ci_high", "p_value"]].tolist() == pytest.approx(list(expected))
    assert rev["abs_estimate"] == pytest.approx(5.0)
    conv = row(res, "conversion")
    expected = frequentist_lift(SampleMoments.proportion(4, 2), SampleMoments.proportion(4, 3))
    assert conv[["estimate", "ci_low", "ci_high", "p_value"]].tolist() == pytest.approx(list(expected))
    bayes = bayesian_lift(SampleMoments.proportion(4, 2), SampleMoments.proportion(4, 3))
    assert conv[["chance_to_win", "credible_low", "credible_high"]].tolist() == pytest.approx(
        [bayes.chance_to_win, bayes.ci_low, bayes.ci_high]
    )
    assert not res["cuped"].any() and (res["experiment"] == "e1").all()


def test_conversion_falls_back_to_purchases_when_no_conversion_rows():
    only_revenue = OUTCOMES[OUTCOMES["metric"] == "revenue"]
    data = customer_metrics(ARMS, only_revenue, SPEC).set_index("customer_id")
    assert data["conversion"].to_dict() == {"c1": 1, "c2": 0, "c3": 0, "c4": 1, "t1": 1, "t2": 0, "t3": 1, "t4": 1}


def test_stored_instants_of_mixed_precision_are_read():
    # the arms table as the state store returns it: the cycle's arms in whole seconds, those
    # `segsync serve` assigned with microseconds; one format inferred from the first row failed
    stored = ARMS.assign(assigned_at=["2026-02-01T00:00:00+00:00"] * 4 + ["2026-02-01T00:00:00.000001+00:00"] * 6)
    outcomes = OUTCOMES.assign(observed_at=OUTCOMES["observed_at"].map(lambda t: t.isoformat()))
    data = customer_metrics(stored, outcomes, SPEC).set_index("customer_id")
    assert data["revenue"].to_dict() == customer_metrics(ARMS, OUTCOMES, SPEC).set_index("customer_id")["revenue"].to_dict()
    assert data.loc["t1", "revenue"] == 30.0 and data.loc["c2", "revenue"] == 0.0


def test_revenue_is_capped_at_quantile_of_positive_values():
    assert cap_values(np.array([0, 0, 0, 1, 2, 3, 100.0]), 0.5).tolist() == [0, 0, 0, 1, 2, 2.5, 2.5]
    assert cap_values(np.array([0, 5.0]), None).tolist() == [0, 5.0]
    capped = replace(SPEC, revenue_cap_quantile=0.5)
    data = customer_metrics(ARMS, OUTCOMES, capped).set_index("customer_id")
    assert data["revenue"].max() == pytest.approx(np.quantile([10, 20, 30, 15, 5], 0.5))


def synthetic(n_per_segment=4000, lift=0.0, imbalance=None, seed=0):
    rng = np.random.default_rng(seed)
    arms, outcomes, pre = [], [], []
    for seg in ("s1", "s2"):
        share = imbalance if (imbalance and seg == "s2") else 0.5
        is_tx = rng.random(n_per_segment) >= share
        x = rng.gamma(2.0, 20.0, n_per_segment)
        y = np.maximum(0.8 * x + rng.normal(0, 8, n_per_segment), 0) * np.where(is_tx, 1 + lift, 1.0)
        ids = [f"{seg}-{i}" for i in range(n_per_segment)]
        arms.append(arms_frame({"experiment": "e1", "customer_id": ids, "arm": np.where(is_tx, "tx", "ctl"), "segment_id": seg, "assigned_at": T0}))
        outcomes.append(outcomes_frame({"experiment": "e1", "customer_id": ids, "metric": "revenue", "value": y, "observed_at": T0 + DAY}))
        pre.append(pd.DataFrame({"customer_id": ids, "value": x}))
    return pd.concat(arms), pd.concat(outcomes), pd.concat(pre)


def test_cuped_narrows_the_interval_without_moving_the_truth():
    arms, outcomes, pre = synthetic(lift=0.05)
    spec = replace(SPEC, metrics=("revenue",))
    plain = analyse_experiment(arms, outcomes, spec)
    adjusted = analyse_experiment(arms, outcomes, spec, pre_period=pre)
    assert adjusted["cuped"].all() and not plain["cuped"].any()
    width = lambda r: (r["ci_high"] - r["ci_low"]).to_numpy()  # noqa: E731
    assert (width(adjusted) < 0.5 * width(plain)).all()
    assert ((adjusted["ci_low"] < 0.05) & (adjusted["ci_high"] > 0.05)).all()
    assert (adjusted["mean_control"] == plain["mean_control"]).all()  # raw means reported
    off = replace(spec, cuped_days=0)
    assert not analyse_experiment(arms, outcomes, off, pre_period=pre)["cuped"].any()


def test_srm_flags_only_the_mismatched_segment():
    arms, outcomes, _ = synthetic(imbalance=0.56)
    res = analyse_experiment(arms, outcomes, SPEC)
    flags = res.groupby("segment_id")["srm_flag"].first().to_dict()
    assert flags == {"s1": False, "s2": True}
    assert (res.loc[res["segment_id"] == "s2", "srm_p"] < 0.001).all()


@pytest.mark.parametrize("method", ["holm", "bh", "none"])
def test_correction_over_all_rows(method):
    arms, outcomes, _ = synthetic(lift=0.03, seed=4)
    res = analyse_experiment(arms, outcomes, SPEC, correction=method)
    assert np.allclose(res["p_adjusted"], adjust_p_values(res["p_value"].to_numpy(), method), equal_nan=True)
    assert (res["significant"] == (res["p_adjusted"] < 0.05)).all()


def test_sequential_tuning_per_segment():
    arms, outcomes, _ = synthetic(n_per_segment=600, lift=0.1, seed=2)
    spec = replace(SPEC, metrics=("revenue",))
    res = analyse_experiment(arms, outcomes, spec, sequential_tuning={"s1": 500, "s2": 50_000})
    data = customer_metrics(arms, outcomes, spec)
    for seg, tuning in (("s1", 500), ("s2", 50_000)):
        d = data[data["segment_id"] == seg]
        expected = frequentist_lift(
            SampleMoments.from_values(d.loc[d["arm"] == "ctl", "revenue"]),
            SampleMoments.from_values(d.loc[d["arm"] == "tx", "revenue"]), sequential_tuning=tuning,
        )
        assert row(res, "revenue", seg)[["estimate", "ci_low", "ci_high", "p_value"]].tolist() == pytest.approx(list(expected))
    with pytest.raises(ValueError, match="no entry for segments"):
        analyse_experiment(arms, outcomes, spec, sequential_tuning={"s1": 500})
    with pytest.raises(ValueError, match="must be >= 1"):
        analyse_experiment(arms, outcomes, spec, sequential_tuning=0)


def test_missing_arm_in_a_segment_gives_nan_row_not_a_crash():
    arms = ARMS[~(ARMS["arm"] == "tx")]
    res = analyse_experiment(arms, OUTCOMES, SPEC)
    assert len(res) == 2 and (res["n_treatment"] == 0).all() and res["estimate"].isna().all()
    assert not res["significant"].any()


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="outcomes is missing columns"):
        analyse_experiment(ARMS, OUTCOMES.drop(columns="observed_at"), SPEC)
    bad = pd.concat([ARMS, arms_frame([("e1", "x1", "nope", "s1", T0)])])
    with pytest.raises(ValueError, match="unknown arms \\['nope'\\]"):
        analyse_experiment(bad, OUTCOMES, SPEC)
    dup = pd.concat([ARMS, ARMS.iloc[:1]])
    with pytest.raises(ValueError, match="several rows for one customer"):
        analyse_experiment(dup, OUTCOMES, SPEC)
    assert analyse_experiment(ARMS.iloc[:0], OUTCOMES, SPEC).empty


def control_converted_nobody() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """0 of 10 control customers bought, 3 of 10 treated did; pre-period buyers differ by arm."""
    ids = [f"c{i}" for i in range(10)] + [f"t{i}" for i in range(10)]
    arms = arms_frame([("e1", c, "ctl" if c[0] == "c" else "tx", "s1", T0) for c in ids])
    outcomes = outcomes_frame([("e1", t, "revenue", 25.0, T0 + DAY) for t in ("t0", "t1", "t2")])
    pre_buyers = {"c0": 40.0, "c1": 10.0, "t0": 30.0, "t1": 50.0, "t2": 20.0, "t3": 15.0, "t4": 35.0}
    pre = pd.DataFrame({"customer_id": ids, "value": [pre_buyers.get(c, 0.0) for c in ids]})
    return arms, outcomes, pre


@pytest.mark.parametrize("cuped", [True, False], ids=["cuped", "plain"])
def test_a_control_that_converted_nobody_has_no_relative_lift_and_says_why(cuped):
    arms, outcomes, pre = control_converted_nobody()
    res = analyse_experiment(arms, outcomes, SPEC, pre_period=pre if cuped else None)
    assert res["cuped"].all() == cuped
    for metric in ("conversion", "revenue"):
        r = row(res, metric)
        assert (r["mean_control"], r["mean_treatment"]) == (0.0, 0.3 if metric == "conversion" else 7.5)
        assert r[["estimate", "ci_low", "ci_high", "p_value", "p_adjusted", "abs_estimate", "abs_ci_low", "abs_ci_high"]].isna().all()
        assert r["note"] == "the control mean is 0, so a relative lift is undefined"
        assert not r["significant"]


def test_an_arm_that_does_not_vary_is_not_compared_and_a_normal_cell_has_no_note():
    arms, outcomes, pre = control_converted_nobody()
    everyone_bought = outcomes_frame([("e1", c, "revenue", 25.0, T0 + DAY) for c in arms["customer_id"] if c[0] == "c"])
    res = analyse_experiment(arms, pd.concat([outcomes, everyone_bought]), SPEC, pre_period=pre)
    conv, rev = row(res, "conversion"), row(res, "revenue")
    assert conv["mean_control"] == 1.0 and rev["mean_control"] == 25.0  # 100 % conversion, a constant revenue
    for r in (conv, rev):
        assert r[["estimate", "ci_low", "ci_high", "p_value", "abs_estimate", "abs_ci_low", "abs_ci_high"]].isna().all()
        assert r["note"].startswith("an arm's values do not vary")
    normal = analyse_experiment(ARMS, OUTCOMES, SPEC)
    assert (normal["note"] == "").all() and normal["estimate"].notna().all()


def test_the_sums_alone_give_the_lift_table():
    # what an engine that keeps the customers elsewhere hands over: the sums per cell, split in
    # partial sums (one row per partition), a holdout cell and a segment-less cell besides
    arms, outcomes, pre = synthetic(n_per_segment=500, lift=0.1, seed=6)
    expected = analyse_experiment(arms, outcomes, SPEC, pre_period=pre, sequential_tuning={"s1": 900, "s2": 1200})
    data = customer_metrics(arms, outcomes, SPEC, pre)
    sums = metric_sums(data, SPEC, cuped=True)
    assert list(sums.columns) == SUM_COLUMNS and len(sums) == 2 * 2 * 2  # segments x arms x metrics
    s1_tx = data[(data["segment_id"] == "s1") & (data["arm"] == "tx")]
    cell = sums[(sums["segment_id"] == "s1") & (sums["arm"] == "tx") & (sums["metric"] == "revenue")].iloc[0]
    y, x = s1_tx["revenue"].to_numpy(), s1_tx["revenue_pre"].to_numpy()
    assert cell[["n", "y", "yy", "x", "xx", "xy"]].tolist() == pytest.approx(
        [len(y), y.sum(), (y * y).sum(), x.sum(), (x * x).sum(), (x * y).sum()], rel=1e-12)
    halves = pd.concat([sums.assign(**{c: sums[c] * w for c in ("n", "y", "yy", "x", "xx", "xy")})
                        for w in (0.25, 0.75)], ignore_index=True)
    extra = pd.DataFrame([["s1", HOLDOUT_ARM, "revenue", 50, 9.0, 9.0, 1.0, 1.0, 1.0],
                          [None, "tx", "revenue", 7, 9.0, 9.0, 1.0, 1.0, 1.0]], columns=SUM_COLUMNS)
    got = analyse_sums(pd.concat([halves, extra], ignore_index=True), SPEC, cuped=True,
                       sequential_tuning={"s1": 900, "s2": 1200})
    pd.testing.assert_frame_equal(got, expected, rtol=1e-9)
    assert got["cuped"].all() and got["estimate"].notna().all()
    with pytest.raises(ValueError, match="unknown arms \\['nope'\\]"):
        analyse_sums(sums.assign(arm="nope"), SPEC)
    with pytest.raises(ValueError, match="sums is missing columns \\['xy'\\]"):
        analyse_sums(sums.drop(columns="xy"), SPEC)
    assert analyse_sums(sums.iloc[:0], SPEC).empty
