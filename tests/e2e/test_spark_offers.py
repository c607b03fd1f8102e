"""A Spark cycle with offers: `segsync run` with `engine: {kind: spark}` on a files source that
names the product column computes the offers on the executors (connector.engine.spark.offers)
and writes into the files destination the offer_1..3 and reasons the pandas engine's run writes.

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
from tests.connector.engine.conftest import TEST_CONF, spark  # noqa: E402, F401  (the suite's one session)

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


def test_a_spark_cycle_writes_the_offers_the_pandas_engine_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import connector.engine.spark.offers as on_spark

    (tmp_path / "data").mkdir()
    items = planted_products(300, 40, n_segments=3, seed=7).items
    items.assign(occurred_at=items["occurred_at"].dt.floor("s")).to_csv(tmp_path / "data" / "line_items.csv", index=False)
    for name, engine in (("pandas", "engine: {kind: pandas}"), ("spark", _engine_yaml())):
        (tmp_path / f"{name}.yaml").write_text(CONFIG.format(name=name, engine=engine), encoding="utf-8")
    calls, real = [], on_spark.spark_offers
    monkeypatch.setattr(on_spark, "spark_offers", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.chdir(tmp_path)
    assert cli_main(["run", str(tmp_path / "pandas.yaml")]) == 0
    assert cli_main(["run", str(tmp_path / "spark.yaml")]) == 0
    assert calls == [1]  # the Spark run's offers came from the executors, the pandas run's not
    theirs = pd.read_csv(tmp_path / "out" / "pandas.csv", dtype=str).set_index("customer_id").sort_index()
    ours = pd.read_csv(tmp_path / "out" / "spark.csv", dtype=str).set_index("customer_id").sort_index()
    assert len(theirs) == 300 and theirs["offer_1"].notna().all()
    assert "Product P00000" not in set(theirs[OFFERS[:3]].stack())
    pd.testing.assert_frame_equal(ours[OFFERS], theirs[OFFERS])
    with StateStore(tmp_path / "state-spark.sqlite") as store:  # the offers the stability rule reads next run
        kept = store.offers.current().set_index("customer_id").sort_index()
    with StateStore(tmp_path / "state-pandas.sqlite") as store:
        assert kept.equals(store.offers.current().set_index("customer_id").sort_index())
