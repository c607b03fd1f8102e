"""Parity: CLV on Spark (fit from sufficient statistics) within 1 % of the pandas engine's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segmentation.clv import clv_scores
from segmentation.purchase_summary import summary_from_transactions

pytest.importorskip("pyspark")

AS_OF = pd.Timestamp("1998-07-01", tz="UTC")


def test_summary_identical(spark, cdnow):
    from connector.engine.spark.clv import purchase_summary

    cut = pd.Timestamp("1997-09-30", tz="UTC")
    expected = summary_from_transactions(cdnow, cut, freq="D")
    got = purchase_summary(spark.createDataFrame(cdnow), cut).toPandas().set_index("customer_id").sort_index()
    assert list(got.index) == list(expected.index)
    for column in ("frequency", "recency", "T", "monetary_value"):
        np.testing.assert_allclose(got[column].to_numpy(float), expected[column].to_numpy(float), rtol=1e-12)


def test_summary_of_judged_rows_needs_no_shuffle(spark, cdnow):
    """On quarantine.judge's rows (persisted by customer) the summary is two aggregations over
    the persisted rows: no Exchange, no join of the days with each customer's first day."""
    from connector.engine.spark.clv import purchase_summary
    from connector.engine.spark.quarantine import judge

    cut = pd.Timestamp("1997-09-30", tz="UTC")
    judged = judge(spark.createDataFrame(cdnow))
    summary = purchase_summary(judged.clean, cut)
    plan = summary._jdf.queryExecution().executedPlan().toString().split("InMemoryRelation")[0]
    assert "Exchange" not in plan and "Join" not in plan, plan
    got = summary.toPandas().set_index("customer_id").sort_index()
    expected = summary_from_transactions(cdnow, cut, freq="D")
    np.testing.assert_allclose(got["monetary_value"].to_numpy(float), expected["monetary_value"].to_numpy(float),
                               rtol=1e-12)
    judged.release()


def test_clv_within_one_percent(spark, cdnow):
    from connector.engine.spark.clv import clv_scores as spark_clv

    expected = clv_scores(cdnow, AS_OF).set_index("customer_id").sort_index()
    frame, model = spark_clv(spark.createDataFrame(cdnow), AS_OF)
    bgnbd, _ = model.models()
    got = frame.toPandas().set_index("customer_id").sort_index()
    assert list(got.index) == list(expected.index)
    relative = np.abs(got["clv"] - expected["clv"]) / expected["clv"].abs().clip(lower=1e-9)
    assert float(relative.max()) < 0.01
    np.testing.assert_allclose(got["p_alive"], expected["p_alive"], rtol=0.01)
    assert 0 < bgnbd.params_["r"] < 5


def test_fit_counts_equals_fit_on_customers(cdnow):
    """The weighted likelihood over distinct rows is the per-customer likelihood (pure core)."""
    from segmentation.btyd import BGNBD, GammaGamma

    s = summary_from_transactions(cdnow, AS_OF, freq="D")
    direct = BGNBD().fit(s["frequency"], s["recency"], s["T"])
    triples = s.groupby(["frequency", "recency", "T"]).size().reset_index(name="count")
    counted = BGNBD().fit_counts(triples["frequency"], triples["recency"], triples["T"], triples["count"])
    assert counted.log_likelihood_ == pytest.approx(direct.log_likelihood_, rel=1e-9)
    for name, value in direct.params_.items():
        assert counted.params_[name] == pytest.approx(value, rel=1e-6)
    paid = s[(s["frequency"] > 0) & (s["monetary_value"] > 0)]
    pairs = paid.groupby(["frequency", "monetary_value"]).size().reset_index(name="count")
    gg = GammaGamma().fit(paid["frequency"], paid["monetary_value"])
    gg_counts = GammaGamma().fit_counts(pairs["frequency"], pairs["monetary_value"], pairs["count"])
    assert len(pairs) < len(paid)  # CDNOW amounts repeat: fewer rows than customers
    for name, value in gg.params_.items():
        assert gg_counts.params_[name] == pytest.approx(value, rel=1e-6)


def test_fit_models_one_pass_equals_the_per_customer_fits(spark, cdnow, monkeypatch):
    """Both sets of counts come from one grouping-sets aggregation; each model must still see
    exactly its own rows (all customers for BG/NBD, positive repeat spend for Gamma-Gamma)."""
    from connector.engine.spark.clv import fit_models, purchase_summary
    from segmentation.btyd import BGNBD, GammaGamma

    s = summary_from_transactions(cdnow, AS_OF, freq="D")
    bgnbd, spend = fit_models(purchase_summary(spark.createDataFrame(cdnow), AS_OF))
    direct = BGNBD().fit(s["frequency"], s["recency"], s["T"])
    paid = s[(s["frequency"] > 0) & (s["monetary_value"] > 0)]
    gg = GammaGamma().fit(paid["frequency"], paid["monetary_value"])
    assert bgnbd.log_likelihood_ == pytest.approx(direct.log_likelihood_, rel=1e-9)
    for name, value in direct.params_.items():
        assert bgnbd.params_[name] == pytest.approx(value, rel=1e-6)
    for name, value in gg.params_.items():
        assert spend.params_[name] == pytest.approx(value, rel=1e-6)
    # above max_keys distinct keys (spend pairs can be one per repeat buyer) a seeded sample of
    # customers is counted: the driver receives at most max_keys rows, and the fit stays close
    from pyspark.sql.classic.dataframe import DataFrame

    rows: list[int] = []
    to_pandas = DataFrame.toPandas
    monkeypatch.setattr(DataFrame, "toPandas", lambda self: rows.append(len(out := to_pandas(self))) or out)
    sampled, _ = fit_models(purchase_summary(spark.createDataFrame(cdnow), AS_OF), max_keys=600)
    assert rows and max(rows) <= 600 < len(s)
    assert 0.5 < sampled.params_["r"] / bgnbd.params_["r"] < 2
