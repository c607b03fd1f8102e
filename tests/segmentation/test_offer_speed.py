"""The offer ranker's speed work changes no offer: each faster piece against the code it
replaced (kept here as the reference), on a seeded planted world, down to the top three."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from connector.sandbox.products import planted_products
from segmentation import offer_tastes
from segmentation.offer_candidates import best_nonzeros
from segmentation.offer_evaluation import Snapshot
from segmentation.offer_ranker import split_features
from segmentation.offer_selection import OfferRules
from segmentation.offer_shortlist import basket_floor
from segmentation.offers import OfferParams, recommend_offers
from segmentation.purchases import product_catalog

RULES = OfferRules(exclude_products=("P00000",), max_per_category=2)


def _posterior_per_customer(x: sp.csr_matrix, log_theta: np.ndarray, log_prior: np.ndarray) -> np.ndarray:
    """The EM posterior as it was written before (reductions over each customer's row)."""
    log_post = np.asarray(x @ log_theta.T) + log_prior
    log_post -= log_post.max(axis=1, keepdims=True)
    post = np.exp(log_post)
    return post / post.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def world() -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    planted = planted_products(3000, 150, seed=11)
    as_of = planted.items["occurred_at"].max().normalize() + pd.Timedelta(days=1)
    return planted.items, planted.segments, as_of


def _offers(world, mode: str = "any", n_jobs: int = 1) -> pd.DataFrame:
    items, segments, as_of = world
    params = OfferParams(method="ranker", mode=mode, evaluate=False, n_jobs=n_jobs)
    return recommend_offers(items, segments, as_of, params, RULES).offers


def test_the_posterior_by_groups_is_the_per_customer_one():
    rng = np.random.default_rng(3)
    x = sp.random(500, 40, density=0.08, format="csr", random_state=4)
    x.data[:] = 1.0
    log_theta = np.log(rng.dirichlet(np.ones(40), size=11))
    log_prior = np.log(rng.dirichlet(np.ones(11)))
    for groups in (3, 8, 11):
        got = offer_tastes._posterior(x, log_theta[:groups], log_prior[:groups])
        ref = _posterior_per_customer(x, log_theta[:groups], log_prior[:groups])
        assert got.shape == (500, groups)
        np.testing.assert_array_equal(got, ref)  # bit for bit: the fitted ranker must not move
        np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-12)


@pytest.mark.parametrize("mode", ["any", "cross_sell"])
def test_top_three_are_the_same_as_with_the_per_customer_posterior(world, mode, monkeypatch):
    fast = _offers(world, mode)
    monkeypatch.setattr(offer_tastes, "_posterior", _posterior_per_customer)
    before = _offers(world, mode)
    ids = [f"offer_{j}_id" for j in (1, 2, 3)]
    assert fast["offer_3"].notna().sum() > 2500  # real lists, not empty ones
    pd.testing.assert_frame_equal(fast[["customer_id", *ids]], before[["customer_id", *ids]])
    pd.testing.assert_frame_equal(fast, before)  # scores and reasons too


def test_training_snapshots_built_on_threads_give_the_same_offers(world):
    one = _offers(world, n_jobs=1)
    two = _offers(world, n_jobs=2)
    pd.testing.assert_frame_equal(one, two)


def test_the_pruned_basket_keeps_every_row_s_best(world):
    """The k-th best similarity per product is worked out once per k; skipping the basket entries
    below the floor it gives still finds each customer's k best co-occurring products, in the
    same order."""
    items, segments, as_of = world
    catalog = product_catalog(items)
    customers = pd.Index(np.sort(items["customer_id"].astype(str).unique()))
    snap = Snapshot.build(items, as_of, catalog.index, customers, segments.set_index("customer_id")["segment_id"])
    owned, s = snap.history.owned, snap.signals
    for k in (6, 26):
        kth = s.kth_similarity(k)
        assert s.kth_similarity(k) is kth  # once per k
        ref = best_nonzeros(s.similarity, k)[:, -1]
        np.testing.assert_array_equal(kth[ref >= 0], s.similarity.toarray()[np.flatnonzero(ref >= 0), ref[ref >= 0]])
        assert (kth[ref < 0] == 0).all()
        floor = basket_floor(owned, kth)
        full = (owned @ s.similarity).tocsr()
        below = full.data < np.repeat(floor, np.diff(full.indptr))
        assert below.mean() > 0.1  # it does skip entries (a quarter here)
        np.testing.assert_array_equal(best_nonzeros(full, k, floor=floor), best_nonzeros(full, k))
        np.testing.assert_array_equal(best_nonzeros(full, k, block=97, floor=floor), best_nonzeros(full, k))


def test_predicting_rows_in_sorted_order_gives_each_row_its_own_value(world):
    """OfferRanker._predict sorts the rows by the most-split features before the trees walk
    them: every row's probability is the one the model gives it alone, bit for bit."""
    items, segments, as_of = world
    result = recommend_offers(items, segments, as_of, OfferParams(method="ranker", evaluate=False), RULES)
    ranker = result.model.ranker
    snap = Snapshot.build(items, as_of, product_catalog(items).index, pd.Index(result.offers["customer_id"]),
                          segments.set_index("customer_id")["segment_id"])
    codes = snap.signals.segment_codes
    cand, feats = ranker._features(snap.history, snap.signals, codes)
    X = feats[(cand >= 0).ravel()]
    assert len(X) > 10_000 and split_features(ranker.model_)[:2]  # enough rows for several blocks, and keys to sort by
    np.testing.assert_array_equal(ranker._predict(X), ranker.model_.predict_proba(X)[:, 1])
