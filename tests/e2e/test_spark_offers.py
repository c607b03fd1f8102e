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
    items = items.assign(occurred_at=items["occurred_at"].dt.floor("s")).astype(object)
    pd.concat([items, _bad_lines(items)]).to_csv(tmp_path / "data" / "line_items.csv", index=False)
    cleaned: list[int] = []
    import connector.steps.spark_offers as spark_step

    real_clean = spark_step.offers_of_spark_lines
    monkeypatch.setattr(spark_step, "offers_of_spark_lines", lambda *a: cleaned.append(1) or real_clean(*a))
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
        theirs_rejected, theirs_counts = _rejected(store), store.runs.last(1)[0].counts
    with StateStore(tmp_path / "state-spark.sqlite") as store:  # three customers' offers unknown to the Spark run
        store.offers.save(theirs_kept.iloc[3:].reset_index(), None)
    collected.clear()
    assert cli_main(["run", str(tmp_path / "spark.yaml")]) == 0
    assert calls == [1]  # the Spark run's offers came from the executors, the pandas run's not
    assert cleaned == [1]  # from line items Spark read and cleaned
    theirs = pd.read_csv(tmp_path / "out" / "pandas.csv", dtype=str).set_index("customer_id").sort_index()
    ours = pd.read_csv(tmp_path / "out" / "spark.csv", dtype=str).set_index("customer_id").sort_index()
    assert len(theirs) == 300 and theirs["offer_1"].notna().all()
    assert "Product P00000" not in set(theirs[OFFERS[:3]].stack())
    pd.testing.assert_frame_equal(ours[OFFERS], theirs[OFFERS])
    with StateStore(tmp_path / "state-spark.sqlite") as store:  # the offers the stability rule reads next run
        assert store.offers.current().set_index("customer_id").sort_index().equals(theirs_kept)
        ours_summary = store.models.latest(*ARTIFACT)[1]
        counts = store.runs.last(1)[0].counts
        assert counts["offers_changed"] == 3
        ours_rejected = _rejected(store)
    assert len(theirs_rejected) == 6 and set(theirs_rejected["source"]) == {"files"}
    assert set(theirs_rejected["reason"]) >= {"cancellation or return: quantity -2", "not a product: code POST",
                                              "unit price is not positive (0)", "no customer"}
    # the lines and the purchases, same reasons; a line without a customer says so in JSON (null)
    pd.testing.assert_frame_equal(ours_rejected.drop(columns="payload"), theirs_rejected.drop(columns="payload"))
    lines_payload = ours_rejected.loc[ours_rejected["step"] == "offers", "payload"]
    assert lines_payload.tolist() == theirs_rejected.loc[theirs_rejected["step"] == "offers", "payload"].tolist()
    assert '{"customer_id": null}' in lines_payload.tolist()
    for name in ("customers", "transactions", "line_items", "rejected_line_items", "offers"):
        assert counts[name] == theirs_counts[name], name
    pd.testing.assert_frame_equal(ours_summary["top_by_segment"], theirs_summary["top_by_segment"])
    assert {k: ours_summary[k] for k in ("method", "reason", "defaults")} == \
        {k: theirs_summary[k] for k in ("method", "reason", "defaults")}
    offer_rows = [n for cols, n in collected[:published[-1]]
                  if "customer_id" in cols and "_order" not in cols and any(c.startswith("offer_") for c in cols)]
    assert sum(offer_rows) == 3, offer_rows  # the three changed customers, no unchanged one
    lines = [(cols, n) for cols, n in collected if {"transaction_id", "product_id"} <= cols]
    assert lines == [(frozenset({"transaction_id", "customer_id", "product_id", "reason", "source"}), 4)]  # no clean line


def _bad_lines(items: pd.DataFrame) -> pd.DataFrame:
    """What real exports carry: a cancellation (a purchase of its own), a postage line and a free
    line in a customer's purchase, a line without a customer (a purchase of its own)."""
    bad = items.iloc[[0, 1, 2, 3]].copy()
    bad["transaction_id"] = ["CANCEL-1", items["transaction_id"].iloc[5], items["transaction_id"].iloc[9], "ANON-1"]
    bad["customer_id"] = [items["customer_id"].iloc[0], items["customer_id"].iloc[5], items["customer_id"].iloc[9], None]
    bad["occurred_at"] = [items["occurred_at"].iloc[0], items["occurred_at"].iloc[5], items["occurred_at"].iloc[9],
                          items["occurred_at"].iloc[3]]
    bad["quantity"] = [-2.0, 1.0, 1.0, 1.0]
    bad["product_id"] = [items["product_id"].iloc[0], "POST", items["product_id"].iloc[2], items["product_id"].iloc[3]]
    bad["unit_price"] = [12.5, 3.0, 0.0, 9.0]
    return bad


def _rejected(store: StateStore) -> pd.DataFrame:
    """The open rejections of the run (line items and purchases), comparable across stores."""
    open_ = store.rejected.open()[["step", "source", "record_key", "reason", "payload"]]
    return open_.sort_values(["step", "record_key", "reason"]).reset_index(drop=True)
