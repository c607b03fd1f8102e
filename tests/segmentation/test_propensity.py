"""PropensityClassifier: scikit-learn conformance, labels, categories, bad input, reasons."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

from segmentation.folds import stratified_folds, time_folds, time_values
from segmentation.scoring import PropensityClassifier

# Class weights shift the prior and the calibrator, fitted on unweighted out-of-fold rows,
# undoes that shift by design (so probabilities stay calibrated), while this check expects
# {0: 1000, 1: 0.0001} to force predictions to class 0.
EXPECTED_FAILURES = {"check_class_weight_classifiers": "calibration undoes class weights by design"}


@parametrize_with_checks([PropensityClassifier()], expected_failed_checks=lambda _: EXPECTED_FAILURES)
def test_sklearn_estimator_checks(estimator, check) -> None:
    check(estimator)


def customers(n: int = 1200, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A plan (with rare levels), spend with gaps, a constant column; odds rise with spend and plan."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(["free", "pro", "team"], n, p=[0.6, 0.3, 0.1]).astype(object)
    plan[:4] = ["edu", "edu", "gov", "ngo"]  # rare levels
    spend = rng.lognormal(3, 1, n)
    logit = -1.5 + 0.8 * np.log(spend) - 2.0 + 1.2 * (plan == "pro") + 2.0 * (plan == "team")
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "CH", "MM")
    spend[rng.random(n) < 0.1] = np.nan
    frame = pd.DataFrame({"plan": plan, "spend": spend, "region": "eu", "constant": 1.0})
    return frame, y


def test_string_labels_with_pos_label_and_column_order() -> None:
    X, y = customers()
    model = PropensityClassifier(pos_label="CH").fit(X, y)
    assert model.classes_.tolist() == ["CH", "MM"] and model.pos_label_ == "CH"
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 2) and np.allclose(proba.sum(axis=1), 1)
    # column 0 is P("CH"): the positive label here, and it ranks the CH rows first.
    assert proba[y == "CH", 0].mean() > proba[y == "MM", 0].mean() + 0.1
    flipped = PropensityClassifier(pos_label="MM").fit(X, y)
    np.testing.assert_allclose(flipped.predict_proba(X)[:, 1], 1 - proba[:, 0], atol=0.05)
    assert set(model.predict(X)) <= {"CH", "MM"}
    with pytest.raises(ValueError, match="pos_label 'XX' is not one of the labels"):
        PropensityClassifier(pos_label="XX").fit(X, y)


def test_unseen_and_rare_levels_go_to_other_and_nans_are_scored() -> None:
    X, y = customers()
    model = PropensityClassifier(models=("logistic",)).fit(X, y)
    assert model.encoder_.categories_["plan"] == ["free", "pro", "team"]
    assert model.encoder_.grouped_["plan"] == 3  # edu, gov, ngo: fewer than 10 rows each
    new = pd.DataFrame({"plan": ["martian", "edu", None], "spend": [np.nan, 20.0, np.inf],
                        "region": ["us", "eu", "eu"], "constant": [1.0, 1.0, 1.0]})
    p = model.predict_proba(new)[:, 1]
    assert np.isfinite(p).all() and ((0 < p) & (p < 1)).all()
    # An unseen level and a rare one are the same "other" level to the model.
    same = new.assign(spend=20.0)
    assert model.predict_proba(same.iloc[[0]])[0, 1] == pytest.approx(model.predict_proba(same.iloc[[1]])[0, 1])


def test_constant_column_gets_no_weight_and_no_reason() -> None:
    X, y = customers()
    model = PropensityClassifier().fit(X, y)
    shares = model.contributions(X)
    assert np.abs(shares["constant"]).max() < 1e-12 and np.abs(shares["region"]).max() < 1e-12
    np.testing.assert_allclose(shares.sum(axis=1) + model.base_margin(), model.margin(X), atol=1e-10)


def test_single_class_training_set_is_a_clear_error() -> None:
    X, _ = customers(50)
    with pytest.raises(ValueError, match=r"y has only one class \('CH' in all 50 rows\)"):
        PropensityClassifier().fit(X, np.full(50, "CH"))
    with pytest.raises(ValueError, match="Only binary classification is supported"):
        PropensityClassifier().fit(X, np.arange(50) % 3)
    with pytest.raises(ValueError, match="X has 50 rows but y has 49 labels"):
        PropensityClassifier().fit(X, np.arange(49) % 2)
    with pytest.raises(ValueError, match="time_column 'when' is not a column of X"):
        PropensityClassifier(time_column="when").fit(X, np.arange(50) % 2)


def test_nans_everywhere_but_both_classes_fit_and_score() -> None:
    rng = np.random.default_rng(3)
    signal = rng.normal(size=600)
    y = (signal + rng.normal(scale=0.5, size=600) > 0).astype(int)
    X = pd.DataFrame({"signal": np.where(rng.random(600) < 0.3, np.nan, signal), "empty": np.nan,
                      "tag": np.where(rng.random(600) < 0.5, None, "a")})
    model = PropensityClassifier().fit(X, y)
    p = model.predict_proba(X)[:, 1]
    assert np.isfinite(p).all()
    known = X["signal"].notna().to_numpy()
    assert np.corrcoef(p[known], signal[known])[0, 1] > 0.8


def test_clone_pipeline_cross_val_score_and_pickle() -> None:
    X, y = customers(800)
    model = PropensityClassifier(models=("logistic",), cv=3)
    assert clone(model).get_params() == model.get_params()
    pipeline = make_pipeline(FunctionTransformer(lambda f: f.assign(spend=f["spend"] * 2)), model)
    scores = cross_val_score(pipeline, X, y, cv=3, scoring="roc_auc")
    assert scores.min() > 0.6
    fitted = model.fit(X, y)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict_proba(X), fitted.predict_proba(X))


def test_reasons_are_computed_on_demand_and_add_up() -> None:
    X, y = customers()
    model = PropensityClassifier(models=("gbm",), pos_label="MM").fit(X, y)
    model.predict_proba(X)
    assert not hasattr(model.classifier_, "explainer_")  # plain scoring built no explanation tables
    reasons = model.reasons(X.iloc[:5], k=2)
    assert hasattr(model.classifier_, "explainer_")
    assert list(reasons.columns) == ["reason_1", "feature_1", "contribution_1", "reason_2", "feature_2",
                                     "contribution_2"]
    assert (reasons.index == X.index[:5]).all()
    shares = model.contributions(X.iloc[:5])
    for i in range(5):
        top = shares.iloc[i].sort_values(ascending=False, kind="stable")
        assert reasons.loc[i, "feature_1"] == top.index[0] and reasons.loc[i, "contribution_1"] == top.iloc[0]
        assert reasons.loc[i, "reason_1"].startswith(top.index[0].replace("_", " "))
    np.testing.assert_allclose(shares.sum(axis=1) + model.base_margin(), model.margin(X.iloc[:5]), atol=1e-10)


def test_cv_chooses_and_refits_on_all_rows() -> None:
    X, y = customers()
    model = PropensityClassifier().fit(X, y)
    results = model.cv_results_
    assert set(results["name"]) == {"logistic", "gbm"}
    assert set(results["calibration"]) == {"none", "sigmoid", "isotonic"}
    best = results.iloc[0]
    assert best["chosen"] and results["chosen"].sum() == 1
    assert (model.chosen_, model.calibration_) == (best["name"], best["calibration"])
    # One-standard-error rule: the chosen one is close to the best log-loss, and no simpler
    # (earlier in the grid) setting is.
    assert best["log_loss"] <= results["log_loss"].min() + 0.02
    assert len(model.search_.rows) == len(X)  # stratified folds validate every row once
    # The winner is refit on every row: its reference point is the mean of all encoded rows.
    encoded = model.encoder_.transform(X)[:, model.classifier_.columns_]
    np.testing.assert_allclose(model.classifier_.center_, encoded.mean(axis=0))
    assert PropensityClassifier(max_fit_rows=100).fit(X, y).classifier_.estimator_.n_features_in_ > 0


def test_time_folds_never_train_on_rows_within_the_gap() -> None:
    stamps = pd.to_datetime(["2024-01-01"] * 4 + ["2024-02-01"] * 4 + ["2024-03-01"] * 4 + ["2024-04-01"] * 4,
                            utc=True)
    y = np.tile([0, 1], 8)
    values, gap = time_values(stamps, pd.Timedelta(days=40))
    assert gap == 40 * 86400
    folds = time_folds(values, y, 3, gap)
    # Validation blocks Feb, Mar, Apr; with a 40-day gap Feb has nothing old enough to train on.
    assert [sorted(set(stamps[v].month)) for _, v in folds] == [[3], [4]]
    assert [sorted(set(stamps[t].month)) for t, _ in folds] == [[1], [1, 2]]
    assert [sorted(set(stamps[v].month)) for _, v in time_folds(values, y, 3)] == [[2], [3], [4]]
    with pytest.raises(ValueError, match="at least 2 rows of each class"):
        stratified_folds(np.array([0, 0, 0, 1]), 3, 0)


def test_time_column_orders_the_folds_and_is_not_a_feature() -> None:
    X, y = customers(1200)
    X = X.assign(month=pd.to_datetime("2024-01-01", utc=True) + pd.to_timedelta(np.arange(1200) // 300 * 31, "D"))
    model = PropensityClassifier(models=("logistic",), time_column="month", cv=3).fit(X, y)
    assert "month" not in model.encoder_.columns_ and list(model.feature_names_in_) == list(X.columns[:-1])
    assert model.search_.rows.min() == 300  # the oldest month only trains
    np.testing.assert_array_equal(model.predict_proba(X), model.predict_proba(X.drop(columns="month")))


def test_one_standard_error_rule_prefers_the_simpler_of_close_models() -> None:
    from segmentation.selection import _simplest_within_one_se

    y = np.tile([0, 1], 200).astype(float)
    good = np.where(y == 1, 0.8, 0.2)
    # Row 2 is better on average by a hair (0.0006), with a per-row spread (0.036) far larger.
    tweak = np.where(np.arange(len(y)) % 4 < 2, 0.03, -0.028)
    close = good + tweak * np.where(y == 1, 1, -1)
    assert np.mean(np.log(np.where(y == 1, close, 1 - close))) > np.mean(np.log(np.where(y == 1, good, 1 - good)))
    table = pd.DataFrame({"probability": [np.where(y == 1, 0.6, 0.4), good, close]})
    # Row 2 is best by a hair (well within one standard error of row 1); row 0 is clearly worse.
    assert _simplest_within_one_se(table, y) == 1
    table = pd.DataFrame({"probability": [good, np.where(y == 1, 0.95, 0.05)]})
    assert _simplest_within_one_se(table, y) == 1  # a clear gain is taken
