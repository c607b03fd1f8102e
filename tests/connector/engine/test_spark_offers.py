"""Next best offer on the Spark executors against the pandas path on the same planted world: every
customer's offers, ids, scores and reasons identical, in both modes, with rules on, through the
stability rule, and with the taste and training samples drawn (their caps lowered below the
population, so the driver gathers only the sampled customers as it does at scale).

The ranker is fitted once (`one_fit`): its fit is the core's driver-side code
(segmentation.offer_evaluation.fit_ranker) on both paths, so the Spark path's call is checked to
receive the pandas path's inputs (items, training population, segments, dates, axes, prices) and
is handed the ranker the pandas path fitted; the offers each path serves with it are compared
whole. Fitting it twice cost several seconds of the Spark test budget and compared nothing more."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest

from segmentation.offer_selection import OfferRules
from segmentation.offers import OfferParams, recommend_offers

pytest.importorskip("pyspark")


@pytest.fixture(scope="module")
def world():
    """400 planted customers, 30 products, a tenth of the customers without a segment, rules on."""
    from connector.sandbox.products import planted_products

    planted = planted_products(400, 30, n_segments=3, seed=5)
    items = planted.items.assign(occurred_at=planted.items["occurred_at"].dt.floor("s"))  # Spark keeps microseconds
    as_of = items["occurred_at"].max().normalize() + pd.Timedelta(days=1)
    segments = planted.segments.assign(segment_name=lambda f: "Segment " + f["segment_id"].astype(str))
    unsegmented = segments.iloc[::10]  # customers without a segment still get offers (popularity)
    segments = segments.drop(unsegmented.index)
    first = str(items["product_id"].cat.categories[0])
    rules = OfferRules(exclude_products=(first,), max_per_category=2,
                       eligible={"Segment latent-1": tuple(str(p) for p in items["product_id"].cat.categories[:20])})
    return items, segments, as_of, rules


def _on_spark(spark, items, segments, as_of, params, rules, previous=None, current=None):
    from connector.engine.spark.offers import (
        items_frame,
        offers_on_driver,
        spark_offers,
        text_frame,
    )

    seg = text_frame(spark, segments)
    cur = text_frame(spark, current) if current is not None else None
    got = spark_offers(spark, items_frame(spark, items), seg, as_of, params, rules, previous=previous, current=cur)
    return got, offers_on_driver(got.offers)


@pytest.fixture(scope="module")
def sampled():
    """The taste and ranker training samples drawn below the population (400 customers), as at scale."""
    import segmentation.offer_evaluation as evaluation
    import segmentation.offer_tastes as tastes

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tastes, "MAX_FIT_CUSTOMERS", 250)
        patch.setattr(evaluation, "TRAINING_POPULATION", 300)
        yield


@pytest.fixture(scope="module")
def one_fit():
    """fit_ranker run once: the pandas path's call fits and is recorded; a Spark module's call
    (whichever module of connector.engine.spark imports it) must bring the same inputs and gets a
    copy of that ranker. Yields the recorded calls: [("pandas", inputs), ("spark", inputs)]."""
    import connector.engine.spark.offers  # noqa: F401  (loads the Spark offer modules the scan below looks in)
    import segmentation.offer_evaluation as evaluation

    real, calls, fits = evaluation.fit_ranker, [], []

    def on_pandas(*args: Any, **kwargs: Any) -> Any:
        calls.append(("pandas", _fit_inputs(real, args, kwargs)))
        fits.append(real(*args, **kwargs))
        return fits[-1]

    def on_spark(*args: Any, **kwargs: Any) -> Any:
        calls.append(("spark", _fit_inputs(real, args, kwargs)))
        assert fits, "the Spark path fitted a ranker before the pandas path did"
        _assert_same_fit_inputs(calls[-2][1], calls[-1][1])
        return copy.deepcopy(fits[-1])

    users = [m for name, m in list(sys.modules.items()) if name.startswith("connector.engine.spark")
             and getattr(m, "fit_ranker", None) is real]
    assert users, "no module of connector.engine.spark calls segmentation.offer_evaluation.fit_ranker"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(evaluation, "fit_ranker", on_pandas)
        for module in users:
            patch.setattr(module, "fit_ranker", on_spark)
        yield calls


def _fit_inputs(fit: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """fit_ranker's arguments by name, defaults filled in; n_jobs left out (threads, same ranker)."""
    bound = inspect.signature(fit).bind(*args, **kwargs)
    bound.apply_defaults()
    return {k: v for k, v in bound.arguments.items() if k != "n_jobs"}


def _assert_same_fit_inputs(want: dict[str, Any], got: dict[str, Any]) -> None:
    assert set(got) == set(want)
    for name, value in want.items():
        other = got[name]
        if dataclasses.is_dataclass(value):  # EncodedItems: the lines, in order, on the same axes
            for field in dataclasses.fields(value):
                a, b = getattr(other, field.name), getattr(value, field.name)
                if field.name == "tx":  # codes differ by path: the same lines must form each customer's transactions
                    a, b = (pd.factorize(pd.MultiIndex.from_arrays([items.c, items.tx]))[0]
                            for items in (other, value))
                np.testing.assert_array_equal(a, b, err_msg=field.name)
        elif name == "segments":  # the pandas path passes everyone's, the Spark path its population's
            assert (other.reindex(got["customers"]).astype(str).tolist()
                    == value.reindex(want["customers"]).astype(str).tolist()), name
        elif isinstance(value, pd.Index):
            pd.testing.assert_index_equal(other, value, exact=False)
        elif isinstance(value, np.ndarray):
            np.testing.assert_array_equal(other, value, err_msg=name)
        else:
            assert other == value, name


@pytest.fixture(scope="module")
def fitted(spark, world, sampled, one_fit):
    """The ranker fitted once and served by both paths (any mode): the pandas result and the Spark one."""
    items, segments, as_of, rules = world
    params = OfferParams(method="ranker", mode="any", evaluate=False)
    want = recommend_offers(items, segments, as_of, params, rules)
    got = _on_spark(spark, items, segments, as_of, params, rules)
    assert [side for side, _ in one_fit] == ["pandas", "spark"]  # one fit, and the Spark path asked for the same one
    return want, got


def test_the_ranker_fitted_and_served_on_spark_equals_the_pandas_path(fitted):
    want, (got, table) = fitted
    assert len(want.offers) == 400 and want.offers["offer_1"].notna().all()
    pd.testing.assert_frame_equal(table, want.offers, check_exact=True)
    assert got.defaults == want.defaults and got.method == want.method == "ranker" and got.retrained == want.retrained


@pytest.mark.parametrize("mode", ["any", "cross_sell"])
def test_the_stability_rule_and_both_modes_equal_the_pandas_path(spark, world, sampled, fitted, mode):
    """The next day's run with the stored ranker (re-pointed at the mode, as the step reuses it), a
    third of the current lists emptied and the others kept unless beaten by the margin."""
    items, segments, as_of, rules = world
    model = fitted[0].model
    params = OfferParams(method="ranker", mode=mode, evaluate=False)
    current = fitted[0].offers[["customer_id", "offer_1_id", "offer_2_id", "offer_3_id"]].copy()
    current.iloc[::3, 1:] = None
    later = as_of + pd.Timedelta(days=1)
    want = recommend_offers(items, segments, later, params, rules, previous=model, current=current)
    got, table = _on_spark(spark, items, segments, later, params, rules, previous=model, current=current)
    assert got.retrained is None and want.retrained is None
    pd.testing.assert_frame_equal(table, want.offers, check_exact=True)
    s = want.stability
    assert got.stability == {"kept": int(s.kept.sum()), "replaced_ineligible": int(s.ineligible.sum()),
                             "replaced_better": int(s.gained.sum())}
    assert got.stability["kept"] > 0 and got.stability["replaced_ineligible"] + got.stability["replaced_better"] > 0


def test_only_changed_offers_come_back_and_the_report_figures_are_the_pandas_ones(spark, world, fitted):
    """The diff against the stored current offers on Spark: two customers unknown to the store, one
    whose stored list differs, one stored customer gone; the rest equal and left on Spark. The
    top offers per segment and the counts are aggregations equal to the pandas path's figures."""
    from connector.engine.spark.offer_changes import offer_changes, offer_counts, top_by_segment
    from connector.engine.spark.offers import text_frame
    from segmentation.offers import top_offers_by_segment

    want, (got, _) = fitted
    _, segments, _, _ = world
    slots = ["customer_id", "offer_1_id", "offer_2_id", "offer_3_id"]
    stored = want.offers[slots].iloc[2:].copy()
    stored.iloc[0, 2] = "not-this-one"
    stored = pd.concat([stored, pd.DataFrame({"customer_id": ["gone"], "offer_1_id": ["P1"]})], ignore_index=True)
    changes = offer_changes(got.offers, text_frame(spark, stored))
    expected = want.offers[slots].iloc[:3].sort_values("customer_id").reset_index(drop=True).astype(object)
    pd.testing.assert_frame_equal(changes.rows, expected.where(expected.notna(), None))
    assert changes.gone == ["gone"]
    seg = text_frame(spark, segments)
    top = top_by_segment(got.offers, seg)
    theirs = top_offers_by_segment(want.offers, segments)
    pd.testing.assert_frame_equal(top, theirs.astype({"segment_id": str, "segment_name": str}))
    assert len(top) == 5 * segments["segment_id"].nunique()
    assert offer_counts(got.offers) == (len(want.offers), int(want.offers["offer_1"].notna().sum()))


def test_a_refits_out_of_time_comparison_runs_on_the_same_customer_sample_as_the_pandas_path(spark, world, monkeypatch):
    """The evaluation population capped below the 400 customers: Spark draws the core's seeded sample
    (only their line items come to the driver) and the comparison table is the pandas path's."""
    import segmentation.offer_evaluation as evaluation

    items, segments, as_of, rules = world
    params = OfferParams(method="cooccurrence", mode="any", evaluate=True, n_boot=50)
    whole = recommend_offers(items, segments, as_of, params, rules).evaluation
    monkeypatch.setattr(evaluation, "EVAL_POPULATION", 150)
    want = recommend_offers(items, segments, as_of, params, rules)
    got, table = _on_spark(spark, items, segments, as_of, params, rules)
    assert whole is not None and want.evaluation is not None and got.evaluation is not None
    assert (want.evaluation["customers"] < whole["customers"]).all()  # judged within the sample of 150
    pd.testing.assert_frame_equal(got.evaluation, want.evaluation, check_exact=True)
    pd.testing.assert_frame_equal(table, want.offers, check_exact=True)
