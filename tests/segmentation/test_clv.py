"""BG/NBD and Gamma-Gamma against the published CDNOW figures (reference/segmentation.md §1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special

from connector.sandbox.cdnow import cdnow_sample_transactions
from segmentation.clv import (
    BGNBD,
    GammaGamma,
    clv_scores,
    customer_lifetime_value,
    summary_from_transactions,
)

CDNOW = Path(__file__).resolve().parents[1] / "data" / "CDNOW_sample.txt"


def load_cdnow() -> pd.DataFrame:
    """CDNOW_sample.txt as canonical transactions (customer_id = the 4-digit sample id)."""
    return cdnow_sample_transactions(CDNOW)


@pytest.fixture(scope="module")
def summary() -> pd.DataFrame:
    return summary_from_transactions(load_cdnow(), "1997-09-30", "1998-06-30", freq="W")


@pytest.fixture(scope="module")
def bgnbd(summary: pd.DataFrame) -> BGNBD:
    return BGNBD().fit(summary["frequency"], summary["recency"], summary["T"])


@pytest.fixture(scope="module")
def gamma_gamma(summary: pd.DataFrame) -> GammaGamma:
    return GammaGamma().fit(summary["frequency"], summary["monetary_value"])


def test_cdnow_summary_matches_the_paper(summary: pd.DataFrame) -> None:
    assert len(summary) == 2357
    assert summary["frequency"].sum() == 2457
    assert summary["frequency_holdout"].sum() == 1882
    assert (summary["frequency"] == 0).sum() == 1411
    assert summary["T"].min() == pytest.approx(27.0)
    assert summary["T"].max() == pytest.approx(38.857, abs=1e-3)
    assert summary["duration_holdout"].iloc[0] == pytest.approx(39.0)
    # Customer 0001 bought on 1997-01-01, 01-18 and 08-02 (two repeats, last in week 30.43).
    first = summary.loc["0001"]
    assert (first["frequency"], round(first["recency"], 2), round(first["T"], 2)) == (2, 30.43, 38.86)
    assert first["monetary_value"] == pytest.approx((29.73 + 14.96) / 2)


def test_bgnbd_parameters_and_log_likelihood_match_the_paper(bgnbd: BGNBD) -> None:
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    for name, value in published.items():
        assert bgnbd.params_[name] == pytest.approx(value, rel=0.01), name
    # CLVTools asserts these to 7 digits; we must land on the same optimum.
    assert bgnbd.params_["r"] == pytest.approx(0.2425945, rel=1e-4)
    assert bgnbd.params_["b"] == pytest.approx(2.4258881, rel=1e-4)
    assert bgnbd.log_likelihood_ == pytest.approx(-9582.43, abs=0.01)
    assert bgnbd.n_customers_ == 2357


def test_log_likelihood_is_the_papers_formula_without_logs(summary: pd.DataFrame, bgnbd: BGNBD) -> None:
    r, alpha, a, b = (bgnbd.params_[k] for k in ("r", "alpha", "a", "b"))
    rows = summary.iloc[:50]
    total = 0.0
    for x, tx, T in rows[["frequency", "recency", "T"]].itertuples(index=False):
        common = (special.gamma(r + x) * alpha**r / special.gamma(r)
                  * special.beta(a, b + x) / special.beta(a, b))
        like = common * (alpha + T) ** -(r + x)
        if x > 0:
            like += (special.beta(a + 1, b + x - 1) / special.beta(a, b)
                     * special.gamma(r + x) * alpha**r / special.gamma(r) * (alpha + tx) ** -(r + x))
        total += np.log(like)
    sub = BGNBD()._log_likelihood(np.array([r, alpha, a, b]), *(rows[c].to_numpy(float) for c in ("frequency", "recency", "T")), 1.0)
    assert sub[0] == pytest.approx(total, rel=1e-10)


def test_analytic_gradient_matches_finite_differences(summary: pd.DataFrame) -> None:
    cols = [summary[c].to_numpy(float) for c in ("frequency", "recency", "T")]
    theta = np.array([0.3, 5.0, 0.9, 2.0])
    _, grad = BGNBD._log_likelihood(theta, *cols, 1.0)
    for i in range(4):
        step = np.zeros(4)
        step[i] = 1e-6
        numeric = (BGNBD._log_likelihood(theta + step, *cols, 1.0)[0]
                   - BGNBD._log_likelihood(theta - step, *cols, 1.0)[0]) / 2e-6
        assert grad[i] == pytest.approx(numeric, rel=1e-5)
    x, z = cols[0][cols[0] > 0], summary["monetary_value"].to_numpy(float)[cols[0] > 0]
    gg = np.array([5.0, 3.0, 12.0])
    _, ggrad = GammaGamma._log_likelihood(gg, x, z)
    for i in range(3):
        step = np.zeros(3)
        step[i] = 1e-6
        numeric = (GammaGamma._log_likelihood(gg + step, x, z)[0] - GammaGamma._log_likelihood(gg - step, x, z)[0]) / 2e-6
        assert ggrad[i] == pytest.approx(numeric, rel=1e-5)


def test_predictions_match_lifetimes_test_suite(bgnbd: BGNBD) -> None:
    assert bgnbd.conditional_expected_purchases(39, 2, 30.43, 38.86) == pytest.approx(1.226, abs=1e-3)
    expected = bgnbd.expected_purchases([0.1429, 1, 3, 31.8571, 32, 78])
    np.testing.assert_allclose(expected, [0.0078, 0.0532, 0.1506, 1.0405, 1.0437, 1.8576], atol=1e-3)
    paper = BGNBD()
    paper.params_ = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    assert paper.p_purchases(0, 39) == pytest.approx(0.5737864, abs=1e-7)
    assert sum(bgnbd.p_purchases(n, 39) for n in range(150)) == pytest.approx(1.0, abs=1e-9)
    assert bgnbd.p_alive(0, 0, 30) == 1.0
    # A customer who just made a first purchase is a new customer: P(any in t) = 1 - P(X(t) = 0).
    assert bgnbd.p_any_purchase(39, 0, 0, 0) == pytest.approx(1 - bgnbd.p_purchases(0, 39))
    assert bgnbd.p_any_purchase(39, 5, 2.0, 38.0) < bgnbd.p_any_purchase(39, 5, 37.0, 38.0)
    # Buying at T leaves only the chance of dropping out right after it: (b+x-1)/(a+b+x-1).
    a, b = bgnbd.params_["a"], bgnbd.params_["b"]
    assert bgnbd.p_alive(5, 38.0, 38.0) == pytest.approx((b + 4) / (a + b + 4))
    assert bgnbd.p_alive(5, 2.0, 38.0) < 0.05  # silent since week 2 of 38


def test_holdout_conditional_expectations_by_calibration_frequency(summary: pd.DataFrame, bgnbd: BGNBD) -> None:
    expected = bgnbd.conditional_expected_purchases(39.0, summary["frequency"], summary["recency"], summary["T"])
    group = np.minimum(summary["frequency"], 7)
    table = pd.DataFrame({
        "n": group.value_counts().sort_index(),
        "actual": summary["frequency_holdout"].groupby(group).mean(),
        "bgnbd": pd.Series(expected, index=summary.index).groupby(group).mean(),
    })
    assert table["n"].tolist() == [1411, 439, 214, 100, 62, 38, 29, 64]
    np.testing.assert_allclose(table["actual"], [0.24, 0.70, 1.39, 1.56, 2.53, 2.95, 3.86, 6.36], atol=0.005)
    np.testing.assert_allclose(table["bgnbd"], [0.23, 0.52, 1.04, 1.52, 2.16, 2.65, 3.50, 6.16], atol=0.005)
    assert expected.sum() == pytest.approx(1653.4, abs=0.1)
    assert summary.loc[summary["frequency"] == 0, "frequency_holdout"].sum() == 334


def test_cumulative_tracking_forecast_at_week_78(summary: pd.DataFrame, bgnbd: BGNBD) -> None:
    # The paper's tracking curve counts to the end of 1998-06-30, one day past T + 39 weeks.
    forecast = bgnbd.expected_purchases(summary["T"].to_numpy() + 39 + 1 / 7).sum()
    actual = summary["frequency"].sum() + summary["frequency_holdout"].sum()
    assert actual == 4339
    assert forecast == pytest.approx(4165.7, abs=0.5)
    assert (forecast - actual) / actual == pytest.approx(-0.040, abs=0.001)


def test_gamma_gamma_matches_the_paper(summary: pd.DataFrame, gamma_gamma: GammaGamma) -> None:
    for name, value in {"p": 6.25, "q": 3.74, "gamma": 15.44}.items():
        assert gamma_gamma.params_[name] == pytest.approx(value, rel=0.01), name
    assert gamma_gamma.n_customers_ == 946
    assert summary.loc[summary["frequency"] > 0, "monetary_value"].mean() == pytest.approx(35.08, abs=0.005)
    head = summary.iloc[:10]
    profit = gamma_gamma.conditional_expected_average_profit(head["frequency"], head["monetary_value"])
    # lifetimes TestGammaGammaFitter, "from Hardie spreadsheet notes/025".
    np.testing.assert_allclose(profit, [24.65, 18.91, 35.17, 35.17, 35.17, 71.46, 18.91, 35.17, 27.28, 35.17], atol=0.1)


def test_clv_discounts_and_multiplies_expected_spend(summary: pd.DataFrame, bgnbd: BGNBD, gamma_gamma: GammaGamma) -> None:
    head = summary.iloc[:20]
    undiscounted = customer_lifetime_value(bgnbd, gamma_gamma, head, 52, 0.0, 52.18, steps=4)
    purchases = bgnbd.conditional_expected_purchases(52, head["frequency"], head["recency"], head["T"])
    spend = gamma_gamma.conditional_expected_average_profit(head["frequency"], head["monetary_value"])
    np.testing.assert_allclose(undiscounted, purchases * spend, rtol=1e-12)
    discounted = customer_lifetime_value(bgnbd, gamma_gamma, head, 52, 0.2, 52.18, steps=4)
    assert np.all(discounted < undiscounted) and np.all(discounted > undiscounted / 1.2)
    with pytest.raises(ValueError, match="annual_discount_rate"):
        customer_lifetime_value(bgnbd, gamma_gamma, head, 52, 1.5, 52.18)


def test_clv_scores_pipeline_helper(summary: pd.DataFrame, bgnbd: BGNBD) -> None:
    scores = clv_scores(load_cdnow(), "1997-09-30", horizon_days=365, annual_discount_rate=0.1)
    assert list(scores.columns) == ["customer_id", "clv", "p_alive", "expected_purchases"]
    assert scores["customer_id"].tolist() == summary.index.tolist()
    assert scores[["clv", "p_alive", "expected_purchases"]].ge(0).all().all()
    # The helper fits in days; the MLE is unit-equivariant, so it must agree with the weekly fit.
    np.testing.assert_allclose(scores["p_alive"], bgnbd.p_alive(summary["frequency"], summary["recency"], summary["T"]), atol=1e-4)
    weekly = bgnbd.conditional_expected_purchases(365 / 7, summary["frequency"], summary["recency"], summary["T"])
    np.testing.assert_allclose(scores["expected_purchases"], weekly, rtol=1e-3, atol=1e-6)
    # Fitting on a 1,500-customer sample still scores all 2,357, with close predictions.
    sampled = clv_scores(load_cdnow(), "1997-09-30", 365, 0.1, max_fit_customers=1500)
    assert len(sampled) == 2357
    assert np.corrcoef(sampled["clv"], scores["clv"])[0, 1] > 0.98


def test_summary_merges_same_day_purchases_and_counts_holdout() -> None:
    tx = pd.DataFrame({
        "customer_id": ["a", "a", "a", "a", "b", "c"],
        "occurred_at": pd.to_datetime(["2024-01-01 09:00", "2024-01-01 18:00", "2024-01-08 00:00", "2024-01-20 00:00",
                                       "2024-01-05 00:00", "2024-01-15 00:00"], utc=True),
        "amount": [10.0, 5.0, 20.0, 7.0, 3.0, 1.0],
    })
    out = summary_from_transactions(tx, pd.Timestamp("2024-01-10"), "2024-01-31", freq="D")
    assert out.index.tolist() == ["a", "b"]  # c first bought after the calibration end
    a = out.loc["a"]
    assert (a["frequency"], a["recency"], a["T"], a["monetary_value"]) == (1, 7.0, 9.0, 20.0)
    assert (a["frequency_holdout"], a["monetary_value_holdout"], a["duration_holdout"]) == (1, 7.0, 21.0)
    assert out.loc["b", "frequency"] == 0 and out.loc["b", "monetary_value"] == 0.0
    with pytest.raises(ValueError, match="freq"):
        summary_from_transactions(tx, "2024-01-10", freq="M")


def test_bad_input_is_rejected_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="recency"):
        BGNBD().fit([1, 0], [5.0, 0.0], [4.0, 3.0])
    with pytest.raises(ValueError, match="frequency contains missing"):
        BGNBD().fit([np.nan], [0.0], [3.0])
    with pytest.raises(ValueError, match="monetary_value must be > 0"):
        GammaGamma().fit([1, 2, 3], [0.0, 2.0, 3.0])
    with pytest.raises(RuntimeError, match="not fitted"):
        BGNBD().p_alive(1, 1, 2)


def test_scores_from_the_fitted_summary_skip_recomputing_it(monkeypatch):
    """clv_scores(model=, summary=) values the summary fit_clv returned, as the pandas engine
    does once per cycle, and gives what recomputing it from the transactions gives."""
    import segmentation.clv as clv_module

    tx = load_cdnow()
    as_of = pd.Timestamp("1998-07-01", tz="UTC")
    model, fitted = clv_module.fit_clv(tx, as_of)
    expected = clv_module.clv_scores(tx, as_of, model=model)
    monkeypatch.setattr(clv_module, "summary_from_transactions", lambda *a, **k: pytest.fail("summary recomputed"))
    got = clv_module.clv_scores(tx, as_of, model=model, summary=fitted)
    pd.testing.assert_frame_equal(got, expected)
