"""Score targets, out-of-time training, calibration, metrics, SMOTE, TreeSHAP and reason codes."""

from __future__ import annotations

import itertools
import pickle
from math import factorial

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import average_precision_score, roc_auc_score

from segmentation.calibration import Calibrator, cross_fitted_probabilities
from segmentation.contributions import TreeExplainer
from segmentation.encoding import FeatureEncoder
from segmentation.features import build_features
from segmentation.metrics import calibration_curve, classification_metrics, top_share_lift
from segmentation.reasons import describe, reason_codes
from segmentation.scoring import PropensityClassifier, ScoreParams, train_and_score
from segmentation.smote import smote
from segmentation.targets import cutoff_dates, eligible_and_labels, training_set

T0 = pd.Timestamp("2024-01-01", tz="UTC")


def simulate(n: int, seed: int = 0, days: int = 540) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Customers who buy at their own Poisson rate until they silently drop out (BG/NBD-like)."""
    rng = np.random.default_rng(seed)
    first = rng.uniform(0, days / 2, n)
    rate = rng.gamma(0.9, 1 / 25, n)
    active_until = np.minimum(first + rng.exponential(200, n), days)
    count = 1 + rng.poisson(rate * (active_until - first))
    owner = np.repeat(np.arange(n), count)
    offset = np.where(np.r_[True, owner[1:] != owner[:-1]], 0.0, rng.uniform(0, 1, len(owner)))
    when = first[owner] + offset * (active_until - first)[owner]
    ids = np.array([f"c{i:05d}" for i in range(n)])
    tx = pd.DataFrame({
        "transaction_id": [f"t{i}" for i in range(len(owner))],
        "customer_id": ids[owner],
        "occurred_at": T0 + pd.to_timedelta(when, unit="D"),
        "amount": np.round(rng.lognormal(3, 0.5, len(owner)), 2),
    })
    customers = pd.DataFrame({"customer_id": ids, "created_at": T0 + pd.to_timedelta(first, unit="D"),
                              "plan": rng.choice(["free", "pro"], n)})
    return customers, tx


def small_features(customers, transactions, cutoff):
    """A tiny feature function: days since last purchase and purchase count, as of cutoff."""
    seen = transactions[transactions["occurred_at"] <= cutoff]
    grouped = seen.groupby("customer_id")["occurred_at"]
    return pd.DataFrame({"recency_days": (cutoff - grouped.max()).dt.days.astype(float),
                         "frequency": grouped.size().astype(float)}).rename_axis("customer_id")


# ---------------------------------------------------------------------------- targets


def test_cutoffs_keep_training_windows_before_the_validation_window() -> None:
    cuts = cutoff_dates("2024-12-31", 30, 4, spacing_days=10)
    assert cuts[-1] == pd.Timestamp("2024-12-01", tz="UTC")
    assert cuts[:-1] == [pd.Timestamp(d, tz="UTC") for d in ("2024-10-12", "2024-10-22", "2024-11-01")]
    assert cutoff_dates("2024-12-31", 30, 2) == [pd.Timestamp("2024-11-01", tz="UTC"), pd.Timestamp("2024-12-01", tz="UTC")]
    with pytest.raises(ValueError, match="at least 2 cutoffs"):
        cutoff_dates("2024-12-31", 30, 1)


def test_labels_use_the_half_open_window_after_the_cutoff() -> None:
    tx = pd.DataFrame({"customer_id": ["a", "a", "b", "c"],
                       "occurred_at": pd.to_datetime(["2024-01-01", "2024-01-11", "2024-01-05", "2024-01-20"], utc=True),
                       "amount": 1.0})
    ids = pd.Index(["a", "b", "c", "d"])
    cutoff = pd.Timestamp("2024-01-05", tz="UTC")
    eligible, y = eligible_and_labels("propensity", ids, tx, cutoff, 10)
    assert eligible.all() and y.tolist() == [True, False, False, False]  # 01-05 is not after; 01-20 is past 01-15
    eligible, y = eligible_and_labels("churn", ids, tx, cutoff, 10)
    assert eligible.tolist() == [True, True, False, False] and y.tolist() == [False, True, False, False]
    eligible, y = eligible_and_labels("propensity", ids, tx, cutoff, 15)
    assert y.tolist() == [True, False, True, False]  # the window end is inclusive


def test_conversion_labels_from_an_attribute_history() -> None:
    history = pd.DataFrame({"customer_id": ["a", "a", "b", "c", "d"],
                            "value": ["free", "paid", "paid", "free", "free"],
                            "changed_at": pd.to_datetime(["2024-01-01", "2024-01-20", "2024-01-02", "2024-01-01", "2024-02-20"], utc=True)})
    eligible, y = eligible_and_labels("conversion", pd.Index(["a", "b", "c", "d", "e"]), pd.DataFrame(),
                                      pd.Timestamp("2024-01-10", tz="UTC"), 30, history, "paid")
    assert eligible.tolist() == [True, False, True, True, True]  # b was already paid
    assert y.tolist() == [True, False, False, False, False]


def test_training_set_stacks_cutoffs_with_point_in_time_features() -> None:
    customers, tx = simulate(300, seed=3)
    cuts = cutoff_dates(T0 + pd.Timedelta(days=540), 60, 3)
    frame, y, which = training_set(customers, tx, "churn", 60, cuts, small_features)
    assert sorted(set(which)) == [0, 1, 2] and len(frame) == len(y) == len(which)
    for k, cut in enumerate(cuts):
        rows = frame[which == k]
        seen = tx[tx["occurred_at"] <= cut]
        assert set(rows.index) == set(seen["customer_id"])  # churn: past buyers only
        later = tx[(tx["occurred_at"] > cut) & (tx["occurred_at"] <= cut + pd.Timedelta(days=60))]
        assert y[which == k].tolist() == (~rows.index.isin(later["customer_id"])).astype(int).tolist()
        assert rows["recency_days"].min() >= 0  # nothing after the cutoff leaked in


# ---------------------------------------------------------------------------- metrics and calibration


def test_metrics_match_definitions() -> None:
    y = np.array([1, 0, 0, 0, 1, 0, 0, 0, 0, 0] * 10)
    score = np.linspace(1, 0, 100)
    lift, capture = top_share_lift(y, score, 0.1)
    assert (lift, capture) == (pytest.approx(0.2 / 0.2 * 1.0), pytest.approx(2 / 20))
    y2 = np.zeros(100, dtype=int)
    y2[:10] = 1
    assert top_share_lift(y2, score, 0.1) == (pytest.approx(10.0), pytest.approx(1.0))
    p = np.clip(score, 0.01, 0.99)
    m = classification_metrics(y, p)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert m["pr_auc"] == pytest.approx(average_precision_score(y, p))
    assert m["brier"] == pytest.approx(np.mean((p - y) ** 2))
    curve = calibration_curve(y, p, bins=5)
    assert curve["count"].tolist() == [20] * 5
    assert curve["observed_rate"].tolist() == pytest.approx([0.2] * 5)


def test_platt_calibration_repairs_a_shifted_score() -> None:
    rng = np.random.default_rng(0)
    margin = rng.normal(size=8000)
    y = rng.random(8000) < 1 / (1 + np.exp(-(0.5 * margin - 2)))  # true log-odds 0.5*m - 2
    raw = 1 / (1 + np.exp(-margin))
    calibrated = cross_fitted_probabilities(margin, y, "sigmoid", 0)
    assert classification_metrics(y, calibrated)["brier"] < classification_metrics(y, raw)["brier"] - 0.05
    intercept, slope = classification_metrics(y, calibrated)["calibration_intercept"], classification_metrics(y, calibrated)["calibration_slope"]
    assert abs(intercept) < 0.1 and abs(slope - 1) < 0.1
    assert Calibrator("isotonic").fit(margin[:500], y[:500]).method_ == "sigmoid"  # too few for isotonic
    with pytest.raises(ValueError, match="single class"):
        Calibrator().fit(margin[:10], np.zeros(10))


def test_smote_adds_minority_rows_between_minority_neighbours() -> None:
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(0, 1, (200, 2)), rng.normal(5, 0.1, (20, 2))])
    y = np.r_[np.zeros(200, int), np.ones(20, int)]
    X2, y2 = smote(X, y, k_neighbors=3, random_state=0)
    assert (y2 == 1).sum() == 200 and (y2 == 0).sum() == 200
    new = X2[220:]
    assert np.all(new.min(0) >= X[200:].min(0) - 1e-12) and np.all(new.max(0) <= X[200:].max(0) + 1e-12)
    with pytest.raises(ValueError, match="two classes"):
        smote(X, np.zeros(220, int))


# ---------------------------------------------------------------------------- encoding, TreeSHAP, reasons


def test_encoder_flags_missing_one_hot_encodes_and_rejects_missing_columns() -> None:
    frame = pd.DataFrame({"spend": [0.0, 10.0, np.nan, 100.0], "plan": ["free", "pro", "pro", None]})
    enc = FeatureEncoder(min_frequency=1).fit(frame)
    assert enc.feature_names_out_ == ["spend", "spend__raw", "spend__missing", "plan=pro", "plan=free",
                                      "plan=(missing)", "plan=other"]
    assert enc.groups_.tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert enc.tree_columns_.tolist() == [True, False, True, True, True, True, True]
    out = enc.transform(pd.DataFrame({"spend": [np.nan], "plan": ["gold"]}))
    assert out[0, 2] == 1.0 and out[0, 3:].tolist() == [0.0, 0.0, 0.0, 1.0]  # unseen level -> other
    median_log = np.log1p(10.0)
    assert out[0, 0] == pytest.approx((median_log - enc.numeric_["spend"]["mean"]) / enc.numeric_["spend"]["scale"])
    assert out[0, 1] == pytest.approx((10.0 - enc.numeric_["spend"]["raw_mean"]) / enc.numeric_["spend"]["raw_scale"])
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['plan'\]"):
        enc.transform(frame[["spend"]])


def test_encoder_groups_rare_levels_into_other_and_says_how_many() -> None:
    plan = ["free"] * 30 + ["pro"] * 12 + ["gold"] * 3 + ["team", "edu"]
    enc = FeatureEncoder(min_frequency=10).fit(pd.DataFrame({"plan": plan}))
    assert enc.categories_ == {"plan": ["free", "pro"]} and enc.grouped_ == {"plan": 3}
    out = enc.transform(pd.DataFrame({"plan": ["gold", "pro", "never seen"]}))
    assert out.tolist() == [[0, 0, 1], [0, 1, 0], [0, 0, 1]]
    capped = FeatureEncoder(max_categories=1, min_frequency=1).fit(pd.DataFrame({"plan": plan}))
    assert capped.categories_ == {"plan": ["free"]} and capped.grouped_ == {"plan": 4}


def _path_expectation(nodes, x, present, index=0):
    node = nodes[index]
    if node["is_leaf"]:
        return node["value"]
    left, right = int(node["left"]), int(node["right"])
    if node["feature_idx"] in present:
        return _path_expectation(nodes, x, present, left if x[node["feature_idx"]] <= node["num_threshold"] else right)
    return (nodes[left]["count"] * _path_expectation(nodes, x, present, left)
            + nodes[right]["count"] * _path_expectation(nodes, x, present, right)) / node["count"]


def test_tree_contributions_are_exact_shapley_values() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 4))
    y = (X[:, 0] + X[:, 1] * X[:, 2] + rng.normal(size=2000) > 0).astype(int)
    model = HistGradientBoostingClassifier(max_iter=8, max_leaf_nodes=8, random_state=0).fit(X, y)
    explainer = TreeExplainer(model)
    phi = explainer.contributions(X[:200])
    np.testing.assert_allclose(phi.sum(1) + explainer.expected_value_, model.decision_function(X[:200]), atol=1e-10)
    trees = [p.nodes for (p,) in model._predictors]
    for x, got in zip(X[:3], phi[:3], strict=True):
        want = np.zeros(4)
        for i in range(4):
            others = [j for j in range(4) if j != i]
            for size in range(4):
                for subset in itertools.combinations(others, size):
                    weight = factorial(size) * factorial(3 - size) / factorial(4)
                    gain = sum(_path_expectation(t, x, {*subset, i}) - _path_expectation(t, x, set(subset)) for t in trees)
                    want[i] += weight * gain
        np.testing.assert_allclose(got, want, atol=1e-12)
    np.testing.assert_allclose(explainer.margin(X), model.decision_function(X), atol=1e-10)
    gaps = X[:50].copy()
    gaps[::3, 1] = np.nan  # NaN rows take the leaf-by-leaf path (missing_go_to_left)
    np.testing.assert_allclose(explainer.contributions(gaps).sum(1) + explainer.expected_value_,
                               model.decision_function(gaps), atol=1e-10)
    np.testing.assert_allclose(explainer.margin(gaps), model.decision_function(gaps), atol=1e-10)
    assert np.all(phi[:, 3] == 0) or np.abs(phi[:, 3]).mean() < np.abs(phi[:, 0]).mean()  # noise feature


def test_reason_codes_list_the_strongest_raising_drivers() -> None:
    features = pd.DataFrame({"recency_days": [94.4, 3.0], "frequency": [1, 12], "monetary_total": [35.2, 900.0],
                             "ipt_mean_days": [np.nan, 20.0], "plan": ["free", "pro"]})
    contrib = np.array([[2.0, 0.5, -1.0, 1.0, 0.0], [-1.0, -0.5, -0.2, -0.1, 0.3]])
    text = reason_codes(contrib, features, top=3)
    assert text[0] == "recency 94 days; days between purchases none (single purchase); frequency 1"
    assert text[1] == "plan pro"  # only one driver raises this customer's score
    assert reason_codes(contrib, features, top=0).tolist() == ["", ""]
    assert describe("monetary_total", np.array([35.2, -0.004, -2.5, 1234.567])).tolist() == [
        "total spend 35.20", "total spend 0.00", "total spend -2.50", "total spend 1234.57"]
    assert describe("support_tickets", np.array([3.0, np.nan])).tolist() == ["support tickets 3", "support tickets unknown"]
    assert describe("tier", np.array(["gold", None], dtype=object)).tolist() == ["tier gold", "tier unknown"]


# ---------------------------------------------------------------------------- the facade


@pytest.fixture(scope="module")
def simulated() -> tuple[pd.DataFrame, pd.DataFrame]:
    return simulate(2500, seed=7)


def test_train_and_score_churn_end_to_end(simulated) -> None:
    customers, tx = simulated
    as_of = T0 + pd.Timedelta(days=540)
    params = ScoreParams(name="churn_90d", kind="churn", horizon_days=90, cutoffs=3, spacing_days=45, attributes=("plan",))
    result = train_and_score(customers, tx, params, as_of)
    scores = result.scores
    assert list(scores.columns) == ["customer_id", "churn_90d", "churn_90d_reasons"]
    assert set(scores["customer_id"]) == set(tx["customer_id"])  # churn scores past buyers only
    assert scores["churn_90d"].between(0, 1).all()
    assert scores["churn_90d_reasons"].str.len().gt(0).mean() > 0.9
    m = result.metrics
    assert m["chosen"] in ("logistic", "gbm") and set(m["models"]) == {"logistic", "gbm"}
    chosen = m["models"][m["chosen"]]
    # Most customers have lapsed by then, so lift is capped at 1 / base rate.
    assert chosen["roc_auc"] > 0.75 and chosen["top_decile_lift"] > 0.95 / chosen["base_rate"]
    # The simplest model within one standard error of the best log-loss wins.
    assert chosen["log_loss"] <= min(v["log_loss"] for v in m["models"].values()) + 0.01
    validation_cut = pd.Timestamp(m["cutoffs"][-1])
    assert validation_cut == as_of - pd.Timedelta(days=90)
    # 3 cutoffs 45 days apart, horizon 90: only the last is a horizon after another, so it
    # alone is validated (by a model fitted on the first cutoff); the refit uses all three.
    assert m["n_validation"] == tx.loc[tx["occurred_at"] <= validation_cut, "customer_id"].nunique()
    assert m["calibration"] in ("none", "sigmoid", "isotonic") and m["settings"]
    # The pipeline's chronological scoring is the public estimator with the cutoff as time column.
    estimator = result.model.estimator
    assert isinstance(estimator, PropensityClassifier) and estimator.time_column == "_cutoff"
    assert estimator.time_gap == pd.Timedelta(days=90) and "_cutoff" not in estimator.encoder_.columns_
    assert set(result.calibration.columns) == {"model", "bin", "count", "mean_predicted", "observed_rate"}
    restored = pickle.loads(pickle.dumps(result.model))
    current = build_features(customers, tx, as_of, attributes=("plan",)).loc[scores["customer_id"]]
    again = restored.score(current)
    pd.testing.assert_frame_equal(again.reset_index(drop=True), scores.reset_index(drop=True))


def test_propensity_with_injected_features_and_smote_candidates(simulated) -> None:
    customers, tx = simulated
    params = ScoreParams(name="buy_60d", kind="propensity", horizon_days=60, cutoffs=3, models=("logistic",),
                         smote=True, reason_codes=2)
    result = train_and_score(None, tx, params, T0 + pd.Timedelta(days=540), feature_fn=small_features)
    assert set(result.metrics["models"]) == {"logistic", "logistic+smote"}
    assert result.metrics["models"]["logistic"]["roc_auc"] > 0.75
    assert result.scores["buy_60d_reasons"].str.count(";").max() <= 1


def test_conversion_from_a_customers_snapshot(simulated) -> None:
    customers, tx = simulated
    rng = np.random.default_rng(5)
    as_of = T0 + pd.Timedelta(days=540)
    span = (as_of - customers["created_at"]).dt.total_seconds().to_numpy()
    pro = customers["plan"].eq("pro").to_numpy()
    changed = customers["created_at"] + pd.to_timedelta(np.where(pro, rng.uniform(0, 1, len(span)) * span, 0), unit="s")
    snapshot = customers.assign(plan_changed_at=changed)
    params = ScoreParams(name="to_pro", kind="conversion", field="plan", value="pro", horizon_days=90, cutoffs=3,
                         models=("logistic",), reason_codes=1)
    result = train_and_score(snapshot, tx, params, as_of, feature_fn=small_features)
    # Scored: customers not yet converted at as_of (here: every free one who ever bought).
    assert set(result.scores["customer_id"]) == set(snapshot.loc[~pro, "customer_id"]) & set(tx["customer_id"])
    assert 0 < result.metrics["models"]["logistic"]["base_rate"] < 0.5
    with pytest.raises(ValueError, match="plan_changed_at"):
        train_and_score(customers, tx, params, as_of, feature_fn=small_features)


def test_single_class_validation_is_a_clear_error(simulated) -> None:
    _, tx = simulated
    early = tx[tx["occurred_at"] < T0 + pd.Timedelta(days=5)]
    with pytest.raises(ValueError, match="single class|no eligible|both classes"):
        train_and_score(None, early, ScoreParams(name="x", kind="churn", horizon_days=1, cutoffs=2),
                        T0 + pd.Timedelta(days=6), feature_fn=small_features)
    with pytest.raises(ValueError, match="needs field and value"):
        ScoreParams(name="x", kind="conversion")


def test_class_weights_are_undone_by_recalibration() -> None:
    rng = np.random.default_rng(11)
    frame = pd.DataFrame({"signal": rng.normal(size=12000), "noise": rng.normal(size=12000)})
    y = (rng.random(12000) < 1 / (1 + np.exp(-(1.5 * frame["signal"] - 3.0)))).astype(int)  # ~8 % positives
    model = PropensityClassifier(models=("logistic",), class_weight="balanced").fit(frame.iloc[:9000], y[:9000])
    raw = 1 / (1 + np.exp(-model.margin(frame.iloc[9000:])))
    calibrated = model.predict_proba(frame.iloc[9000:])[:, 1]
    assert raw.mean() > 2.5 * y[9000:].mean()  # balanced weights inflate every probability
    assert calibrated.mean() == pytest.approx(y[9000:].mean(), abs=0.015)
    assert abs(classification_metrics(y[9000:], calibrated)["calibration_slope"] - 1) < 0.2


def test_smote_candidate_is_kept_only_when_it_wins_out_of_time(simulated) -> None:
    _, tx = simulated
    params = ScoreParams(name="b", kind="propensity", horizon_days=60, cutoffs=3, models=("logistic",), smote=True)
    result = train_and_score(None, tx, params, T0 + pd.Timedelta(days=540), feature_fn=small_features)
    table = result.model.estimator.cv_results_
    chosen = table[table["chosen"]].iloc[0]
    assert result.metrics["chosen"] == chosen["name"]
    # SMOTE is the more complex twin: kept only if plainly better out of time.
    if chosen["name"] == "logistic+smote":
        assert chosen["log_loss"] < table.loc[table["name"] == "logistic", "log_loss"].min()


def test_linear_contributions_add_up_to_the_margin_from_the_average_customer(simulated) -> None:
    customers, tx = simulated
    features = build_features(customers, tx, T0 + pd.Timedelta(days=300), attributes=("plan",))
    y = (features["recency_days"] < 60).to_numpy().astype(int)
    model = PropensityClassifier(models=("logistic",)).fit(features, y)
    phi = model.contributions(features)
    assert list(phi.columns) == list(features.columns) and (phi.index == features.index).all()
    np.testing.assert_allclose(phi.sum(axis=1) + model.base_margin(), model.margin(features), atol=1e-9)
    center = model.classifier_.center_
    assert model.base_margin() == pytest.approx(float(model.classifier_.estimator_.decision_function(center[None])[0]))


def test_a_model_stored_by_an_older_version_asks_for_retraining() -> None:
    from segmentation.scoring import ScoreModel

    old = object.__new__(ScoreModel)
    old.__dict__.update(name="churn_90d", kind="churn", chosen="gbm", reason_codes=3)  # no estimator
    for method in (old.score, old.predict_proba):
        with pytest.raises(ValueError, match="older segsync; it must be retrained"):
            method(pd.DataFrame({"recency_days": [1.0]}, index=["c1"]))


def test_params_from_the_yaml_config_models() -> None:
    from connector.config import ScoreTarget, ScoringConfig

    target = ScoreTarget(name="upgrade", kind="conversion", horizon_days=45, field="plan", value="pro")
    params = ScoreParams.from_config(target, ScoringConfig(cutoffs=5, smote=True, models=["gbm"]), attributes=("plan",))
    assert (params.name, params.kind, params.horizon_days, params.field, params.value) == ("upgrade", "conversion", 45, "plan", "pro")
    assert (params.cutoffs, params.models, params.smote, params.reason_codes, params.attributes) == (5, ("gbm",), True, 3, ("plan",))


def test_scores_from_contributions_equal_the_model_probabilities(simulated) -> None:
    customers, tx = simulated
    as_of = T0 + pd.Timedelta(days=540)
    params = ScoreParams(name="c", kind="churn", horizon_days=90, cutoffs=3, models=("gbm",))
    result = train_and_score(customers, tx, params, as_of)
    current = build_features(customers, tx, as_of).loc[result.scores["customer_id"]]
    np.testing.assert_allclose(result.scores["c"], result.model.predict_proba(current), atol=1e-9)
    drivers = result.drivers  # global drivers: mean |contribution| per source feature, largest first
    shares = result.model.estimator.contributions(current[list(result.model.estimator.feature_names_in_)])
    np.testing.assert_allclose(drivers.to_numpy(), shares.abs().mean().loc[drivers.index].to_numpy(), atol=1e-12)
    assert drivers.is_monotonic_decreasing and set(drivers.index) == set(current.columns)
