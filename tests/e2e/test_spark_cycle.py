"""The Spark-native cycle: Spark reads the purchases itself, and only results reach the driver.

- `segsync run` with `engine: {kind: spark, master: "local[2]"}` on a Parquet files source gives
  what the pandas engine gives on the same file (same rows quarantined with the same reasons,
  segments with ARI >= 0.95 and the same names, scores and CLV within tolerance, the same arms,
  and the same lift table to 1e-9 for arms assigned 90 days before, with purchases in their
  windows); no purchase reaches the driver but the quarantined ones, and the measure step brings
  back one row per experiment x segment x arm, not one per customer. (A second run is the CRM
  test's: a files destination is rewritten whole by design.)
- With the sandbox CRMs and `engine.staging`, the pulls land in Parquet that Spark reads; a
  second run, with one new customer and nothing else changed, writes that customer and nobody
  else, and collects only its rows (one cycle for both claims: an unchanged customer written or
  collected there would show).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyspark")
pytestmark = [pytest.mark.usefixtures("spark"),  # the session of tests/connector/engine (one JVM per run)
              pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]

from sklearn.metrics import adjusted_rand_score  # noqa: E402

from connector.cli import main as cli_main  # noqa: E402
from connector.config import Config  # noqa: E402
from connector.sandbox.population import PopulationGenerator  # noqa: E402
from connector.sandbox.scenario import load_scenario  # noqa: E402
from connector.state import StateStore  # noqa: E402
from tests.connector.engine.conftest import TEST_CONF, spark  # noqa: E402, F401  (the suite's one session)
from tests.e2e.observed import kinds, run_observed  # noqa: E402
from tests.e2e.world import E2EWorld, salesforce_write_kind  # noqa: E402

CONFIG = """\
version: 1
state:
  path: {state}
{engine}
sources:
  files:
    transactions: data/purchases.parquet
    customer_id_column: CustomerID
    transaction_id_column: TxID
    attribute_columns: [country]
destinations:
  files:
    path: {out}
segmentation:
  method: kmeans
  k: 3
  sample_size: 1000
scoring:
  targets:
    - {{name: buy_90d, kind: propensity, horizon_days: 90}}
  models: [logistic]
experiments:
  holdout: {{share: 0.1}}
  items:
    - key: welcome
      arms:
        - {{name: control, weight: 0.5, control: true}}
        - {{name: offer, weight: 0.5}}
"""
SPARK = {"kind": "spark", "master": "local[2]", "spark_conf": TEST_CONF}
END = pd.Timestamp("2026-03-01", tz="UTC")


def _engine_yaml() -> str:
    conf = ", ".join(f'"{k}": "{str(v).lower() if isinstance(v, bool) else v}"' for k, v in TEST_CONF.items())
    return f'engine: {{kind: spark, master: "local[2]", spark_conf: {{{conf}}}}}'


def _shop(folder: Path) -> tuple[Path, pd.DataFrame]:
    """(folder with the Parquet file and both configs, the bad rows with the reason each must get)."""
    pop = PopulationGenerator(load_scenario("default"), 600, history_days=540, end=END, random_state=8).generate()
    country = pop.customers.set_index("customer_id")["country"].astype(str)
    tx = pop.transactions
    good = pd.DataFrame({"TxID": [f"t{i}" for i in range(len(tx))], "CustomerID": tx["customer_id"].astype(str),
                         "amount": tx["amount"].astype(float), "date": tx["occurred_at"],
                         "country": tx["customer_id"].map(country)})
    owner = good["CustomerID"].iloc[0]
    when = good["date"].iloc[0]
    bad = pd.DataFrame([
        ("b1", owner, -10.0, when, "US", "amount is negative (-10.0)"),
        ("b2", owner, float("nan"), when, "US", "missing amount"),
        ("b3", None, 15.0, when, "DE", "missing customer_id"),
        ("b4", owner, 20.0, pd.Timestamp("2100-01-01", tz="UTC"), "US", None),
        ("t0", owner, 30.0, when, "US", "duplicate transaction_id"),
    ], columns=[*good.columns, "reason"])
    rows = pd.concat([good, bad.drop(columns="reason")], ignore_index=True)
    (folder / "data").mkdir()
    # microseconds: Spark cannot read pandas' default nanosecond timestamps
    rows.to_parquet(folder / "data" / "purchases.parquet", index=False, coerce_timestamps="us")
    for name, engine in (("pandas", "engine: {kind: pandas}"), ("spark", _engine_yaml())):
        text = CONFIG.format(state=f"state-{name}.sqlite", engine=engine, out=f"out/{name}.csv")
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    return folder, bad


def _past_arms(folder: Path) -> pd.DataFrame:
    """Arms of 'welcome' given 90 days before the data's end to 400 of the customers (as `segsync
    serve` or an earlier run would have), stored in both state files: the measure step then reads
    purchases in every window (conversion, CUPED) on both engines."""
    ids = sorted(pd.read_parquet(folder / "data" / "purchases.parquet")["CustomerID"].dropna().unique())[:400]
    rng = np.random.default_rng(4)
    arms = pd.DataFrame({"experiment": "welcome", "customer_id": ids,
                         "arm": rng.choice(["control", "offer", "holdout"], len(ids), p=[0.45, 0.45, 0.1]),
                         "segment_id": rng.choice(["old-1", "old-2"], len(ids)),
                         "assigned_at": (END - pd.Timedelta(days=90)).isoformat()})
    for name in ("pandas", "spark"):
        with StateStore(folder / f"state-{name}.sqlite") as store:
            store.experiments.add_arms(arms)
    return arms


def _lift(folder: Path, name: str) -> pd.DataFrame:
    with StateStore(folder / f"state-{name}.sqlite") as store:
        (_, _, lift), = store.experiments.lift_history("welcome")
    return lift


def test_spark_reads_the_parquet_and_matches_the_pandas_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                collected: list[tuple[frozenset[str], int]]) -> None:
    from connector.steps import STEP_FUNCTIONS

    folder, bad = _shop(tmp_path)
    past = _past_arms(folder)
    assert cli_main(["run", str(folder / "pandas.yaml")]) == 0
    collected.clear()
    measured: list[int] = []  # where the measure step started and ended in `collected`

    def measure(ctx, step=STEP_FUNCTIONS["measure"]):  # noqa: ANN001, ANN202
        measured.append(len(collected))
        try:
            return step(ctx)
        finally:
            measured.append(len(collected))

    monkeypatch.setitem(STEP_FUNCTIONS, "measure", measure)
    assert cli_main(["run", str(folder / "spark.yaml")]) == 0
    theirs = pd.read_csv(folder / "out" / "pandas.csv", dtype={"customer_id": str}).set_index("customer_id")
    ours = pd.read_csv(folder / "out" / "spark.csv", dtype={"customer_id": str}).set_index("customer_id")
    assert ours.index.equals(theirs.index)  # the same customers in the same order (by customer_id)
    # the same columns in the same order, the CRMs' record-id columns too (empty: this shop has no CRM)
    assert list(ours.columns) == list(theirs.columns) and {"salesforce_id", "hubspot_id"} <= set(theirs.columns)
    pd.testing.assert_frame_equal(ours[["salesforce_id", "hubspot_id"]], theirs[["salesforce_id", "hubspot_id"]])
    assert set(ours["segment_name"]) == set(theirs["segment_name"])
    assert adjusted_rand_score(theirs["segment_name"], ours["segment_name"]) >= 0.95
    assert np.abs(ours["buy_90d"] - theirs["buy_90d"]).max() <= 0.02
    assert np.allclose(ours["clv"], theirs["clv"], rtol=0.01, atol=1.0)
    assert (ours["arm"] == theirs["arm"]).mean() >= 0.95
    for name in ("pandas", "spark"):
        with StateStore(folder / f"state-{name}.sqlite") as store:
            open_rows = store.rejected.open()
        reasons = dict(zip(open_rows["record_key"], open_rows["reason"], strict=True))
        assert set(reasons) == set(bad["TxID"])
        for key, reason in zip(bad["TxID"], bad["reason"], strict=True):
            assert not isinstance(reason, str) or reasons[key] == reason, (name, key, reasons[key])
        if name == "pandas":
            expected = reasons
    assert reasons == expected
    _check_lift_and_what_measure_collected(folder, past, collected, measured)


def _check_lift_and_what_measure_collected(folder: Path, past: pd.DataFrame, collected: list[tuple[frozenset[str], int]],
                                           measured: list[int]) -> None:
    """The lift table of both engines is the same to 1e-9, on real outcomes; the driver saw the
    quarantined purchases and nothing else per purchase; the measure step collected its cells only."""
    # the seeded cells, measured on outcomes: 2 old segments x 1 treatment arm x 2 metrics (this run's
    # cells have no purchase after their assignment yet, and their segments may differ by a customer
    # or two between the engines); atol: the state file's JSON keeps 10 decimals
    seeded, theirs = (_lift(folder, name) for name in ("spark", "pandas"))
    seeded, theirs = (t[t["segment_id"].isin(["old-1", "old-2"])].reset_index(drop=True) for t in (seeded, theirs))
    pd.testing.assert_frame_equal(seeded, theirs, rtol=1e-9, atol=1e-9)
    assert len(seeded) == 4 and seeded["estimate"].notna().all() and seeded["cuped"].all()
    revenue = seeded[seeded["metric"] == "revenue"]
    assert (seeded["mean_control"] > 0).all() and (revenue["n_control"] + revenue["n_treatment"]).sum() == \
        (past["arm"] != "holdout").sum()
    assert collected, "the spy saw nothing"
    per_purchase = [(cols, n) for cols, n in collected if "transaction_id" in cols]
    assert per_purchase == [(frozenset({"transaction_id", "customer_id", "reason", "source"}), 5)], per_purchase
    start, end = measured
    during = collected[start:end]
    assert not [cols for cols, _ in during if "customer_id" in cols], during
    cells = 1 * 5 * 3  # experiments x segments (2 old, 3 of this run) x arms (holdout included)
    assert 0 < sum(n for _, n in during) <= cells + 1, during  # + the caps' one row


def test_crm_pulls_land_in_parquet_and_only_changes_are_written(tmp_path: Path,
                                                                collected: list[tuple[frozenset[str], int]]) -> None:
    world = E2EWorld(tmp_path, n_customers=300, seed=5)
    data = world.config_data()
    data["engine"] = {**SPARK, "staging": str(tmp_path / "staging")}
    config = Config.model_validate(data)
    with StateStore(tmp_path / "state.sqlite") as store:
        first, first_steps = run_observed(config, store, connector_factory=world.factory)
        assert first.status == "succeeded", first.error
        staged = pd.read_parquet(tmp_path / "staging" / "transactions.parquet")
        assert len(staged) == first.counts["staged_transactions"] == len(store.mirror.transactions())
        assert first_steps.features is not None and first_steps.features.on_spark is not None
        assert first_steps.features.transactions.empty  # no purchase on the driver
        assert first.counts["pushed_salesforce"] > 0 and first.counts["pushed_hubspot"] > 0
        world.settle()
        first_rows = kinds(collected)
        assert first_rows["changed"] == first.counts["desired_rows_collected"] > 0  # every record is new
        assert first_rows["new_arms"] == first.counts["customers"]

        # one new customer, everything else unchanged: that customer is written, nobody else
        sf_id = world.sf.store.insert("Contact", [{"FirstName": "Ada", "LastName": "Nguyen",
                                                   "Email": "ada.nguyen@example.com"}])[0]
        world.sf.store.insert("Opportunity", [{"Name": "Order A", "StageName": "Closed Won", "CloseDate": "2026-02-10",
                                               "Amount": 120.0, "ContactId": sf_id}])
        world.settle()
        mark = world.mark()
        start = len(collected)
        second, _ = run_observed(config, store, connector_factory=world.factory)
        assert second.status == "succeeded", second.error
        assert second.as_of == first.as_of
        writes = world.writes_since(mark)
        assert second.counts["pushed_salesforce"] == 1 and second.counts.get("pushed_hubspot", 0) == 0
        # its record and its list memberships (every Salesforce write names it), nothing in HubSpot
        assert writes.salesforce == Counter({"PATCH composite/sobjects": 1, "POST composite/sobjects": 2})
        bodies = [json.dumps(r.json()) for r in world.sf_log.since(mark[0]) if salesforce_write_kind(r)]
        assert len(bodies) == 3 and all(sf_id in body for body in bodies), bodies
        assert sum(writes.hubspot.values()) == 0
        # the unchanged customers' segment, score, arm and desired-state rows stay on Spark: the new
        # customer's desired row and arm reach the driver, besides the features' sample (the drift
        # check; everyone below 200,000 customers), aggregates and the purchases the measure step reads
        second_rows = kinds(collected[start:])
        assert second_rows.get("changed") == 1 and second_rows.get("new_arms") == 1, second_rows
        allowed = {"aggregate", "sample", "purchases", "changed", "new_arms"}
        assert {k for k, n in second_rows.items() if n} <= allowed, second_rows
    per_purchase = [(cols, n) for cols, n in collected if "transaction_id" in cols]
    assert sum(n for _, n in per_purchase) < len(staged), collected  # two cycles: under half a purchase each
