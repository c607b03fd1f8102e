"""The learned offer ranker: it learns what the baselines cannot, and never sees the future."""

from __future__ import annotations

import numpy as np
import pandas as pd

from segmentation.offer_evaluation import Snapshot, evaluate_offers, make_scorer, training_starts
from segmentation.offer_ranker import FEATURES, OfferRanker
from segmentation.offers import OfferParams, recommend_offers
from segmentation.purchases import product_catalog

CUTOFF = pd.Timestamp("2024-07-01", tz="UTC")


def _lines(rows: list[tuple[str, str, pd.Timestamp, str]]) -> pd.DataFrame:
    items = pd.DataFrame(rows, columns=["transaction_id", "customer_id", "occurred_at", "product_id"])
    return items.assign(product_name="name " + items["product_id"], category=None, quantity=1.0, unit_price=2.0)


def _habits(n_customers: int = 160, seed: int = 3) -> pd.DataFrame:
    """Repeat is wrong by construction: each customer bought five products ten times each a
    year ago and stopped (an old habit), and re-buys one other product about every 30 days
    since (fewer times, so it ranks below the old ones by count). In every window after a
    snapshot they buy only the cyclic product, plus a random catalogue product."""
    rng = np.random.default_rng(seed)
    rows = []
    end = CUTOFF + pd.Timedelta(days=91)
    for i in range(n_customers):
        c = f"c{i}"
        old = rng.choice(40, 5, replace=False)
        cyclic = 40 + int(rng.integers(0, 10))
        for t in range(10):
            day = pd.Timestamp("2023-06-01", tz="UTC") + pd.Timedelta(days=int(rng.integers(0, 60)))
            rows += [(f"{c}-o{t}", c, day, f"P{p}") for p in old]
        day = pd.Timestamp("2023-11-01", tz="UTC") + pd.Timedelta(days=int(rng.integers(0, 30)))
        t = 0
        while day < end:
            rows.append((f"{c}-y{t}", c, day, f"P{cyclic}"))
            rows.append((f"{c}-y{t}", c, day, f"P{int(rng.integers(0, 50))}"))
            day += pd.Timedelta(days=int(rng.integers(24, 34)))
            t += 1
    return _lines(rows)


def test_ranker_beats_repeat_when_repeat_is_wrong_by_construction():
    items = _habits()
    segments = pd.Series("all", index=items["customer_id"].unique())
    table = evaluate_offers(items, segments, CUTOFF, horizon_days=91, methods=["repeat", "ranker"], modes=["any"], n_boot=50)
    p = table.set_index("method")["precision_at_3"]
    # repeat offers the five old products (none bought again); the cyclic product is one of three
    assert p["repeat"] < 0.15
    assert p["ranker"] > p["repeat"] + 0.15
    assert table.set_index("method").loc["ranker", "lift_lo"] > 0


def _features_as_of(items: pd.DataFrame, cutoff: pd.Timestamp) -> tuple[np.ndarray, np.ndarray]:
    catalog = product_catalog(items[items["occurred_at"] < cutoff])
    customers = pd.Index(np.sort(items["customer_id"].unique()))
    segments = pd.Series("all", index=customers)
    snap = Snapshot.build(items, cutoff, catalog.index, customers, segments)
    ranker = OfferRanker(price=catalog["price"].to_numpy())
    return ranker._features(snap.history, snap.signals, snap.signals.segment_codes)


def test_features_as_of_a_cutoff_never_see_later_rows():
    items = _habits(40)
    before = items[items["occurred_at"] < CUTOFF]
    # later rows: existing customers buying existing products, and a flood of one product
    later = items[items["occurred_at"] >= CUTOFF]
    flood = _lines([(f"f{i}", f"c{i % 40}", CUTOFF + pd.Timedelta(days=i % 5), "P1") for i in range(400)])
    cand_a, feats_a = _features_as_of(before, CUTOFF)
    cand_b, feats_b = _features_as_of(pd.concat([before, later, flood], ignore_index=True), CUTOFF)
    assert len(later) > 100
    np.testing.assert_array_equal(cand_a, cand_b)
    np.testing.assert_array_equal(feats_a, feats_b)
    assert feats_a.shape[1] == len(FEATURES)


def test_training_labels_end_by_the_snapshot_being_scored():
    """make_scorer trains on windows that end at the snapshot's date: rows after it change nothing."""
    items = _habits(60)
    customers = pd.Index(np.sort(items["customer_id"].unique()))
    segments = pd.Series("all", index=customers)
    catalog = product_catalog(items[items["occurred_at"] < CUTOFF])
    snap = Snapshot.build(items, CUTOFF, catalog.index, customers, segments)
    price = catalog["price"].to_numpy()

    def probabilities(data: pd.DataFrame) -> np.ndarray:
        ranker = make_scorer("ranker", data, snap, segments, horizon_days=91, cross_sell=False, price=price)
        return ranker.candidate_scores(snap.history, snap.signals, snap.signals.segment_codes)[1]

    np.testing.assert_array_equal(probabilities(items), probabilities(items[items["occurred_at"] < CUTOFF]))


def test_training_snapshots_step_back_a_week_and_every_label_window_ends_by_the_cutoff():
    as_of = pd.Timestamp("2011-06-01", tz="UTC")
    first = pd.Timestamp("2011-02-01", tz="UTC")
    starts = training_starts(as_of, first, window=30, stride=7, count=12)
    # 2011-05-02, then a week earlier each; 2011-03-07 is the last with 30 days of history before it
    assert starts[0] == pd.Timestamp("2011-05-02", tz="UTC")
    assert [a - b for a, b in zip(starts, starts[1:], strict=False)] == [pd.Timedelta(days=7)] * (len(starts) - 1)
    assert starts[-1] == pd.Timestamp("2011-03-07", tz="UTC") and len(starts) == 9
    assert len(training_starts(as_of, first - pd.Timedelta(days=365), 30, 7, 12)) == 12
    assert all(s + pd.Timedelta(days=30) <= as_of and s - first >= pd.Timedelta(days=30) for s in starts[1:])
    # a history too short for any earlier snapshot still trains on the latest one
    assert training_starts(as_of, as_of - pd.Timedelta(days=40), 30, 7, 12) == [pd.Timestamp("2011-05-02", tz="UTC")]


def test_auto_reason_says_by_how_much_the_choice_beats_the_best_baseline():
    items = _habits(120)
    segments = pd.DataFrame({"customer_id": items["customer_id"].unique(), "segment_id": "s", "segment_name": "All"})
    as_of = CUTOFF + pd.Timedelta(days=91)
    result = recommend_offers(items, segments, as_of, OfferParams(method="auto", horizon_days=91, n_boot=50))
    assert result.method == "ranker"
    row = result.evaluation.query("mode == 'any' and method == 'ranker'").iloc[0]
    assert f"{row['lift_vs_best_baseline']:+.1%} over the best baseline {row['best_baseline']}" in result.reason
    assert f"{row['lift_lo']:+.1%} to {row['lift_hi']:+.1%}" in result.reason


def test_taste_mixture_recovers_planted_groups_from_one_purchase():
    """Two groups buy from their own halves of ten products: after EM, a customer who bought one
    product of a half is expected to like the rest of that half, not the other."""
    import scipy.sparse as sp

    from segmentation.offer_tastes import TasteMixture

    rng = np.random.default_rng(0)
    rows, cols = [], []
    for c in range(400):
        half = c % 2
        for p in rng.choice(5, 3, replace=False) + 5 * half:
            rows.append(c)
            cols.append(int(p))
    owned = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(400, 10))
    mix = TasteMixture.fit(owned, n_components=4, random_state=1)
    one = sp.csr_matrix((np.ones(2, np.float32), ([0, 1], [0, 7])), shape=(2, 10))
    taste = mix.scores(one)
    assert taste[0, 1:5].min() > 2 * taste[0, 5:].max()
    assert taste[1, 5:].min() > 2 * taste[1, :5].max()
    np.testing.assert_allclose(taste.sum(axis=1), 1.0, rtol=1e-5)
    again = TasteMixture.fit(owned, n_components=4, random_state=1)
    np.testing.assert_array_equal(again.theta, mix.theta)


def test_training_population_above_its_size_is_a_sample_with_the_same_histories():
    from segmentation.offer_evaluation import training_population
    from segmentation.purchases import EncodedItems, PurchaseHistory

    items = _habits(30)
    customers = pd.Index(np.sort(items["customer_id"].unique()))
    products = pd.Index(np.sort(items["product_id"].unique()))
    encoded = EncodedItems.encode(items, products, customers)
    same, axis = training_population(encoded, customers, 30, random_state=0)
    assert same is encoded and axis is customers
    sample, axis = training_population(encoded, customers, 12, random_state=0)
    assert len(axis) == 12 and axis.is_monotonic_increasing and set(axis) <= set(customers)
    assert sample.n_customers == 12 and sample.c.max() == 11
    assert training_population(encoded, customers, 12, random_state=0)[1].equals(axis)
    full = PurchaseHistory.build(encoded, CUTOFF, products, customers)
    part = PurchaseHistory.build(sample, CUTOFF, products, axis)
    rows = customers.get_indexer(axis)
    assert (part.counts != full.counts[rows]).nnz == 0
    assert (part.last_days != full.last_days[rows]).nnz == 0
    np.testing.assert_array_equal(part.txn_count, full.txn_count[rows])
    assert part.counts.sum() > 0
