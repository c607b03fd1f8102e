"""The materiality policy: how written numbers are rounded and when a move is worth a rewrite."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from connector.config import ConfigurationError, MaterialityConfig, MaterialityRule, load_config
from connector.steps.materiality import (
    is_material,
    policy_fingerprint,
    round_scores,
    round_to,
    settle,
)


def test_scores_are_written_as_whole_percentage_points_and_clv_as_whole_units() -> None:
    scores = pd.DataFrame({"buy_90d": [0.2349, 0.2351, 0.999], "p_alive": [0.5049, 0.1, 0.0],
                           "clv": [123.49, 123.51, 0.4], "buy_90d_reasons": ["a", "b", "c"]}, index=["c1", "c2", "c3"])
    out = round_scores(scores, MaterialityConfig())
    assert out["buy_90d"].tolist() == [0.23, 0.24, 1.0]
    assert out["p_alive"].tolist() == [0.5, 0.1, 0.0]
    assert out["clv"].tolist() == [123.0, 124.0, 0.0]
    assert out["buy_90d_reasons"].tolist() == ["a", "b", "c"]


def test_bands_round_to_their_unit_without_float_residue() -> None:
    assert round_to(pd.Series([0.14, 0.16, 0.349, 0.71]), 0.1).tolist() == [0.1, 0.2, 0.3, 0.7]
    assert round_to(pd.Series([0.28]), 0.01).tolist() == [0.28]  # not 0.28000000000000003
    assert round_to(pd.Series([1234.0, 1260.0]), 50).tolist() == [1250.0, 1250.0]


def test_a_move_is_material_from_the_absolute_or_the_relative_step() -> None:
    scores = MaterialityRule(round_to=0.01, min_change=0.05)
    assert not is_material(0.27, 0.23, scores)
    assert is_material(0.28, 0.23, scores)  # 0.28 - 0.23 is 0.0500000000000000x in floats: still a step
    assert is_material(0.18, 0.23, scores)
    clv = MaterialityRule(round_to=1, min_change=1, min_relative_change=0.1)
    assert not is_material(109, 100, clv) and is_material(110, 100, clv)
    assert is_material(2, 1, clv)  # 10 % of 1 is below the absolute floor of 1
    assert not is_material(1_050, 1_000, clv)


def test_settle_keeps_the_confirmed_value_of_immaterial_moves_only() -> None:
    policy = MaterialityConfig()
    confirmed = {"segment_id": "seg-1", "buy_90d": 0.23, "clv": 100.0, "p_alive": None}
    desired = {"segment_id": "seg-2", "buy_90d": 0.26, "clv": 130.0, "p_alive": 0.5}
    out = settle(desired, confirmed, policy, ["buy_90d", "clv", "p_alive"])
    # the record is rewritten for its segment; the score keeps what the CRM holds (no field-history noise)
    assert out == {"segment_id": "seg-2", "buy_90d": 0.23, "clv": 130.0, "p_alive": 0.5}
    assert settle({"buy_90d": None}, {"buy_90d": 0.4}, policy, ["buy_90d"]) == {"buy_90d": None}


def test_drift_adds_up_against_the_confirmed_value_not_yesterdays() -> None:
    policy, confirmed = MaterialityConfig(), {"buy_90d": 0.30}
    written = []
    for today in (0.31, 0.32, 0.33, 0.34, 0.35, 0.36):
        value = settle({"buy_90d": today}, confirmed, policy, ["buy_90d"])["buy_90d"]
        if value != confirmed["buy_90d"]:
            written.append(value)
            confirmed = {"buy_90d": value}
    assert written == [0.35]  # one rewrite when the drift reached 5 points, not one a day, not never


def test_per_key_rules_override_the_defaults() -> None:
    policy = MaterialityConfig(keys={"churn_180d": MaterialityRule(round_to=0.1, min_change=0.1)})
    assert policy.rule("churn_180d").round_to == 0.1
    assert policy.rule("buy_90d") == policy.scores and policy.rule("clv") == policy.clv
    out = round_scores(pd.DataFrame({"churn_180d": [0.46], "buy_90d": [0.46]}), policy)
    assert out.iloc[0].tolist() == [0.5, 0.46]


def test_the_policy_is_read_from_the_yaml_with_file_line_key_paths_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "segsync.yaml"
    path.write_text("destinations:\n  materiality:\n    clv: {round_to: 10, min_relative_change: 0.2}\n")
    policy = load_config(path, env={}).destinations.materiality
    assert policy.clv == MaterialityRule(round_to=10, min_change=0, min_relative_change=0.2)
    assert policy.scores == MaterialityRule(round_to=0.01, min_change=0.05)  # the default stays for the rest
    path.write_text("destinations:\n  materiality:\n    scores:\n      round_to: 0\n      step: 0.05\n")
    with pytest.raises(ConfigurationError) as exc:
        load_config(path, env={})
    lines = str(exc.value).splitlines()
    assert any(x.startswith("segsync.yaml:4 destinations.materiality.scores.round_to:") for x in lines), lines
    assert any(x.startswith("segsync.yaml:5 destinations.materiality.scores.step: unknown key") for x in lines), lines


def test_only_a_changed_policy_changes_the_fingerprint() -> None:
    assert policy_fingerprint(MaterialityConfig()) == ""
    a = policy_fingerprint(MaterialityConfig(scores=MaterialityRule(round_to=0.1, min_change=0.1)))
    b = policy_fingerprint(MaterialityConfig(scores=MaterialityRule(round_to=0.1, min_change=0.2)))
    assert a and b and a != b


def test_reason_codes_follow_their_score_and_the_drivers_they_name() -> None:
    policy, numeric = MaterialityConfig(), ["buy_90d"]
    confirmed = {"buy_90d": 0.40, "buy_90d_reasons": "recency 94 days; frequency 1; total spend 35.20"}
    a_day_later = {"buy_90d": 0.41, "buy_90d_reasons": "recency 95 days; frequency 1; total spend 35.20"}
    assert settle(a_day_later, confirmed, policy, numeric) == confirmed  # nothing to write
    other_driver = {"buy_90d": 0.41, "buy_90d_reasons": "recency 95 days; average order 35.20"}
    assert settle(other_driver, confirmed, policy, numeric)["buy_90d_reasons"] == other_driver["buy_90d_reasons"]
    moved = {"buy_90d": 0.30, "buy_90d_reasons": "recency 130 days; frequency 1; total spend 35.20"}
    assert settle(moved, confirmed, policy, numeric) == moved  # the score is rewritten: its reasons are fresh
    alone = {"buy_90d_reasons": "recency 95 days; frequency 1; total spend 35.20"}  # reasons mapped without the score
    assert settle(alone, confirmed, policy, numeric) == {"buy_90d_reasons": confirmed["buy_90d_reasons"]}
    assert settle({"buy_90d": 0.4, "buy_90d_reasons": ""}, confirmed, policy, numeric)["buy_90d_reasons"] == ""
    text = MaterialityConfig(reasons="text")  # every change of the text is written
    assert settle(a_day_later, confirmed, text, numeric)["buy_90d_reasons"] == a_day_later["buy_90d_reasons"]


def test_offer_reasons_follow_the_offers() -> None:
    policy = MaterialityConfig()
    confirmed = {"offer_1": "P1", "offer_2": "P2", "offer_3": "P3", "offer_reasons": "1: 40% of similar customers bought it"}
    shares_moved = {**confirmed, "offer_reasons": "1: 41% of similar customers bought it"}
    assert settle(shares_moved, confirmed, policy, []) == confirmed
    new_offer = {**shares_moved, "offer_2": "P9"}
    assert settle(new_offer, confirmed, policy, []) == new_offer  # the offers changed: their reasons are fresh
