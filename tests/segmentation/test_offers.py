from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segmentation.offer_evaluation import Snapshot, evaluate_offers
from segmentation.offer_methods import Baseline
from segmentation.offer_selection import OfferRules, select_offers
from segmentation.offers import OfferParams, recommend_offers, top_offers_by_segment
from segmentation.purchases import product_catalog

AS_OF = pd.Timestamp("2024-03-01", tz="UTC")
CATEGORY = {"A": "mugs", "B": "mugs", "C": "mugs", "D": "tea", "E": "tea", "F": "cards"}


def _items(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    """(transaction_id, customer_id, day, product_id) -> clean line items."""
    frame = pd.DataFrame(rows, columns=["transaction_id", "customer_id", "occurred_at", "product_id"])
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True)
    frame["product_name"] = "name " + frame["product_id"]
    frame["category"] = frame["product_id"].map(CATEGORY)
    frame["quantity"] = 1.0
    frame["unit_price"] = 2.0
    return frame


# x bought A three times and B once; y bought A with C; z bought A and C; w only D
HISTORY = _items([
    ("1", "x", "2024-01-01", "A"), ("2", "x", "2024-01-10", "A"), ("3", "x", "2024-02-01", "A"), ("3", "x", "2024-02-01", "B"),
    ("4", "y", "2024-01-05", "A"), ("4", "y", "2024-01-05", "C"),
    ("5", "z", "2024-01-06", "A"), ("5", "z", "2024-01-06", "C"), ("6", "z", "2024-02-06", "E"),
    ("7", "w", "2024-02-07", "D"), ("8", "v", "2024-02-08", "C"), ("8", "v", "2024-02-08", "F"),
])
SEGMENTS = pd.DataFrame({
    "customer_id": ["x", "y", "z", "w", "v"], "segment_id": ["s1", "s1", "s2", "s2", "s2"],
    "segment_name": ["Loyal", "Loyal", "New", "New", "New"],
})


def _snapshot() -> tuple[Snapshot, pd.DataFrame]:
    catalog = product_catalog(HISTORY)
    customers = pd.Index(sorted(SEGMENTS["customer_id"]))
    return Snapshot.build(HISTORY, AS_OF, catalog.index, customers, SEGMENTS.set_index("customer_id")["segment_id"]), catalog


def _offers(method: str, **kw) -> dict[str, list[str]]:
    snap, catalog = _snapshot()
    rules = kw.pop("rules", None)
    compiled = rules.compile(catalog, snap.signals, {"s1": "Loyal", "s2": "New"}) if rules else None
    picks, _ = select_offers(Baseline(method), snap.history, snap.signals, rules=compiled, **kw)
    ids = catalog.index.to_numpy()
    return {c: [ids[p] for p in row if p >= 0] for c, row in zip(snap.history.customer_ids, picks, strict=True)}


def test_popularity_ranks_by_share_of_buyers_for_everyone():
    got = _offers("popularity")
    assert got["w"] == ["A", "C", "B"]  # A: 3 of 5 buyers, C: 3 of 5 (tie -> lower index), then B
    assert all(v == got["w"] for v in got.values())


def test_segment_popularity_uses_the_customers_segment():
    got = _offers("segment_popularity")
    assert got["x"][:2] == ["A", "C"]  # s1: A 2/2, then B and C 1/2: C is more popular overall
    assert got["w"][0] == "C"  # s2: C bought by z and v


def test_repeat_orders_own_purchases_by_count_then_fills_with_popularity():
    got = _offers("repeat")
    assert got["x"] == ["A", "B", "C"]


def test_cooccurrence_recommends_what_buyers_of_your_products_bought():
    got = _offers("cooccurrence", cross_sell=True)
    assert got["x"][0] == "C"  # A's buyers y and z also bought C
    assert "A" not in got["x"] and "B" not in got["x"]  # cross-sell: nothing already bought
    assert got["y"] == ["E", "B", "F"]  # z bought A and C like y, and E: 2 x 1/sqrt(3); B 1/sqrt(3); F 1/sqrt(3)


def test_rules_exclusions_eligibility_non_repeatable_and_diversity():
    got = _offers("repeat", rules=OfferRules(exclude_products=("B",)))
    assert "B" not in got["x"]
    got = _offers("popularity", rules=OfferRules(exclude_categories=("mugs",)))
    assert all(not set(v) & {"A", "B", "C"} for v in got.values())
    got = _offers("popularity", rules=OfferRules(eligible={"Loyal": ("tea",)}))
    assert set(got["x"]) <= {"D", "E"} and got["w"][0] == "A"  # segment New is unrestricted
    got = _offers("repeat", rules=OfferRules(non_repeatable=("A",)))
    assert "A" not in got["x"] and "A" in got["w"]
    got = _offers("popularity", rules=OfferRules(max_per_category=1))
    assert got["w"] == ["A", "D", "F"]  # one mug, one tea, one card


def test_evaluation_scores_precision_and_hit_against_the_next_window():
    future = _items([("9", "x", "2024-03-05", "A"), ("9", "x", "2024-03-05", "D"), ("10", "w", "2024-03-06", "F")])
    items = pd.concat([HISTORY, future], ignore_index=True)
    table = evaluate_offers(items, SEGMENTS.set_index("customer_id")["segment_id"], AS_OF, horizon_days=30,
                            methods=["repeat", "popularity"], modes=["any"], n_boot=50)
    rep = table.set_index("method").loc["repeat"]
    # x: offers A, B, C -> A hit (1/3); w: offers D, A, C -> F missed (0) => precision 1/6, hit 1/2
    assert rep["customers"] == 2
    assert rep["precision_at_3"] == pytest.approx(1 / 6)
    assert rep["hit_at_3"] == pytest.approx(0.5)
    assert rep["best_baseline"] == "repeat" and rep["lift_vs_best_baseline"] == pytest.approx(0.0)


def test_recommend_offers_table_reasons_and_labels():
    result = recommend_offers(HISTORY, SEGMENTS, AS_OF, OfferParams(method="cooccurrence", mode="cross_sell", evaluate=False))
    row = result.offers.set_index("customer_id").loc["x"]
    assert list(result.offers.columns[:6]) == ["customer_id", "offer_1", "offer_2", "offer_3", "offer_reasons", "method"]
    assert row["offer_1"] == "name C" and row["offer_1_id"] == "C" and row["method"] == "cooccurrence"
    assert row["offer_reasons"].startswith("1: bought name A; customers who did buy name C")
    assert row["offer_1_score"] >= row["offer_2_score"]
    coded = recommend_offers(HISTORY, SEGMENTS, AS_OF, OfferParams(method="repeat", label="code", evaluate=False))
    x = coded.offers.set_index("customer_id").loc["x"]
    assert (x["offer_1"], x["offer_reasons"].split(" | ")[0]) == ("A", "1: bought it 3 times, last 2024-02-01")
    w = coded.offers.set_index("customer_id").loc["w"]["offer_reasons"].split(" | ")
    assert w[0] == "1: bought it once, last 2024-02-07"
    assert w[1] == "2: a best seller (60% of customers bought it)"  # repeat fills with overall popularity
    segmental = recommend_offers(HISTORY, SEGMENTS, AS_OF, OfferParams(method="segment_popularity", evaluate=False))
    assert segmental.offers.set_index("customer_id").loc["w"]["offer_reasons"].startswith("1: popular in New (67% bought it)")
    assert coded.defaults["s1"][0] == "A"
    top = top_offers_by_segment(coded.offers, SEGMENTS)
    assert top[(top["segment_id"] == "s1") & (top["rank"] == 1)]["offer"].item() == "A"


def test_auto_without_enough_history_falls_back_and_says_why():
    result = recommend_offers(HISTORY, SEGMENTS, AS_OF, OfferParams(method="auto"))
    assert result.method == "repeat" and result.evaluation is None
    assert "shorter than two horizons" in result.reason


def test_bad_params_name_the_value():
    with pytest.raises(ValueError, match="offers method 'best'"):
        OfferParams(method="best")
    with pytest.raises(ValueError, match="offers mode"):
        OfferParams(mode="upsell")


def _planted(n_customers: int = 600, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two segments with planted tastes: segment a buys P0-P4, segment b buys P5-P9; each
    customer favours two products of its segment and re-buys them."""
    rng = np.random.default_rng(seed)
    rows, segs = [], []
    start = pd.Timestamp("2023-01-01", tz="UTC")
    for i in range(n_customers):
        seg = i % 2
        fav = rng.choice(5, 2, replace=False) + 5 * seg
        segs.append((f"c{i}", f"s{seg}", f"Seg {seg}"))
        for t in range(int(rng.integers(3, 9))):
            day = start + pd.Timedelta(days=int(rng.integers(0, 420)))
            prods = {int(rng.choice(fav))} | ({int(rng.integers(0, 5) + 5 * seg)} if rng.random() < 0.5 else set())
            rows += [(f"c{i}-{t}", f"c{i}", day, f"P{p}") for p in prods]
    items = pd.DataFrame(rows, columns=["transaction_id", "customer_id", "occurred_at", "product_id"])
    items = items.assign(product_name=items["product_id"], category=None, quantity=1.0, unit_price=1.0)
    return items, pd.DataFrame(segs, columns=["customer_id", "segment_id", "segment_name"])


def test_ranker_learns_planted_tastes_better_than_popularity():
    items, segments = _planted()
    table = evaluate_offers(items, segments.set_index("customer_id")["segment_id"], pd.Timestamp("2024-01-01", tz="UTC"),
                            horizon_days=60, methods=["popularity", "repeat", "ranker"], modes=["any"], n_boot=50)
    p = table.set_index("method")["precision_at_3"]
    assert p["ranker"] > p["popularity"] + 0.1
    assert p["ranker"] >= p["repeat"] - 0.03


class _OwnOnly:
    """Own products by count, nothing else: a list as short as the customer's history."""

    def scores(self, history, signals, codes):
        counts = history.counts.toarray()
        return np.where(counts > 0, counts, -np.inf).astype(np.float32)


def _window_table(**kw) -> pd.DataFrame:
    # x re-buys A and buys D (new to x); w buys F (new); y only re-buys A; n is new; z and v buy nothing
    future = _items([("9", "x", "2024-03-05", "A"), ("9", "x", "2024-03-05", "D"), ("10", "w", "2024-03-06", "F"),
                     ("11", "y", "2024-03-07", "A"), ("12", "n", "2024-03-08", "A")])
    items = pd.concat([HISTORY, future], ignore_index=True)
    table = evaluate_offers(items, SEGMENTS.set_index("customer_id")["segment_id"], AS_OF, horizon_days=30,
                            methods=["repeat", "popularity"], n_boot=20, extra={"own_only": _OwnOnly()}, **kw)
    return table.set_index(["mode", "method"])


def test_evaluation_populations_judge_the_customers_each_definition_names():
    ret = _window_table()
    # any: x, w, y (n has no history); repeat offers x A,B,C (A hit), w D,A,C (0), y A,C,B (A hit)
    assert ret.loc[("any", "repeat"), "customers"] == 3
    assert ret.loc[("any", "repeat"), ["precision_at_3", "hit_at_3"]].tolist() == pytest.approx([2 / 9, 2 / 3])
    # cross-sell: only x and w bought something new; popularity offers x C,D,E (D hit), w A,C,B (0)
    assert ret.loc[("cross_sell", "popularity"), "customers"] == 2
    assert ret.loc[("cross_sell", "popularity"), "precision_at_3"] == pytest.approx(1 / 6)
    same = _window_table(population="returning_any")  # y (only re-bought) is judged in cross-sell too: offered B,D,E, a miss
    assert same.loc[("cross_sell", "popularity"), ["customers", "precision_at_3", "hit_at_3"]].tolist() == pytest.approx([3, 1 / 9, 1 / 3])
    assert same.loc[("any", "repeat"), "precision_at_3"] == pytest.approx(2 / 9)  # any mode unchanged
    window = _window_table(population="window")  # n too: no history, so repeat falls back to popularity A,C,B: A hit
    assert window.loc[("any", "repeat"), ["customers", "precision_at_3", "hit_at_3"]].tolist() == pytest.approx([4, 3 / 12, 3 / 4])
    assert window.loc[("any", "own_only"), "precision_at_3"] == pytest.approx(2 / 12)  # n is offered nothing: a zero
    known = _window_table(population="known")  # z and v bought nothing in the window: zeros
    assert known.loc[("any", "repeat"), ["customers", "precision_at_3", "hit_at_3"]].tolist() == pytest.approx([5, 2 / 15, 2 / 5])
    assert known.loc[("cross_sell", "popularity"), "customers"] == 5


def test_evaluation_slots_offered_divides_by_the_offers_made():
    # own_only offers x A,B (A hit), w D (miss), y A,C (A hit)
    three = _window_table()
    assert three.loc[("any", "own_only"), "precision_at_3"] == pytest.approx((1 / 3 + 0 + 1 / 3) / 3)
    made = _window_table(slots="offered")
    assert made.loc[("any", "own_only"), "precision_at_3"] == pytest.approx((1 / 2 + 0 + 1 / 2) / 3)
    assert made.loc[("any", "repeat"), "precision_at_3"] == pytest.approx(2 / 9)  # full lists: the same either way
    assert made.loc[("any", "own_only"), "hit_at_3"] == pytest.approx(2 / 3)


def test_evaluation_rejects_an_unknown_population_or_denominator():
    with pytest.raises(ValueError, match="population must be one of .*'everyone'"):
        _window_table(population="everyone")
    with pytest.raises(ValueError, match="slots one of"):
        _window_table(slots="two")
