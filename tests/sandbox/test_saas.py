"""The SaaS scenario: planted drivers recovered from raw events, AUC next to the oracle's."""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import pytest

from connector.crm.errors import ConfigurationError
from connector.saas_demo import evaluate, run_saas_demo, user_features
from connector.sandbox.saas import simulate_saas
from connector.sandbox.saas_scenario import DRIVERS, load_saas_scenario
from connector.sandbox.scenario import load_scenario


@pytest.fixture(scope="module")
def scenario():
    return load_saas_scenario("saas")


def test_model_auc_is_within_two_points_of_the_oracle_and_finds_the_planted_drivers(scenario):
    population = simulate_saas(scenario, 8_000, random_state=3)
    outcome = evaluate(population, random_state=3)
    assert outcome.study.validation["label"].sum() > 150  # month 7 holds enough converters to judge
    assert outcome.oracle_auc - outcome.auc <= 0.02
    assert outcome.auc > 0.75
    assert set(outcome.study.drivers.index[:3]) == set(scenario.conversion.coefficients)
    assert outcome.top3_match
    # a cohort of month 7 is validation only: no row of it trained the model
    months = population.truth.set_index("customer_id").loc[outcome.study.validation.index, "signup_month"]
    assert set(months) == {7}
    # the 90-day counts of users watched for 28 days repeat their 30-day counts: dropped
    assert "ticket_count_90d" in outcome.study.dropped


def test_segsync_features_equal_the_drivers_the_simulator_planted(scenario):
    population = simulate_saas(scenario, 600, random_state=11)
    truth = population.truth.set_index("customer_id")
    features = user_features(population.events, population.truth)
    for driver in DRIVERS:
        np.testing.assert_allclose(features[driver].to_numpy(), truth.loc[features.index, driver].to_numpy(), atol=1e-9)
    assert truth["converted"].mean() == pytest.approx(truth["p_convert"].mean(), abs=0.05)


def test_usage_after_the_cutoff_exists_and_is_not_counted(scenario):
    population = simulate_saas(scenario, 400, random_state=5)
    cutoff = population.truth.set_index("customer_id")["cutoff"]
    events = population.events
    late = events["occurred_at"].to_numpy() > cutoff.reindex(events["customer_id"].astype(str)).to_numpy()
    assert late.sum() > 1_000  # paid users keep logging in, more than before
    pd.testing.assert_frame_equal(user_features(events, population.truth), user_features(events[~late], population.truth))


def test_same_seed_same_population_and_conversions_follow_the_label_window(scenario):
    a, b = simulate_saas(scenario, 300, random_state=2), simulate_saas(scenario, 300, random_state=2)
    pd.testing.assert_frame_equal(a.events, b.events)
    truth = a.truth[a.truth["converted"]]
    delay = (truth["converted_at"] - truth["cutoff"]) / pd.Timedelta(days=1)
    assert delay.between(0, scenario.horizon_days).all()
    paid = a.customers.set_index("customer_id").loc[truth["customer_id"]]
    assert (paid["plan"] == "paid").all()
    assert (paid["plan_changed_at"].to_numpy() == truth["converted_at"].to_numpy()).all()


def test_bad_saas_scenario_names_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    from connector.sandbox.scenario import SCENARIO_DIR

    bad.write_text((SCENARIO_DIR / "saas.yaml").read_text().replace("ticket_count_30d: -0.5", "tickets: -0.5"))
    with pytest.raises(ConfigurationError, match="unknown driver.*tickets"):
        load_saas_scenario(bad)
    with pytest.raises(ConfigurationError, match="SaaS scenario"):
        load_scenario("saas")


def test_demo_writes_the_warehouse_and_scores_with_reasons_in_words(tmp_path, capsys):
    code = run_saas_demo(argparse.Namespace(out=str(tmp_path), seed=4, users=3_000))
    printed = capsys.readouterr().out
    assert "ROC AUC model" in printed and "oracle" in printed
    assert code in (0, 1)
    events = pd.read_csv(tmp_path / "events.csv", nrows=5)
    assert list(events.columns) == ["customer_id", "occurred_at", "type", "value", "feature"]
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert scores["convert_90d"].between(0, 1).all()
    assert scores["reasons"].str.contains("login|feature|ticket").mean() > 0.9
