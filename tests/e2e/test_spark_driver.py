"""What a Spark cycle brings to the driver is bounded by its samples and what changed, not by the population.

Every result Spark hands to the driver (toPandas, collect, toLocalIterator) is counted by a spy
(the `collected` fixture) across a whole `segsync` cycle with `engine: {kind: spark}` on a
Parquet files source. The rows that carry a customer_id are sorted by kind: the driver's
sample of the features, the training rows of the score model, the quarantined purchases, the
new arms and the changed rows of the desired state (new customers or changes). Segments, scores,
CLV, features and the measure step's outcomes of every customer stay on Spark (the measure step
brings back its sums per experiment x segment x arm, aggregates): any other per-customer collect,
a purchase included, fails the test. What may come back besides what changed (BOUND: the caps
of the samples plus the aggregates) is fixed by the configuration, not by the population, and is
below the population's size, so one cycle shows it (a second, larger population cost a whole
cycle and asserted the same bound on the same path). With `serve:` the snapshot holds every
customer (the one per-customer collect, by design); without it nothing is collected for a
snapshot (the second cycle of tests/e2e/test_spark_cycle.py's CRM test allows no per-customer kind).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("pyspark")
pytestmark = [pytest.mark.usefixtures("spark"),  # the session of tests/connector/engine (one JVM per run)
              pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]

from connector.config import Config  # noqa: E402
from connector.pipeline import CycleContext, CycleResult, StepResults, default_steps  # noqa: E402
from connector.sandbox.population import PopulationGenerator  # noqa: E402
from connector.sandbox.scenario import load_scenario  # noqa: E402
from connector.serve.snapshot import Snapshot, load_current  # noqa: E402
from connector.state import StateStore  # noqa: E402
from connector.steps.snapshot import publish_snapshot  # noqa: E402
from segmentation.scoring import ScoreParams  # noqa: E402
from tests.connector.engine.conftest import TEST_CONF, spark  # noqa: E402, F401  (the suite's one session)
from tests.e2e.observed import Seen, kinds, run_observed  # noqa: E402

SAMPLE = 100  # segmentation.sample_size: the driver's sample of the features
TRAIN_CAP = 120  # max_train_rows: the score model's training rows on the driver
CLV_KEYS = 150  # connector.engine.spark.clv.MAX_KEYS: CLV's distinct keys on the driver
AGGREGATES = 200  # every other aggregate of a cycle (a few per segment, rule, RFM cell, k-means iteration)
#: What a cycle may bring to the driver besides what changed (bad rows, new arms, changed rows),
#: whatever the population: the population below is larger.
BOUND = 1.3 * (SAMPLE + TRAIN_CAP) + CLV_KEYS + 1 + AGGREGATES
CUSTOMERS = 700
END = pd.Timestamp("2026-03-01", tz="UTC")


def _files_config(folder: Path, n: int) -> Config:
    pop = PopulationGenerator(load_scenario("default"), n, history_days=540, end=END, random_state=3).generate()
    tx = pop.transactions
    rows = pd.DataFrame({"TxID": [f"t{i}" for i in range(len(tx))], "CustomerID": tx["customer_id"].astype(str),
                         "amount": tx["amount"].astype(float), "date": tx["occurred_at"]})
    bad = pd.DataFrame({"TxID": ["b1", "b2"], "CustomerID": [rows["CustomerID"].iloc[0], None],
                        "amount": [-1.0, 5.0], "date": [rows["date"].iloc[0]] * 2})
    folder.mkdir()
    pd.concat([rows, bad], ignore_index=True).to_parquet(folder / "purchases.parquet", index=False,
                                                         coerce_timestamps="us")
    return Config.model_validate({
        "version": 1, "state": {"path": str(folder / "state.sqlite")},
        "engine": {"kind": "spark", "master": "local[2]", "spark_conf": TEST_CONF},
        "sources": {"files": {"transactions": str(folder / "purchases.parquet"), "customer_id_column": "CustomerID",
                              "transaction_id_column": "TxID"}},
        "segmentation": {"method": "kmeans", "k": 3, "sample_size": SAMPLE},
        "scoring": {"targets": [{"name": "buy_90d", "kind": "propensity", "horizon_days": 90}], "models": ["logistic"],
                    "cutoffs": 3},
        "experiments": {"holdout": {"share": 0.1}, "items": [{
            "key": "welcome", "cuped_days": 0,
            "arms": [{"name": "control", "weight": 0.5, "control": True}, {"name": "offer", "weight": 0.5}]}]},
        "serve": {},
    })


@pytest.fixture
def small_caps(monkeypatch: pytest.MonkeyPatch) -> None:
    """The driver's sample at sample_size (not the 200,000-row floor), the training rows capped at
    TRAIN_CAP, CLV's keys at CLV_KEYS (not 1M) and the RFM cut values bracketed (not sorted whole)
    above 50 values: the bounds a 20M-customer cycle has, at a size a test can run."""
    from connector.engine.spark import clv, features, segmentation

    monkeypatch.setattr(segmentation, "SAMPLE_ROWS", 0)
    monkeypatch.setattr(clv, "MAX_KEYS", CLV_KEYS)
    monkeypatch.setattr(features, "_SORT_ON_DRIVER", 50)
    made = ScoreParams.from_config.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(ScoreParams, "from_config", classmethod(
        lambda cls, *a, **k: dataclasses.replace(made(cls, *a, **k), max_train_rows=TRAIN_CAP)))


@pytest.mark.usefixtures("small_caps")
def test_rows_on_the_driver_are_bounded_by_the_samples_not_the_population(tmp_path: Path, collected: Seen) -> None:
    config = _files_config(tmp_path / "shop", CUSTOMERS)
    published: list[int] = []  # where the publish step started in `collected`

    def publish(ctx: CycleContext) -> None:
        published.append(len(collected))
        publish_snapshot(ctx)

    cached_before = _cached_rdds()
    with StateStore(config.resolve(config.state.path)) as store:
        result, steps = run_observed(config, store, steps={**default_steps(), "publish": publish})
        assert result.status == "succeeded", result.error
        arms = len(store.experiments.arms())
    # the cycle closed: nothing it cached is left on the executors (a daemon's session outlives its cycles)
    assert _cached_rdds() - cached_before == set()
    seen, snapshot_rows = kinds(collected[:published[0]]), kinds(collected[published[0]:])
    # the snapshot holds every customer: the one per-customer collect, by design
    _check_served_snapshot(load_current(config.snapshot_dir()), result, steps)
    assert sum(snapshot_rows.values()) >= 3 * result.counts["customers"]  # customers, segments, scores...
    assert steps.segment is not None and steps.segment.on_spark is not None
    assert steps.score is not None and steps.score.on_spark is not None and steps.score.scores.empty
    assert steps.score.clv is not None  # CLV fitted (on a sample of the customers' keys)
    assert steps.features is not None and len(steps.features.features) == SAMPLE  # trimmed to sample_size
    assert result.counts["customers"] >= 0.9 * CUSTOMERS and result.counts["scores"] == 1
    assert not [k for k in seen if k.startswith("per-customer")], seen  # no segments, scores, CLV, features
    assert SAMPLE <= seen["sample"] <= 1.3 * SAMPLE, seen  # a seeded fraction ~1.05 x sample_size, trimmed
    assert 0 < seen["training"] <= 1.3 * TRAIN_CAP, seen
    assert 0 < seen["clv_counts"] <= CLV_KEYS + 1, seen
    assert seen["aggregate"] <= AGGREGATES, seen
    assert seen["rejected"] == 2
    assert seen["new_arms"] == arms == result.counts["customers"]  # every customer is new to the experiment
    assert seen.get("changed", 0) == seen.get("purchases", 0) == 0  # no destination; the measure step sums on Spark
    bounded = sum(v for k, v in seen.items() if k not in ("rejected", "new_arms"))
    assert bounded <= BOUND < result.counts["customers"], (bounded, seen)  # below the population, whatever its size


def _cached_rdds() -> set[int]:
    """Ids of the RDDs cached on the executors now, the local checkpoints aside (the quarantine's
    repeated ids: a few rows, freed with their plan by Spark's context cleaner, not by the cycle)."""
    from pyspark import SparkContext

    rdds = SparkContext._active_spark_context._jsc.getPersistentRDDs()  # type: ignore[union-attr]
    return {int(i) for i in rdds.keySet().toArray() if "localCheckpoint" not in rdds.get(i).toDebugString()}


def _check_served_snapshot(snapshot: Snapshot | None, result: CycleResult, steps: StepResults) -> None:
    """The serving snapshot of a Spark cycle: every customer, with the segment Spark gave them."""
    assert snapshot is not None and len(snapshot.ids) == result.counts["customers"]
    assert steps.segment is not None and steps.segment.on_spark is not None
    segments = steps.segment.on_spark.toPandas().set_index("customer_id")["segment_id"]
    row = snapshot.index["customer_id"][segments.index[0]]
    assert snapshot.columns["segment.ids"][snapshot.columns["segment.code"][row]] == segments.iloc[0]
    assert snapshot.score_names == ["buy_90d"]
