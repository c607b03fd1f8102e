"""The measure step's sums on Spark (connector.engine.spark.outcomes) are the pandas engine's sums,
and the lift table built from them is the pandas engine's to 1e-9.

One small world for every case: two experiments with different windows, caps and CUPED days over
one purchase history, a customer in both, holdout customers, customers who never bought, purchases
exactly on each window's edges, a zero-amount purchase (revenue, not a conversion), an arm stored
with microseconds (as `segsync serve` stores them) and one without a segment.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from connector.steps.experiment import outcome_tables
from experiments.analysis import SUM_COLUMNS, analyse_experiment, analyse_sums, metric_sums
from experiments.outcomes import customer_metrics
from experiments.spec import HOLDOUT_ARM, ArmSpec, ExperimentSpec

pytest.importorskip("pyspark")
pytestmark = [pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]

AT = pd.Timestamp("2026-01-10", tz="UTC")
DAY = pd.Timedelta(days=1)
PROMO = ExperimentSpec("promo", (ArmSpec("control", 0.5, True), ArmSpec("offer", 0.3), ArmSpec("gift", 0.2)),
                       conversion_window_days=20, cuped_days=30, revenue_cap_quantile=0.9)
WELCOME = ExperimentSpec("welcome", (ArmSpec("a", 0.5, True), ArmSpec("b", 0.5)),
                         conversion_window_days=7, cuped_days=0, revenue_cap_quantile=None)
CELLS = ["segment_id", "arm", "metric"]


def _world(n: int = 300, seed: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(arms as the state store keeps them: text; canonical purchases)."""
    rng = np.random.default_rng(seed)
    ids = [f"c{i:04d}" for i in range(n)]
    arms = []
    for spec, who in ((PROMO, ids[: 2 * n // 3]), (WELCOME, ids[n // 3:])):  # the middle third is in both
        names = [*spec.arm_names, HOLDOUT_ARM]
        at = [AT + pd.Timedelta(hours=int(h)) for h in rng.integers(0, 72, len(who))]
        arms.append(pd.DataFrame({"experiment": spec.key, "customer_id": who,
                                  "arm": rng.choice(names, len(who), p=[0.9 / (len(names) - 1)] * (len(names) - 1) + [0.1]),
                                  "segment_id": rng.choice(["s1", "s2", "s3"], len(who)),
                                  "assigned_at": [t.isoformat() for t in at]}))
    arms = pd.concat(arms, ignore_index=True)
    arms.loc[3, "assigned_at"] = "2026-01-11T05:06:07.123456+00:00"
    arms.loc[4, "segment_id"] = None
    buyers = rng.choice(ids[: n - 20], 6 * n)  # the last 20 never buy
    tx = pd.DataFrame({"customer_id": buyers, "amount": np.round(rng.gamma(2.0, 30.0, len(buyers)), 2),
                       "occurred_at": AT + pd.to_timedelta(rng.integers(-60 * 24, 40 * 24, len(buyers)), unit="h")})
    first = pd.to_datetime(arms.loc[0, "assigned_at"], utc=True)
    edges = pd.DataFrame({"customer_id": arms.loc[0, "customer_id"], "amount": [11.0, 13.0, 17.0, 19.0, 0.0],
                          "occurred_at": [first, first + 20 * DAY, first - 30 * DAY,
                                          first - 30 * DAY - pd.Timedelta(microseconds=1), first + DAY]})
    tx = pd.concat([tx, edges], ignore_index=True)
    tx["transaction_id"] = [f"t{i}" for i in range(len(tx))]
    tx["source"] = "files"
    return arms, tx[["transaction_id", "customer_id", "occurred_at", "amount", "source"]]


def _pandas_sums(arms: pd.DataFrame, tx: pd.DataFrame, spec: ExperimentSpec) -> pd.DataFrame:
    """What the pandas engine's measure step sums for `spec`."""
    mine = arms[arms["experiment"] == spec.key]
    outcomes, pre = outcome_tables(mine, tx, spec)
    cuped = spec.cuped_days > 0
    return metric_sums(customer_metrics(mine, outcomes, spec, pre if cuped else None), spec, cuped)


def _spark_sums(spark, arms: pd.DataFrame, tx: pd.DataFrame) -> pd.DataFrame:
    from connector.engine.spark.outcomes import experiment_sums

    purchases = spark.createDataFrame(tx[["customer_id", "occurred_at", "amount"]].assign(
        occurred_at=tx["occurred_at"].dt.tz_localize(None)))  # the session reads naive instants as UTC
    on_spark = spark.createDataFrame(arms.astype(object).where(arms.notna(), None),
                                     "experiment string, customer_id string, arm string, segment_id string, "
                                     "assigned_at string")
    return experiment_sums(purchases, on_spark, [PROMO, WELCOME])


@pytest.fixture(scope="module")
def world(spark) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(arms, purchases, the sums Spark computed from them)."""
    arms, tx = _world()
    return arms, tx, _spark_sums(spark, arms, tx)


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(CELLS).reset_index(drop=True)


def test_spark_sums_are_the_pandas_engines_and_so_is_the_lift(world) -> None:
    arms, tx, sums = world
    assert set(sums["experiment"]) == {"promo", "welcome"}
    for spec in (PROMO, WELCOME):
        mine = sums[sums["experiment"] == spec.key].drop(columns="experiment")
        live = mine[(mine["arm"] != HOLDOUT_ARM) & mine["segment_id"].notna()]
        want = _pandas_sums(arms, tx, spec)
        pd.testing.assert_frame_equal(_sorted(live[SUM_COLUMNS]), _sorted(want[SUM_COLUMNS]), rtol=1e-12,
                                      check_dtype=False)
        # every assigned customer counted once per metric, holdout and the segment-less one included
        assert mine.groupby("metric")["n"].sum().tolist() == [(arms["experiment"] == spec.key).sum()] * 2
        cuped = spec.cuped_days > 0
        mine_arms = arms[arms["experiment"] == spec.key]
        outcomes, pre = outcome_tables(mine_arms, tx, spec)
        expected = analyse_experiment(mine_arms, outcomes, spec, pre_period=pre if cuped else None,
                                      sequential_tuning=100.0)
        got = analyse_sums(mine, spec, cuped=cuped, sequential_tuning=100.0)
        pd.testing.assert_frame_equal(got, expected, rtol=1e-9, atol=1e-12)
        assert expected["estimate"].notna().sum() >= 4  # lifts with values, not a table of refusals
    promo = sums[(sums["experiment"] == "promo") & (sums["metric"] == "revenue")]
    assert (promo["x"] > 0).all() and (promo["xy"] > 0).any()  # CUPED covariates read
    assert (sums.loc[sums["experiment"] == "welcome", ["x", "xx", "xy"]] == 0).all().all()  # cuped_days 0


def test_the_cap_is_the_exact_quantile_and_the_windows_edges_are_the_pandas_engines(spark, world) -> None:
    from connector.engine.spark.outcomes import customer_outcomes

    arms, tx, sums = world

    purchases = spark.createDataFrame(tx[["customer_id", "occurred_at", "amount"]].assign(
        occurred_at=tx["occurred_at"].dt.tz_localize(None)))
    on_spark = spark.createDataFrame(arms.astype(object).where(arms.notna(), None))
    rows = customer_outcomes(purchases, on_spark, [PROMO]).toPandas().set_index("customer_id")
    first = arms.loc[0, "customer_id"]
    mine = tx[tx["customer_id"] == first]
    at = pd.to_datetime(arms.loc[0, "assigned_at"], utc=True)
    post = mine[(mine["occurred_at"] >= at) & (mine["occurred_at"] < at + 20 * DAY)]["amount"].sum()
    pre = mine[(mine["occurred_at"] < at) & (mine["occurred_at"] >= at - 30 * DAY)]["amount"].sum()
    # 11 at the assignment and the zero purchase count, 13 at the window's end does not; 17 on the
    # CUPED window's first instant counts, 19 a microsecond before it does not
    assert rows.loc[first, "post"] == pytest.approx(post) and rows.loc[first, "pre"] == pytest.approx(pre)
    assert post >= 11.0 and pre >= 17.0
    assert len(rows) == (arms["experiment"] == "promo").sum()
    live = rows[rows["arm"] != HOLDOUT_ARM]
    positive = live.loc[live["post"] > 0, "post"].to_numpy()
    cap = np.quantile(positive, 0.9)
    revenue = sums[(sums["experiment"] == "promo") & (sums["metric"] == "revenue") & (sums["arm"] != HOLDOUT_ARM)]
    assert revenue["y"].sum() == pytest.approx(np.minimum(live["post"], cap).sum(), rel=1e-12)
    assert revenue["y"].sum() < live["post"].sum()  # the cap bit
