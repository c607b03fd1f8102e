"""The one-row paths the real-time API uses give the batch paths' numbers for that row.

Scaler and encoder rows, TreeSHAP and linear contributions, probabilities and reason codes,
segment assignment, and the CLV summary and value, each against its batch twin.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segmentation.clv import clv_scores, fit_clv
from segmentation.engine import SegmentationParams, assign_segment, assign_segments, segment
from segmentation.propensity import PropensityClassifier
from segmentation.purchase_summary import (
    add_purchases_to_summary,
    summary_from_transactions,
    summary_of_one,
)
from segmentation.scaling import FeatureScaler
from segmentation.scoring import ScoreModel

AS_OF = pd.Timestamp("2024-03-10", tz="UTC")


def _frame(n: int = 400, seed: int = 3) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "recency_days": rng.exponential(60, n), "frequency": rng.integers(0, 12, n),
        "monetary_total": rng.lognormal(4, 1, n), "ipt_mean_days": np.where(rng.random(n) < 0.3, np.nan, rng.exponential(30, n)),
        "country": rng.choice(["US", "DE", "FR", None], n),
    }, index=pd.Index([f"c{i}" for i in range(n)], name="customer_id"))
    y = (rng.random(n) < 1 / (1 + np.exp(frame["recency_days"] / 40 - frame["frequency"] / 4))).astype(int)
    return frame, y


def _rows(frame: pd.DataFrame) -> list[dict]:
    return [{k: (None if v is None else v) for k, v in row.items()} for row in frame.to_dict("records")]


def test_scaler_row_equals_its_row_of_the_matrix() -> None:
    frame, _ = _frame()
    scaler = FeatureScaler(list(frame.columns)).fit(frame)
    matrix = scaler.transform(frame)
    for i, values in enumerate(_rows(frame)[:60]):
        np.testing.assert_array_equal(scaler.transform_row(values), matrix[i])
    odd = {"recency_days": "not a number", "frequency": None, "monetary_total": 1e12, "ipt_mean_days": 3.0, "country": "JP"}
    np.testing.assert_array_equal(scaler.transform_row(odd), scaler.transform(pd.DataFrame([odd]))[0])


@pytest.mark.parametrize("family", ["logistic", "gbm"])
def test_score_row_equals_the_batch_score_and_reasons(family: str) -> None:
    frame, y = _frame()
    model = ScoreModel("buy", "propensity", family, AS_OF, PropensityClassifier(models=(family,), random_state=0).fit(frame, y))
    batch = model.score(frame)
    reasons = 0
    for i, values in enumerate(_rows(frame)):
        probability, text = model.score_row(values)
        assert probability == pytest.approx(batch["buy"].iloc[i], abs=1e-12, rel=0)
        assert text == batch["buy_reasons"].iloc[i]
        reasons += bool(text)
    assert reasons > len(frame) // 4  # most rows have a reason to compare
    shares = model.estimator.contributions(frame).to_numpy()
    for i, values in enumerate(_rows(frame)[:50]):
        np.testing.assert_allclose(model.estimator.contributions_row(values), shares[i], rtol=0, atol=1e-12)


def test_a_missing_value_takes_the_trees_slow_path_and_still_agrees() -> None:
    frame, y = _frame(seed=8)
    model = ScoreModel("buy", "propensity", "gbm", AS_OF, PropensityClassifier(models=("gbm",), random_state=0).fit(frame, y))
    gaps = frame.assign(recency_days=np.nan, monetary_total=np.nan).head(20)
    batch = model.score(gaps)
    for i, values in enumerate(_rows(gaps)):
        assert model.score_row(values) == (pytest.approx(batch["buy"].iloc[i], abs=1e-12), batch["buy_reasons"].iloc[i])


def test_assign_segment_equals_assign_segments() -> None:
    frame, _ = _frame(n=600)
    params = SegmentationParams(k=4, features=("recency_days", "frequency", "monetary_total"), attributes=("country",), sample_size=600)
    state = segment(frame, params, None, AS_OF).state
    batch = assign_segments(state, frame)
    assert batch is not None and batch.nunique() == 4
    assert [assign_segment(state, v) for v in _rows(frame)] == batch.astype(str).tolist()


purchase = st.tuples(st.integers(0, 400), st.floats(0, 500, allow_nan=False), st.integers(0, 23))


@settings(max_examples=80, deadline=None)
@given(st.lists(purchase, min_size=1, max_size=10))
def test_summary_of_one_equals_the_population_summary(rows: list) -> None:
    when = [AS_OF.normalize() - pd.Timedelta(days=d) + pd.Timedelta(hours=h) for d, _, h in rows]
    amounts = [a for _, a, _ in rows]
    tx = pd.DataFrame({"customer_id": "x", "occurred_at": when, "amount": amounts})
    want = summary_from_transactions(tx, AS_OF, freq="D").loc["x"]
    got = summary_of_one(when, amounts, AS_OF)
    assert got is not None
    assert got[:3] == (want["frequency"], want["recency"], want["T"])
    assert got[3] == pytest.approx(want["monetary_value"], rel=1e-12, abs=1e-9)


def test_summary_of_one_counts_a_late_purchase_on_the_as_of_day() -> None:
    late = [AS_OF - pd.Timedelta(days=10), AS_OF + pd.Timedelta(days=5)]
    assert summary_of_one(late, [10.0, 30.0], AS_OF) == (1.0, 10.0, 10.0, 30.0)
    assert summary_of_one([], [], AS_OF) is None


@settings(max_examples=120, deadline=None)
@given(st.lists(purchase, max_size=8), st.lists(st.tuples(st.integers(0, 12), st.floats(0, 500, allow_nan=False), st.integers(0, 23)),
                                               min_size=1, max_size=4))
def test_a_summary_moved_by_later_purchases_equals_the_summary_of_the_whole_history(rows: list, later: list) -> None:
    """Live purchases on or after the last purchase day (some after the as-of day, which count on
    it): moving the summary gives summary_of_one of the whole history, with no history kept."""
    when = [AS_OF.normalize() - pd.Timedelta(days=d) + pd.Timedelta(hours=h) for d, _, h in rows]
    amounts = [a for _, a, _ in rows]
    start = max(when).normalize() if when else AS_OF.normalize() - pd.Timedelta(days=6)
    new = [start + pd.Timedelta(days=d, hours=h) for d, _, h in later]
    got = add_purchases_to_summary(summary_of_one(when, amounts, AS_OF), new, [a for _, a, _ in later], AS_OF)
    want = summary_of_one([*when, *new], [*amounts, *(a for _, a, _ in later)], AS_OF)
    assert got is not None and want is not None
    assert got[:3] == want[:3]
    assert got[3] == pytest.approx(want[3], rel=1e-12, abs=1e-9)


def test_a_back_dated_purchase_is_a_new_purchase_day() -> None:
    """Between the first and the last day the summary cannot tell a purchase day from another:
    counted as a new one; before the first, the old first day becomes a repeat worth the mean."""
    base = summary_of_one([AS_OF - pd.Timedelta(days=30), AS_OF - pd.Timedelta(days=10)], [5.0, 40.0], AS_OF)
    assert base == (1.0, 20.0, 30.0, 40.0)
    assert add_purchases_to_summary(base, [AS_OF - pd.Timedelta(days=20)], [10.0], AS_OF) == (2.0, 20.0, 30.0, 25.0)
    assert add_purchases_to_summary(base, [AS_OF - pd.Timedelta(days=50)], [10.0], AS_OF) == (2.0, 40.0, 50.0, 40.0)
    assert add_purchases_to_summary(base, [], [], AS_OF) == base
    assert add_purchases_to_summary(None, [AS_OF], [7.0], AS_OF) == (0.0, 0.0, 0.0, 0.0)


def test_clv_model_values_one_customer_as_the_batch_does() -> None:
    rng = np.random.default_rng(2)
    n = 300
    counts = rng.integers(1, 8, n)
    cid = np.repeat([f"c{i}" for i in range(n)], counts)
    when = AS_OF - pd.to_timedelta(rng.integers(0, 500, counts.sum()), unit="D")
    tx = pd.DataFrame({"customer_id": cid, "occurred_at": when, "amount": rng.lognormal(3, 0.5, counts.sum())})
    model, _ = fit_clv(tx, AS_OF)
    batch = clv_scores(tx, AS_OF).set_index("customer_id")
    assert batch.equals(clv_scores(tx, AS_OF, model=model).set_index("customer_id"))
    for c in [f"c{i}" for i in range(0, n, 7)]:
        mine = tx[tx["customer_id"] == c]
        clv, p_alive = model.value(*([v] for v in summary_of_one(list(mine["occurred_at"]), list(mine["amount"]), AS_OF)))  # type: ignore[union-attr]
        assert clv[0] == pytest.approx(batch.loc[c, "clv"], rel=1e-10)
        assert p_alive[0] == pytest.approx(batch.loc[c, "p_alive"], rel=1e-12)
    assert model.from_dict(model.to_dict()) == model
