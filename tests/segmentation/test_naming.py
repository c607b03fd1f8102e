from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from segmentation.naming import (
    describe_effects,
    effect_sizes,
    name_from_effects,
    name_segments,
    profile_segments,
)

COLS = ["recency_days", "frequency", "monetary_total", "tenure_days"]


def _row(r: float, f: float, m: float, t: float = 0.0) -> pd.Series:
    return pd.Series([r, f, m, t], index=COLS)


def test_names_read_the_profile_relative_to_everyone():
    assert name_from_effects(_row(-1.0, 1.2, 1.5)) == "High-Value Loyalists"
    assert name_from_effects(_row(1.0, 0.0, 1.2)) == "At-Risk Big Spenders"
    assert name_from_effects(_row(1.0, 1.0, 0.0)) == "At-Risk Regulars"
    assert name_from_effects(_row(1.0, -0.8, -0.8)) == "Dormant"
    assert name_from_effects(_row(-0.8, -0.5, 0.0, -1.5)) == "New Customers"
    assert name_from_effects(_row(0.0, 1.0, 0.0)) == "Loyal Regulars"
    assert name_from_effects(_row(0.0, -1.0, -1.0)) == "Occasional Low Spenders"
    assert name_from_effects(_row(0.0, 0.0, 0.0)) == "Steady Customers"
    # A short tenure alone is not "new" when the last purchase is old.
    assert name_from_effects(_row(0.3, -0.6, -0.2, -1.0)) != "New Customers"


def test_duplicates_get_qualifiers_from_where_they_differ():
    effects = pd.DataFrame(
        [[1.0, -0.8, -0.8, 0], [1.0, -0.8, 0.1, 0], [1.0, -0.8, -2.0, 0], [-1, 1, 1, 0]],
        index=[0, 1, 2, 3],
        columns=COLS,
    )
    names = name_segments(effects)
    assert names.tolist() == [
        "Dormant (Low Spend)",
        "Dormant (Mid Spend)",
        "Dormant (Very Low Spend)",
        "High-Value Loyalists",
    ]


def test_identical_levels_fall_back_to_a_ranking():
    effects = pd.DataFrame(
        [[1.0, 0.0, -0.8, 0], [1.0, 0.1, -0.6, 0]], index=["a", "b"], columns=COLS
    )
    # Spend is the widest spread (0.2 against 0.1 for frequency).
    assert name_segments(effects).tolist() == ["Dormant (Lower Spend)", "Dormant (Higher Spend)"]


def test_segments_that_never_bought_are_prospects():
    effects = pd.DataFrame([[0.0, -2.0, -2.0, -1.0]], index=[0], columns=COLS)
    profiles = pd.DataFrame({"segment_id": ["0"], "mean_frequency": [0.0]})
    assert name_segments(effects, profiles).tolist() == ["Prospects (No Purchase)"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(*[st.floats(-3, 3)] * 4), min_size=1, max_size=12))
def test_names_are_unique_deterministic_and_order_free(rows):
    effects = pd.DataFrame(rows, columns=COLS, index=[f"k{i}" for i in range(len(rows))])
    names = name_segments(effects)
    assert names.is_unique
    assert name_segments(effects).equals(names)
    reversed_ = name_segments(effects.iloc[::-1])
    assert reversed_.sort_index().equals(names.sort_index())


def test_profiles_and_effect_sizes_on_known_frame():
    features = pd.DataFrame(
        {
            "recency_days": [1.0, 2.0, 3.0, 100.0, 110.0, 120.0],
            "frequency": [10, 12, 14, 1, 1, 2],
            "monetary_total": [100.0, 120.0, 140.0, 10.0, 10.0, 20.0],
            "plan": ["pro", "pro", "free", "free", "free", "free"],
        },
        index=list("abcdef"),
    )
    keys = pd.Series(["s1", "s1", "s1", "s2", "s2", "s2"], index=features.index)
    effects = effect_sizes(features, keys, ["recency_days", "frequency", "monetary_total", "plan"])
    assert effects.loc["s1", "frequency"] > 0.9 > -0.9 > effects.loc["s2", "frequency"]
    assert effects.loc["s1", "plan=pro"] > 0
    profiles = profile_segments(
        features, keys, ["recency_days", "frequency", "monetary_total", "plan"], effects
    )
    s1 = profiles.set_index("segment_id").loc["s1"]
    assert (s1["size"], s1["share"], s1["revenue"]) == (3, 0.5, 360.0)
    assert s1["revenue_share"] == 360.0 / 400.0
    assert (s1["mean_frequency"], s1["median_monetary_total"]) == (12.0, 120.0)
    assert "mean_plan" not in profiles.columns
    assert (
        describe_effects(pd.Series({"a": 0.2, "b": -1.5, "c": 0.9}), top=2)
        == "b -1.5 sd; c +0.9 sd"
    )
