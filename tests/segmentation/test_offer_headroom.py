"""Headroom of the offers: recall of a candidate set and the best precision@k over it, on known answers."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from segmentation.offer_headroom import candidate_recall
from tests.segmentation.conftest import planted_offer_world


def _truth() -> sp.csr_matrix:
    # customer 0 bought products 0, 1, 2, 3; customer 1 bought product 4; customer 2 bought 0 and 5
    rows, cols = [0, 0, 0, 0, 1, 2, 2], [0, 1, 2, 3, 4, 0, 5]
    return sp.csr_matrix((np.ones(7, np.float32), (rows, cols)), shape=(3, 6))


def test_recall_and_best_precision_count_only_what_the_set_holds():
    sets = {
        "arrays": np.array([[0, 1, 2, 3, 5], [5, -1, -1, -1, -1], [0, 4, -1, -1, -1]]),
        "sparse": sp.csr_matrix(np.array([[1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0]])),
    }
    table = candidate_recall(sets, _truth(), k=3)
    # arrays hold 0-3 of customer 0 (4 of its 4; only 3 count towards precision@3), none of
    # customer 1's, one of customer 2's two: recall 5 / 7, best precision (3 + 0 + 1) / 9
    assert table.loc["arrays", "recall"] == pytest.approx(5 / 7)
    assert table.loc["arrays", "best_precision_at_k"] == pytest.approx(4 / 9)
    assert table.loc["arrays", "mean_size"] == pytest.approx((5 + 1 + 2) / 3)
    # sparse: 0 and 1 of customer 0, customer 1's product 4, nothing for customer 2
    assert table.loc["sparse", "recall"] == pytest.approx(3 / 7)
    assert table.loc["sparse", "best_precision_at_k"] == pytest.approx((2 + 1 + 0) / 9)
    assert table.loc["sparse", "mean_size"] == pytest.approx(1.0)


def test_misaligned_rows_and_bad_k_are_named():
    with pytest.raises(ValueError, match="'short' has 2 customers, the truth 3"):
        candidate_recall({"short": np.zeros((2, 3), int)}, _truth())
    with pytest.raises(ValueError, match="k must be at least 1"):
        candidate_recall({"x": np.zeros((3, 3), int)}, _truth(), k=0)


def test_the_rankers_candidate_sets_are_what_its_model_chooses_from():
    from segmentation.offer_evaluation import make_scorer
    from segmentation.offer_ranker import OfferRanker

    w = planted_offer_world(600, 60, seed=5)
    items, catalog, segments, snap = w["items"], w["catalog"], w["segments"], w["snap"]
    ranker = make_scorer("ranker", items, snap, segments, horizon_days=90, cross_sell=False, price=catalog["price"].to_numpy(),
                         ranker=OfferRanker(max_iter=20))  # few trees: the sets, not the model, are under test
    h, s = snap.history, snap.signals
    pool, short = ranker.candidate_sets(h, s, s.segment_codes)
    assert pool.shape[1] > short.shape[1] == ranker.shortlist == 10
    assert ((short >= 0).sum(axis=1) == 10).mean() > 0.9
    for row in range(len(pool)):  # the short list is drawn from the gathered candidates
        assert set(short[row][short[row] >= 0]) <= set(pool[row][pool[row] >= 0])
    scored, prob = ranker.candidate_scores(h, s, s.segment_codes)
    assert np.array_equal(np.sort(np.where(np.isfinite(prob), scored, -1), axis=1), np.sort(short, axis=1))
