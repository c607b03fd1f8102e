"""A Spark cycle with offers: `segsync run` with `engine: {kind: spark}` on a files source that
names the product column computes the offers on the executors (connector.engine.spark.offers)
and writes into the files destination the offer_1..3 and reasons the pandas engine's run writes,
with the same report figures and the same current offers stored. The table stays on Spark: only
the customers whose offers changed come to the driver (a spy on every collect).

A small planted product history (300 customers, 40 products) as a line-item CSV, RFM segments
(both engines compute them alike) and the co-occurrence method keep this cheap; the ranker's
parity is tests/connector/engine/test_spark_offers.py's."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("pyspark")
pytestmark = [pytest.mark.usefixtures("spark"),  # the session of tests/connector/engine (one JVM per run)
              pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")]

from connector.cli import main as cli_main  # noqa: E402
from connector.sandbox.products import planted_products  # noqa: E402
from connector.state import StateStore  # noqa: E402
from connector.steps import STEP_FUNCTIONS  # noqa: E402
from connector.steps.offers import ARTIFACT  # noqa: E402
from tests.connector.engine.conftest import TEST_CONF, spark  # noqa: E402, F401  (the suite's one session)
from tests.e2e.observed import Seen  # noqa: E402

CONFIG = """\
version: 1
state:
  path: state-{name}.sqlite
{engine}
sources:
  files:
    transactions: data/line_items.csv
    customer_id_column: customer_id
    date_column: occurred_at
    transaction_id_column: transaction_id
    product_column: product_id
    product_name_column: product_name
    category_column: category
    quantity_column: quantity
    unit_price_column: unit_price
destinations:
  files:
    path: out/{name}.csv
segmentation:
  method: rfm
offers:
  method: cooccurrence
  mode: any
  evaluate: false
  rules:
    exclude_products: ["P00000"]
    max_per_category: 1
"""
OFFERS = ["offer_1", "offer_2", "offer_3", "offer_reasons"]


def _engine_yaml() -> str:
    conf = ", ".join(f'"{k}": "{str(v).lower() if isinstance(v, bool) else v}"' for k, v in TEST_CONF.items())
    return f'engine: {{kind: spark, master: "local[2]", spark_conf: {{{conf}}}}}'


def test_a_spark_cycle_writes_the_offers_the_pandas_engine_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  collected: Seen):
    """The Spark run's store starts with the pandas run's current offers but for three customers:
    the offers of those three are the only per-customer offer rows Spark hands to the driver
    (before the snapshot, which holds every customer by design, and besides the files
    destination's whole-table collect, which carries the desired state's `_order`)."""
    import connector.engine.spark.offers as on_spark

    (tmp_path / "data").mkdir()
    items = planted_products(300, 40, n_segments=3, seed=7).items
    items.assign(occurred_at=items["occurred_at"].dt.floor("s")).to_csv(tmp_path / "data" / "line_items.csv", index=False)
    for name, engine in (("pandas", "engine: {kind: pandas}"), ("spark", _engine_yaml())):
        (tmp_path / f"{name}.yaml").write_text(CONFIG.format(name=name, engine=engine), encoding="utf-8")
    calls, real = [], on_spark.spark_offers
    monkeypatch.setattr(on_spark, "spark_offers", lambda *a, **k: calls.append(1) or real(*a, **k))
    published: list[int] = []
    publish = STEP_FUNCTIONS["publish"]
    monkeypatch.setitem(STEP_FUNCTIONS, "publish", lambda ctx: published.append(len(collected)) or publish(ctx))
    monkeypatch.chdir(tmp_path)
    assert cli_main(["run", str(tmp_path / "pandas.yaml")]) == 0
    with StateStore(tmp_path / "state-pandas.sqlite") as store:
        theirs_kept = store.offers.current().set_index("customer_id").sort_index()
        theirs_summary = store.models.latest(*ARTIFACT)[1]
    with StateStore(tmp_path / "state-spark.sqlite") as store:  # three customers' offers unknown to the Spark run
        store.offers.save(theirs_kept.iloc[3:].reset_index(), None)
    collected.clear()
    assert cli_main(["run", str(tmp_path / "spark.yaml")]) == 0
    assert calls == [1]  # the Spark run's offers came from the executors, the pandas run's not
    theirs = pd.read_csv(tmp_path / "out" / "pandas.csv", dtype=str).set_index("customer_id").sort_index()
    ours = pd.read_csv(tmp_path / "out" / "spark.csv", dtype=str).set_index("customer_id").sort_index()
    assert len(theirs) == 300 and theirs["offer_1"].notna().all()
    assert "Product P00000" not in set(theirs[OFFERS[:3]].stack())
    pd.testing.assert_frame_equal(ours[OFFERS], theirs[OFFERS])
    with StateStore(tmp_path / "state-spark.sqlite") as store:  # the offers the stability rule reads next run
        assert store.offers.current().set_index("customer_id").sort_index().equals(theirs_kept)
        ours_summary = store.models.latest(*ARTIFACT)[1]
        assert store.runs.last(1)[0].counts["offers_changed"] == 3
    pd.testing.assert_frame_equal(ours_summary["top_by_segment"], theirs_summary["top_by_segment"])
    assert {k: ours_summary[k] for k in ("method", "reason", "defaults")} == \
        {k: theirs_summary[k] for k in ("method", "reason", "defaults")}
    offer_rows = [n for cols, n in collected[:published[-1]]
                  if "customer_id" in cols and "_order" not in cols and any(c.startswith("offer_") for c in cols)]
    assert sum(offer_rows) == 3, offer_rows  # the three changed customers, no unchanged one
