"""The plan with the Spark engine: the desired state diffed on the executors, the pandas engine's push.

Two identical worlds (same seed) get the same segments, scores and arms (the compute steps run
on the pandas engine in both, so the inputs are equal by construction and only the plan
differs); one plans with the pandas path, the other with `engine: {kind: spark}`
(connector.steps.spark_plan). Both CRMs must receive the same write requests, byte for byte
and in the same order, and end in the same state. A second Spark cycle on unchanged data
collects no desired-state row (a spy counts the rows of every Spark result handed to the
driver), and a new customer is exactly one collected row and the pandas engine's one write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

pytest.importorskip("pyspark")
pytestmark = [pytest.mark.usefixtures("spark"),  # the session of tests/connector/engine (one JVM per run)
              pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]

from connector.config import Config  # noqa: E402
from connector.engine.pandas import PandasEngine  # noqa: E402
from connector.pipeline import CycleContext, CycleResult, StepFn, default_steps, run_cycle  # noqa: E402
from connector.state import StateStore  # noqa: E402
from tests.connector.engine.conftest import TEST_CONF, spark  # noqa: E402, F401  (the suite's one session)
from tests.e2e.crm_state import hubspot_snapshot, salesforce_snapshot  # noqa: E402
from tests.e2e.world import E2EWorld, Request  # noqa: E402

COMPUTE = ("features", "segment", "score", "offers")  # assign runs on Spark: its arms must be the same


@pytest.fixture
def desired_rows(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The row count of every desired-state frame Spark hands to the driver (`_values` marks them)."""
    from pyspark.sql.classic.dataframe import DataFrame

    seen: list[int] = []
    to_pandas = DataFrame.toPandas

    def spy(self: DataFrame) -> pd.DataFrame:
        out = to_pandas(self)
        if any(str(c).startswith("_values") for c in out.columns):
            seen.append(len(out))
        return out

    monkeypatch.setattr(DataFrame, "toPandas", spy)
    yield seen


def _pandas_compute(steps: dict[str, StepFn]) -> dict[str, StepFn]:
    """The cycle's steps with features..assign on the pandas engine (identical inputs for the plan)."""
    def on_pandas(fn: Callable[[CycleContext], object]) -> StepFn:
        def run(ctx: CycleContext) -> object:
            configured, ctx._engine = ctx.engine(), PandasEngine()
            try:
                return fn(ctx)
            finally:
                ctx._engine = configured
        return run

    return {name: on_pandas(fn) if name in COMPUTE else fn for name, fn in steps.items()}


class Side:
    """One world, its store and its config (engine pandas or spark)."""

    def __init__(self, tmp: Path, engine: dict[str, Any]) -> None:
        tmp.mkdir()
        self.world = E2EWorld(tmp, n_customers=150, seed=5)
        self.config = Config.model_validate({**self.world.config_data(), "engine": engine})
        self.store = StateStore(tmp / "state.sqlite")

    def run(self) -> tuple[CycleResult, list[Request], list[Request]]:
        """One cycle: (its result, the write requests Salesforce and HubSpot received)."""
        marks = self.world.sf_log.mark(), self.world.hs_log.mark()
        result = run_cycle(self.config, self.store, connector_factory=self.world.factory,
                           steps=_pandas_compute(default_steps()))
        assert result.status == "succeeded", result.error
        self.world.settle()
        return result, _writes(self.world.sf_log.since(marks[0])), _writes(self.world.hs_log.since(marks[1]))

    def add_customer(self) -> None:
        sf = self.world.sf.store
        sf_id = sf.insert("Contact", [{"FirstName": "Ada", "LastName": "Nguyen", "Email": "ada.nguyen@example.com"}])[0]
        sf.insert("Opportunity", [{"Name": "Order A", "StageName": "Closed Won", "CloseDate": "2026-02-10",
                                   "Amount": 120.0, "ContactId": sf_id}])
        self.world.settle()


def _writes(requests: list[Request]) -> list[Request]:
    """The requests that change a CRM (reads, searches and logins left out)."""
    return [r for r in requests if r.method != "GET" and "/search" not in r.path and "/query" not in r.path
            and "jobs/query" not in r.path and "oauth" not in r.path and not r.path.endswith("/batch/read")
            and not (r.path.endswith("composite/sobjects/Contact") and r.method == "POST"
                     and "ids" in (r.json() or {}))]


@pytest.fixture
def sides(tmp_path: Path) -> Iterator[tuple[Side, Side]]:
    pandas_side = Side(tmp_path / "pandas", {"kind": "pandas"})
    spark_side = Side(tmp_path / "spark", {"kind": "spark", "master": "local[2]", "spark_conf": TEST_CONF})
    yield pandas_side, spark_side
    pandas_side.store.close()
    spark_side.store.close()


def test_spark_plan_pushes_what_the_pandas_plan_pushes(sides: tuple[Side, Side], desired_rows: list[int]) -> None:
    pandas_side, spark_side = sides
    first_p, sf_p, hs_p = pandas_side.run()
    first_s, sf_s, hs_s = spark_side.run()
    assert first_s.counts["pushed_salesforce"] == first_p.counts["pushed_salesforce"] > 50
    assert first_s.counts["pushed_hubspot"] == first_p.counts["pushed_hubspot"] > 50
    assert [(r.method, r.path, r.body) for r in sf_s] == [(r.method, r.path, r.body) for r in sf_p]
    assert [(r.method, r.path, r.body) for r in hs_s] == [(r.method, r.path, r.body) for r in hs_p]
    assert first_s.plan == first_p.plan  # updates, unchanged, list adds and removals, new lists, per destination
    for snapshot, a, b in ((salesforce_snapshot, pandas_side.world.sf, spark_side.world.sf),
                           (hubspot_snapshot, pandas_side.world.hs, spark_side.world.hs)):
        assert snapshot(a) == snapshot(b)
    # every customer with a record id was new to the ledger: all of them came back, once per destination
    assert desired_rows == [first_s.counts["pushed_salesforce"], first_s.counts["pushed_hubspot"]]
    assert first_s.counts["desired_rows_collected"] == sum(desired_rows)

    desired_rows.clear()
    second_p, sf_p, hs_p = pandas_side.run()
    second_s, sf_s, hs_s = spark_side.run()
    assert sf_s == sf_p == [] and hs_s == hs_p == []
    assert desired_rows == [0, 0]  # nothing changed: not one desired-state row reached the driver
    assert second_s.plan == second_p.plan
    assert [p["unchanged"] for p in second_s.plan] == [first_s.counts["pushed_salesforce"],
                                                        first_s.counts["pushed_hubspot"]]

    desired_rows.clear()
    pandas_side.add_customer()
    spark_side.add_customer()
    third_p, sf_p, hs_p = pandas_side.run()
    third_s, sf_s, hs_s = spark_side.run()
    assert third_s.counts["pushed_salesforce"] == third_p.counts["pushed_salesforce"] == 1
    assert desired_rows == [1, 0]  # the new Salesforce contact; HubSpot does not hold them
    assert [(r.method, r.path, r.body) for r in sf_s] == [(r.method, r.path, r.body) for r in sf_p]
    assert [(r.method, r.path, r.body) for r in hs_s] == [(r.method, r.path, r.body) for r in hs_p]
    assert third_s.plan == third_p.plan
