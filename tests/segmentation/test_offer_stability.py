"""Offer stability: a customer's offers change only when the new list is materially better."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segmentation.offer_selection import OfferRules
from segmentation.offer_stability import stabilise_offers
from segmentation.offers import OfferParams, recommend_offers
from tests.segmentation.test_offers import AS_OF, HISTORY, SEGMENTS

NAN = np.nan


def _one(fresh, scores, previous, allowed=(True, True, True), gain=0.25):
    """One customer: fresh ranking (positions, scores) against their current offers."""
    pad = 5 - len(fresh)
    got = stabilise_offers(np.array([list(fresh) + [-1] * pad]), np.array([list(scores) + [NAN] * pad], dtype=np.float32),
                           np.array([list(previous)]), np.array([list(allowed)]), gain)
    return got.picks[0].tolist(), got.scores[0], bool(got.kept[0]), bool(got.ineligible[0]), bool(got.gained[0])


def test_a_tiny_score_change_keeps_the_current_offers_in_their_order():
    # today 4 edges out 3 (0.31 vs 0.30): 0.31 is not 25 % above the weakest current offer (3 at 0.30)
    picks, scores, kept, _, _ = _one([1, 2, 4, 3], [0.5, 0.4, 0.31, 0.30], [2, 1, 3])
    assert kept and picks == [2, 1, 3]
    assert scores.tolist() == pytest.approx([0.4, 0.5, 0.30])  # today's scores of the kept offers


def test_the_same_products_reordered_are_no_change():
    picks, _, kept, _, gained = _one([3, 1, 2], [0.9, 0.8, 0.7], [1, 2, 3])
    assert kept and not gained and picks == [1, 2, 3]


def test_a_large_gain_replaces_the_list_with_the_new_top_three():
    # 4 at 0.50 beats the weakest current offer (3 at 0.30) by 67 %
    picks, scores, kept, ineligible, gained = _one([4, 1, 2, 3], [0.5, 0.45, 0.4, 0.30], [1, 2, 3])
    assert not kept and gained and not ineligible
    assert picks == [4, 1, 2] and scores.tolist() == pytest.approx([0.5, 0.45, 0.4])


def test_the_margin_is_the_knob():
    fresh, scores, current = [4, 1, 2, 3], [0.5, 0.45, 0.4, 0.30], [1, 2, 3]
    assert _one(fresh, scores, current, gain=0.7)[2]  # 0.5 < 0.30 * 1.7: kept
    assert not _one(fresh, scores, current, gain=0.6)[2]  # 0.5 > 0.30 * 1.6: replaced
    with pytest.raises(ValueError, match="min_score_gain -0.1"):
        _one(fresh, scores, current, gain=-0.1)


def test_an_ineligible_current_offer_is_replaced_even_when_nothing_scores_higher():
    picks, _, kept, ineligible, _ = _one([1, 2, 4, 3], [0.5, 0.4, 0.2, 0.1], [1, 2, 3], allowed=(True, True, False))
    assert not kept and ineligible and picks == [1, 2, 4]
    # an offer gone from the catalog (-2) is ineligible too
    picks, _, kept, ineligible, _ = _one([1, 2, 4], [0.5, 0.4, 0.2], [1, 2, -2], allowed=(True, True, False))
    assert ineligible and picks == [1, 2, 4]


def test_an_offer_that_fell_out_of_the_ranking_scores_as_its_lowest():
    # 3 is not in today's top five: it counts as 0.2 (the lowest there); 0.24 is not 25 % above that
    picks, scores, kept, _, _ = _one([1, 2, 5, 6, 7], [0.5, 0.4, 0.24, 0.21, 0.2], [1, 2, 3])
    assert kept and picks == [1, 2, 3] and scores[2] == pytest.approx(0.2)
    assert not _one([1, 2, 5, 6, 7], [0.5, 0.4, 0.3, 0.21, 0.2], [1, 2, 3])[2]  # 0.3 is 50 % above


def test_no_current_list_or_a_longer_new_one_takes_the_new_list():
    picks, _, kept, _, gained = _one([1, 2, 3], [0.5, 0.4, 0.3], [-1, -1, -1])
    assert not kept and not gained and picks == [1, 2, 3]
    picks, _, kept, _, gained = _one([1, 2, 3], [0.5, 0.4, 0.01], [1, 2, -1])
    assert not kept and gained and picks == [1, 2, 3]


def _current(rows: dict[str, list[str | None]]) -> pd.DataFrame:
    return pd.DataFrame([[c, *ids] for c, ids in rows.items()], columns=["customer_id", "offer_1_id", "offer_2_id", "offer_3_id"])


def test_recommend_offers_keeps_current_lists_and_replaces_those_a_rule_now_forbids():
    params = OfferParams(method="repeat", label="code", evaluate=False)
    fresh = recommend_offers(HISTORY, SEGMENTS, AS_OF, params).offers.set_index("customer_id")
    assert fresh.loc["x", ["offer_1", "offer_2", "offer_3"]].tolist() == ["A", "B", "C"]
    current = _current({"x": ["B", "A", "C"], "y": ["A", "C", "B"], "w": ["D", "A", "C"]})
    result = recommend_offers(HISTORY, SEGMENTS, AS_OF, params, OfferRules(non_repeatable=("D",)), current=current)
    got = result.offers.set_index("customer_id")
    assert got.loc["x", ["offer_1", "offer_2", "offer_3"]].tolist() == ["B", "A", "C"]  # reordered only: kept
    assert got.loc["x", "offer_reasons"].startswith("1: bought it once")  # reasons follow the kept order
    assert got.loc["y", ["offer_1_id", "offer_2_id", "offer_3_id"]].tolist() == ["A", "C", "B"]
    # w bought D, now non-repeatable: the list is replaced, and D is not in it
    assert "D" not in got.loc["w", ["offer_1", "offer_2", "offer_3"]].tolist()
    s = result.stability
    assert s is not None and int(s.ineligible.sum()) == 1 and int(s.kept.sum()) == 2
    # customers without a current list (z, v) get the new top three
    assert got.loc["z", "offer_1"] == fresh.loc["z", "offer_1"]
