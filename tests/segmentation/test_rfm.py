from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segmentation.rfm import RFM_SEGMENT_NAMES, name_rfm, quintile_scores, rfm_scores


def test_quintiles_of_ten_distinct_values():
    s = pd.Series(range(10), dtype="float64")
    assert quintile_scores(s).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert quintile_scores(s, higher_is_better=False).tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]


def test_ties_share_a_score_and_missing_scores_worst():
    # Half the customers bought once: they all get F = 1, not 1..3 by arrival order.
    s = pd.Series([1, 1, 1, 1, 1, 2, 3, 4, 5, np.nan])
    assert quintile_scores(s).tolist() == [1, 1, 1, 1, 1, 3, 4, 4, 5, 1]


def test_rfm_scores_known_customers():
    f = pd.DataFrame(
        {
            "recency_days": [1, 2, 3, 4, 5, 300, 310, 320, 330, 340],
            "frequency": [30, 25, 1, 1, 1, 20, 22, 1, 1, 1],
            "monetary_total": [900, 800, 10, 12, 15, 700, 650, 5, 6, 7],
        },
        index=[f"c{i}" for i in range(10)],
    )
    out = rfm_scores(f)
    assert out.loc["c0", "rfm_score"] == "555"
    assert out.loc["c0", "rfm_segment"] == "Champions"
    assert out.loc["c2", ["r_score", "f_score", "rfm_segment"]].tolist() == [4, 1, "Promising"]
    assert out.loc["c5", ["r_score", "f_score"]].tolist() == [3, 4]
    assert out.loc["c5", "rfm_segment"] == "Loyal Customers"
    assert out.loc["c6", ["r_score", "f_score", "rfm_segment"]].tolist() == [2, 4, "At Risk"]
    assert out.loc["c9", "rfm_segment"] == "Lost"
    assert list(out.columns) == ["r_score", "f_score", "m_score", "rfm_score", "rfm_segment"]


def test_the_grid_names_every_cell():
    r, f = np.meshgrid(np.arange(1, 6), np.arange(1, 6))
    names = name_rfm(r.ravel(), f.ravel())
    assert set(names) == set(RFM_SEGMENT_NAMES)  # every name reachable, no cell empty
    assert name_rfm(np.array([5, 1, 1, 2]), np.array([5, 5, 1, 1])).tolist() == [
        "Champions",
        "Can't Lose Them",
        "Lost",
        "Hibernating",
    ]


def test_rfm_needs_its_columns():
    with pytest.raises(ValueError, match="frequency"):
        rfm_scores(pd.DataFrame({"recency_days": [1.0], "monetary_total": [1.0]}))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=60))
def test_scores_are_monotone_and_order_free(values):
    s = pd.Series(values)
    score = quintile_scores(s)
    assert score.between(1, 5).all()
    order = np.argsort(values, kind="stable")
    assert (np.diff(score.to_numpy()[order]) >= 0).all()
    shuffled = s.sample(frac=1.0, random_state=1)
    assert quintile_scores(shuffled).sort_index().equals(score)
