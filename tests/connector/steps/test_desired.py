"""The desired state, pure: segments, customers, scores, arms and offers in, one row per customer out."""

from __future__ import annotations

import pandas as pd

from connector.config import Arm, ExperimentConfig, ListsConfig
from connector.steps.desired import desired_table, list_memberships

SEGMENTS = pd.DataFrame({"customer_id": ["e-1", "e-2", "e-3"], "segment_id": ["s0", "s1", "s0"],
                         "segment_name": ["Champions", "At risk", "Champions"], "model_version": [1, 1, 1]})
CUSTOMERS = pd.DataFrame({"customer_id": ["e-1", "e-2", "e-3", "e-4"], "email": ["a@x", "b@x", None, "d@x"],
                          "crm_id": ["003A", None, "003C", "003D"], "other_id": ["7", "8", None, None],
                          "country": ["FR", "DE", "FR", "US"]})
PROMO = ExperimentConfig(key="promo", arms=[Arm(name="control", weight=0.5, control=True),
                                            Arm(name="discount", weight=0.5, offers="segment_default")])
WELCOME = ExperimentConfig(key="welcome", arms=[Arm(name="a", weight=0.5), Arm(name="b", weight=0.5)])
ARMS = pd.DataFrame({"experiment": ["promo", "promo", "welcome", "retired"], "customer_id": ["e-1", "e-2", "e-1", "e-3"],
                     "arm": ["control", "discount", "b", "x"], "segment_id": ["s0", "s1", "s0", "s0"],
                     "assigned_at": ["2026-01-01"] * 4})


def texts(column: pd.Series) -> list[object]:
    return [None if pd.isna(v) else v for v in column]


def test_one_row_per_segmented_customer_with_its_record_ids() -> None:
    table = desired_table(SEGMENTS, CUSTOMERS, ["crm_id", "other_id", "absent_id"])
    assert list(table.columns) == ["customer_id", "segment_id", "segment_name", "email", "crm_id", "other_id"]
    assert table["customer_id"].tolist() == ["e-1", "e-2", "e-3"]  # e-4 was not segmented
    assert texts(table["crm_id"]) == ["003A", None, "003C"] and texts(table["other_id"]) == ["7", "8", None]


def test_scores_join_by_customer() -> None:
    scores = pd.DataFrame({"buy_90d": [0.4, 0.1], "buy_90d_reasons": ["r1", "r2"]}, index=["e-3", "e-1"])
    table = desired_table(SEGMENTS, CUSTOMERS, ["crm_id"], scores=scores)
    assert table["buy_90d"].tolist()[0] == 0.1 and pd.isna(table["buy_90d"].iloc[1]) and table["buy_90d"].iloc[2] == 0.4
    assert texts(table["buy_90d_reasons"]) == ["r2", None, "r1"]


def test_only_configured_experiments_arms_are_current() -> None:
    one = desired_table(SEGMENTS, CUSTOMERS, ["crm_id"], arms=ARMS, experiments=[PROMO])
    assert texts(one["arm"]) == ["control", "discount", None]  # the retired experiment's arm is never current
    assert one["arms"].tolist()[:2] == [{"promo": "control"}, {"promo": "discount"}] and pd.isna(one["arms"].iloc[2])
    both = desired_table(SEGMENTS, CUSTOMERS, ["crm_id"], arms=ARMS, experiments=[PROMO, WELCOME])
    assert both["arm"].tolist()[0] == "promo=control; welcome=b"  # several experiments: named


def test_an_arm_with_segment_default_offers_gets_its_segments_own() -> None:
    offers = pd.DataFrame({"customer_id": ["e-1", "e-2", "e-3"], "offer_1": ["P1", "P2", "P3"], "offer_2": ["Q1", "Q2", None],
                           "offer_3": [None, None, None], "offer_reasons": ["mine", "mine", "mine"]})
    table = desired_table(SEGMENTS, CUSTOMERS, ["crm_id"], arms=ARMS, experiments=[PROMO], offers=offers,
                          offer_defaults={"s1": ("D1", "D2")})
    by = table.set_index("customer_id")
    assert by.loc["e-1", ["offer_1", "offer_reasons"]].tolist() == ["P1", "mine"]  # control keeps personalised offers
    assert by.loc["e-2", ["offer_1", "offer_2"]].tolist() == ["D1", "D2"] and pd.isna(by.loc["e-2", "offer_3"])
    assert by.loc["e-2", "offer_reasons"] == "1: the default offer of At risk | 2: the default offer of At risk"


def test_segment_and_arm_lists_hold_customers_with_a_record_id() -> None:
    table = desired_table(SEGMENTS, CUSTOMERS, ["crm_id", "other_id"], arms=ARMS, experiments=[PROMO])
    lists = list_memberships(table, "crm_id", ListsConfig(), [PROMO])
    assert lists == {"segsync Champions": {"e-1": "003A", "e-3": "003C"},  # e-2 has no crm_id
                     "segsync promo control": {"e-1": "003A"}, "segsync promo discount": {}}
    per_segment = ListsConfig(segment_name_template="seg {segment_id}", arm_name_template="{experiment}/{arm}/{segment_name}")
    lists = list_memberships(table, "other_id", per_segment, [PROMO])
    assert lists == {"seg s0": {"e-1": "7"}, "seg s1": {"e-2": "8"},
                     "promo/control/Champions": {"e-1": "7"}, "promo/discount/At risk": {"e-2": "8"}}
