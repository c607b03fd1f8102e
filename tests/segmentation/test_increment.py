"""add_purchases: the same features as build_features on the whole history (known answers and a property)."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from segmentation.features import build_features
from segmentation.increment import add_purchases

CUTOFF = pd.Timestamp("2024-03-10", tz="UTC")
CUSTOMERS = pd.DataFrame({"customer_id": ["w", "x", "y"], "created_at": pd.to_datetime(["2023-12-01"] * 3, utc=True)})


def _tx(rows: list[tuple[str, int, float]]) -> pd.DataFrame:
    return pd.DataFrame({
        "transaction_id": [str(i) for i in range(len(rows))], "customer_id": [r[0] for r in rows],
        "occurred_at": [CUTOFF - pd.Timedelta(days=r[1]) for r in rows], "amount": [r[2] for r in rows], "source": "files",
    })


purchase = st.tuples(st.sampled_from(["w", "x", "y"]), st.integers(0, 90), st.floats(0, 500, allow_nan=False))


@settings(max_examples=60, deadline=None)
@given(st.lists(purchase, max_size=8), st.lists(purchase, min_size=1, max_size=6))
def test_incremental_equals_recomputed(old: list, new: list) -> None:
    full = build_features(CUSTOMERS, _tx(old + new), CUTOFF)
    step = add_purchases(build_features(CUSTOMERS, _tx(old), CUTOFF), _tx(new), CUTOFF)
    pd.testing.assert_frame_equal(step, full, check_dtype=False, atol=1e-9)


def test_a_purchase_after_the_cutoff_counts_on_the_cutoff() -> None:
    before = build_features(CUSTOMERS, _tx([("x", 30, 10.0)]), CUTOFF)
    late = _tx([("x", 0, 5.0)]).assign(occurred_at=CUTOFF + pd.Timedelta(days=3))
    after = add_purchases(before, late, CUTOFF)
    assert after.loc["x", ["recency_days", "frequency", "monetary_total", "tenure_days", "ipt_mean_days"]].tolist() == [0.0, 2, 15.0, 30.0, 30.0]
    assert after.loc["w"].equals(before.loc["w"])  # others untouched


def test_unknown_customers_are_ignored() -> None:
    before = build_features(CUSTOMERS, _tx([("x", 30, 10.0)]), CUTOFF)
    pd.testing.assert_frame_equal(add_purchases(before, _tx([("zz", 1, 9.0)]), CUTOFF), before)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 90), st.floats(0, 500, allow_nan=False)), max_size=6))
def test_features_of_one_equals_build_features(rows: list) -> None:
    from segmentation.increment import features_of_one

    tx = _tx([("x", d, a) for d, a in rows])
    created = pd.Timestamp("2023-12-01", tz="UTC")
    expected = build_features(CUSTOMERS, tx, CUTOFF).loc["x"]
    got = features_of_one(list(tx["occurred_at"]), list(tx["amount"]), created, CUTOFF)
    pd.testing.assert_series_equal(pd.Series(got, name="x")[expected.index], expected, check_dtype=False, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.lists(purchase, max_size=8), st.lists(purchase, min_size=1, max_size=6))
def test_one_customer_without_a_frame_equals_add_purchases(old: list, new: list) -> None:
    from segmentation.increment import add_purchases_one

    before = build_features(CUSTOMERS, _tx(old), CUTOFF)
    expected = add_purchases(before, _tx(new), CUTOFF)
    for cid in ("w", "x", "y"):
        mine = _tx([r for r in new if r[0] == cid])
        got = add_purchases_one(before.loc[cid].to_dict(), list(mine["occurred_at"]), list(mine["amount"]), CUTOFF)
        pd.testing.assert_series_equal(pd.Series(got, name=cid)[expected.columns], expected.loc[cid], check_dtype=False, atol=1e-9)
