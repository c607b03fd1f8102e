"""The fast path (integer codes, sparse histories, candidates in chunks, rules as masks, reasons
per distinct key) against straightforward reference implementations on small random shops."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segmentation.offer_evaluation import Snapshot, make_scorer
from segmentation.offer_selection import OfferRules, select_offers
from segmentation.offers import OfferParams, recommend_offers
from segmentation.purchases import PurchaseHistory, product_catalog

AS_OF = pd.Timestamp("2024-06-01", tz="UTC")
CATEGORIES = ("mugs", "tea", "cards", "bags", "toys", "lamps")


def _shop(seed: int, customers: int = 120, products: int = 30) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Random line items over a year (some after AS_OF, some duplicated lines), three segments
    with their own favourite products, and segments for a few customers who never bought."""
    rng = np.random.default_rng(seed)
    seg = rng.integers(0, 3, customers)
    rows = []
    for c in range(customers):
        for t in range(int(rng.integers(1, 7))):
            day = AS_OF - pd.Timedelta(days=float(rng.uniform(-20, 360)))
            liked = rng.random(3) < 0.6
            prods = {int(p) for p in np.where(liked, rng.integers(0, 8, 3) + 7 * seg[c], rng.integers(0, products, 3))}
            rows += [(f"t{c}-{t}", f"c{c:03d}", day, f"p{p:02d}", 1.0 + p % 5) for p in prods]
    items = pd.DataFrame(rows, columns=["transaction_id", "customer_id", "occurred_at", "product_id", "unit_price"])
    items = pd.concat([items, items.sample(frac=0.05, random_state=seed)], ignore_index=True)  # repeated lines
    number = items["product_id"].str[1:].astype(int)
    items["product_name"] = "name " + items["product_id"]
    items["category"] = [CATEGORIES[n % len(CATEGORIES)] for n in number]
    items["quantity"] = 1.0
    ids = [f"c{c:03d}" for c in range(customers)] + ["n1", "n2"]
    segments = pd.DataFrame({"customer_id": ids, "segment_id": [f"s{s}" for s in seg] + ["s0", "s2"]})
    segments["segment_name"] = segments["segment_id"].map({"s0": "Loyal", "s1": "New", "s2": "Lapsed"})
    return items, segments


def test_history_matches_a_pandas_reference():
    items, _ = _shop(1)
    catalog = product_catalog(items[items["occurred_at"] < AS_OF])
    customers = pd.Index(sorted(items["customer_id"].unique()) + ["zz-never"])
    h = PurchaseHistory.build(items, AS_OF, catalog.index, customers)
    past = items[items["occurred_at"] < AS_OF]
    days = (AS_OF - past["occurred_at"]).dt.total_seconds() / 86400
    ref = past.assign(days=days).drop_duplicates(["customer_id", "product_id", "transaction_id"])
    per = ref.groupby(["customer_id", "product_id"])["days"].agg(["size", "min"])
    c = customers.get_indexer(per.index.get_level_values(0))
    p = catalog.index.get_indexer(per.index.get_level_values(1))
    assert h.counts.nnz == len(per)
    np.testing.assert_array_equal(h.counts.toarray()[c, p], per["size"].to_numpy())
    np.testing.assert_allclose(h.last_days.toarray()[c, p], 1 + per["min"].to_numpy(), rtol=1e-6)
    visits = ref.drop_duplicates(["customer_id", "transaction_id"]).groupby("customer_id")["days"].agg(["size", "min"])
    at = customers.get_indexer(visits.index)
    np.testing.assert_array_equal(h.txn_count[at], visits["size"].to_numpy())
    np.testing.assert_allclose(h.last_any_days[at], visits["min"].to_numpy())
    assert h.txn_count[-1] == 0 and np.isnan(h.last_any_days[-1]) and np.isnan(h.spend_price[-1])
    geo = np.exp(np.log(past["unit_price"]).groupby(past["customer_id"]).mean())
    np.testing.assert_allclose(h.spend_price[customers.get_indexer(geo.index)], geo.to_numpy())


def test_catalog_matches_a_pandas_reference():
    items, _ = _shop(2)
    items.loc[items["product_id"] == "p03", "product_name"] = np.where(
        items.loc[items["product_id"] == "p03", "occurred_at"] == items.loc[items["product_id"] == "p03", "occurred_at"].max(),
        "renamed", "old name")
    got = product_catalog(items)
    assert list(got.index) == sorted(items["product_id"].unique())
    assert got.loc["p03", "product_name"] == "renamed"  # the most recent name
    np.testing.assert_array_equal(got["buyers"], items.groupby("product_id")["customer_id"].nunique().reindex(got.index))
    np.testing.assert_array_equal(got["price"], items.groupby("product_id")["unit_price"].median().reindex(got.index))
    assert (got["category"] == [CATEGORIES[int(i[1:]) % len(CATEGORIES)] for i in got.index]).all()


RULES = OfferRules(exclude_products=("p01",), exclude_categories=("lamps",), eligible={"New": ("tea", "cards", "p02")},
                   non_repeatable=("p04", "bags"), max_per_category=2)


def _reference_picks(dense: np.ndarray, owned: np.ndarray, seg_names: list[str | None], catalog: pd.DataFrame,
                     rules: OfferRules, cross_sell: bool, k: int = 3) -> list[list[int]]:
    """One customer at a time: sort every product by score (ties: lower position), drop what a
    rule forbids, then keep the first k with at most max_per_category per category, looking
    only as far as the fast path's documented window (4k best allowed)."""
    ids, cats = list(catalog.index), list(catalog["category"])
    out = []
    for i, name in enumerate(seg_names):
        order = sorted(range(len(ids)), key=lambda j: (-dense[i, j], j))
        allowed = []
        for j in order:
            if not np.isfinite(dense[i, j]) or ids[j] in rules.exclude_products or cats[j] in rules.exclude_categories:
                continue
            if name in rules.eligible and ids[j] not in rules.eligible[name] and cats[j] not in rules.eligible[name]:
                continue
            if owned[i, j] and (cross_sell or ids[j] in rules.non_repeatable or cats[j] in rules.non_repeatable):
                continue
            allowed.append(j)
        picks: list[int] = []
        for j in allowed[: 4 * k]:
            if sum(cats[x] == cats[j] for x in picks) < (rules.max_per_category or k):
                picks.append(j)
        out.append(picks[:k])
    return out


@pytest.mark.parametrize("mode", ["any", "cross_sell"])
@pytest.mark.parametrize("method", ["popularity", "segment_popularity", "repeat", "cooccurrence", "ranker"])
def test_selection_under_rules_matches_a_per_customer_reference(method: str, mode: str):
    items, segments = _shop(3)
    past = items[items["occurred_at"] < AS_OF]
    catalog = product_catalog(past)
    customers = pd.Index(sorted(set(segments["customer_id"]) | set(past["customer_id"])))
    seg = segments.set_index("customer_id")["segment_id"]
    snap = Snapshot.build(items, AS_OF, catalog.index, customers, seg)
    cross = mode == "cross_sell"
    scorer = make_scorer(method, items, snap, seg, horizon_days=60, cross_sell=cross, price=catalog["price"].to_numpy(), random_state=0)
    names = {"s0": "Loyal", "s1": "New", "s2": "Lapsed"}
    compiled = RULES.compile(catalog, snap.signals, names)
    picks, scores = select_offers(scorer, snap.history, snap.signals, cross_sell=cross, rules=compiled, chunk=17)
    codes = snap.signals.segment_codes
    if method == "ranker":  # the rules are applied before its first stage: its scores under them
        owned = snap.history.counts.toarray() > 0
        dense = scorer.scores(snap.history, snap.signals, codes, lambda cand: compiled.allowed_at(cand, snap.history, codes) & ~(
            cross & owned[np.arange(len(cand))[:, None], np.maximum(cand, 0)]))
    else:
        dense = scorer.scores(snap.history, snap.signals, codes)
    seg_names = [names.get(seg.get(c)) for c in customers]
    ref = _reference_picks(dense, snap.history.counts.toarray() > 0, seg_names, catalog, RULES, cross)
    assert [[int(p) for p in row if p >= 0] for row in picks] == ref
    threaded = select_offers(scorer, snap.history, snap.signals, cross_sell=cross, rules=compiled, chunk=17, n_jobs=3)
    np.testing.assert_array_equal(threaded[0], picks)
    np.testing.assert_array_equal(threaded[1], scores)
    assert sum(len(r) == 3 for r in ref) > len(ref) // 2  # the rules leave real choices to make
    got = np.isfinite(scores)
    np.testing.assert_allclose(scores[got], dense[np.nonzero(got)[0], picks[got]], rtol=1e-6)


def test_categorical_and_string_ids_give_the_same_offers():
    items, segments = _shop(4)
    coded = items.astype({c: "category" for c in ("transaction_id", "customer_id", "product_id", "product_name", "category")})
    params = OfferParams(method="ranker", mode="cross_sell", evaluate=False)
    a = recommend_offers(items, segments, AS_OF, params, RULES).offers
    b = recommend_offers(coded, segments.astype("category"), AS_OF, params, RULES).offers
    pd.testing.assert_frame_equal(a, b)
    assert list(a["customer_id"]) == sorted(set(segments["customer_id"]) | set(items["customer_id"]))
    assert a["offer_1"].notna().sum() > 100
