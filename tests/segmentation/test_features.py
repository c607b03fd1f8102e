from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segmentation.features import build_features, clean_transactions

CUTOFF = pd.Timestamp("2024-03-01", tz="UTC")


def _tx(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(
        rows, columns=["transaction_id", "customer_id", "occurred_at", "amount", "source"]
    )


def test_clean_transactions_quarantines_each_bad_row_with_its_reason():
    raw = _tx(
        [
            ("t1", "a", "2024-01-01", 10.0, "sf"),
            ("t2", "a", "2024-01-02", "abc", "sf"),
            ("t3", "b", "2020-13-45", 5, "sf"),
            ("t4", None, "2024-01-01", 3, "sf"),
            ("t5", "c", "2024-02-01", -5.0, "sf"),
            ("t1", "a", "2024-01-05", 2.0, "hs"),
            ("t7", "c", None, 1.0, "hs"),
            ("t8", "c", "2024-02-03", None, "hs"),
        ]
    )
    clean, rejected = clean_transactions(raw)
    assert clean["transaction_id"].tolist() == ["t1"]
    assert clean["amount"].tolist() == [10.0]
    assert str(clean["occurred_at"].dt.tz) == "UTC"
    reasons = dict(zip(rejected.index, rejected["reason"], strict=True))
    assert list(reasons.values()) == [
        "amount is not a number ('abc')",
        "occurred_at is not a date ('2020-13-45')",
        "missing customer_id",
        "amount is negative (-5.0)",
        "duplicate transaction_id",
        "missing occurred_at",
        "missing amount",
    ]
    assert len(clean) + len(rejected) == len(raw)


def test_clean_transactions_names_missing_columns():
    with pytest.raises(ValueError, match="amount"):
        clean_transactions(
            pd.DataFrame({"transaction_id": [], "customer_id": [], "occurred_at": []})
        )


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["t1", "t2", "t3", "t4"]),
            st.sampled_from(["a", "b", None, ""]),
            st.sampled_from(["2024-01-01", "junk", None, "2023-12-31T23:00:00Z"]),
            st.one_of(
                st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=3), st.none()
            ),
        ),
        max_size=12,
    )
)
def test_clean_transactions_loses_nothing(rows):
    raw = _tx([(*r, "x") for r in rows])
    clean, rejected = clean_transactions(raw)
    assert len(clean) + len(rejected) == len(raw)
    assert (clean["amount"] >= 0).all() and np.isfinite(clean["amount"]).all()
    assert not clean["transaction_id"].duplicated().any()
    assert rejected["reason"].notna().all()


def _clean(rows: list[tuple]) -> pd.DataFrame:
    clean, rejected = clean_transactions(_tx(rows))
    assert rejected.empty
    return clean


def test_build_features_known_answers_and_cutoff():
    tx = _clean(
        [
            ("t1", "a", "2024-01-01", 10.0, "s"),
            ("t2", "a", "2024-01-11", 20.0, "s"),
            ("t3", "a", "2024-01-21", 30.0, "s"),
            ("t4", "b", "2024-02-20", 5.0, "s"),
            ("t5", "b", "2024-03-02", 500.0, "s"),  # after the cutoff: ignored
        ]
    )
    customers = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "email": ["a@x", "b@x", "c@x", "d@x"],
            "created_at": ["2023-01-01", "2024-02-01", "2024-02-10", "2024-04-01"],
            "plan": ["pro", "free", None, "pro"],
            "seats": [3, 1, 2, 9],
        }
    )
    f = build_features(customers, tx, CUTOFF, attributes=["plan", "seats"])
    assert f.index.tolist() == ["a", "b", "c"]  # d is created after the cutoff
    a, b, c = f.loc["a"], f.loc["b"], f.loc["c"]
    assert (a.recency_days, a.frequency, a.monetary_total, a.monetary_mean) == (40.0, 3, 60.0, 20.0)
    assert (a.tenure_days, a.ipt_mean_days) == (60.0, 10.0)
    assert (b.frequency, b.monetary_total, b.recency_days, b.tenure_days) == (1, 5.0, 10.0, 10.0)
    assert np.isnan(b.ipt_mean_days)
    assert (c.frequency, c.monetary_total, c.recency_days, c.tenure_days) == (0, 0.0, 20.0, 20.0)
    assert a.plan == "pro" and a.seats == 3 and pd.isna(c.plan)


def test_build_features_without_customers_table():
    tx = _clean([("t1", "x", "2024-02-01", 1.0, "s"), ("t2", "y", "2024-02-28", 2.0, "s")])
    f = build_features(None, tx, pd.Timestamp("2024-03-01"))
    assert f.index.tolist() == ["x", "y"]
    assert f["recency_days"].tolist() == [29.0, 2.0]
    with pytest.raises(ValueError, match="attributes"):
        build_features(None, tx, CUTOFF, attributes=["plan"])


def test_build_features_names_unknown_attribute():
    tx = _clean([("t1", "x", "2024-02-01", 1.0, "s")])
    with pytest.raises(ValueError, match="'tier'"):
        build_features(pd.DataFrame({"customer_id": ["x"]}), tx, CUTOFF, attributes=["tier"])


def test_build_features_refuses_unclean_transactions():
    raw = _tx([("t1", "x", "2024-02-01", None, "s")])
    with pytest.raises(ValueError, match="clean_transactions"):
        build_features(None, raw, CUTOFF)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 400), st.floats(0, 1e4)),
        min_size=1,
        max_size=30,
    )
)
def test_build_features_matches_a_per_customer_loop(rows):
    start = pd.Timestamp("2023-01-01", tz="UTC")
    tx = pd.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(len(rows))],
            "customer_id": [f"c{c}" for c, _, _ in rows],
            "occurred_at": [start + pd.Timedelta(days=d) for _, d, _ in rows],
            "amount": [a for _, _, a in rows],
            "source": "s",
        }
    )
    cutoff = start + pd.Timedelta(days=300)
    f = build_features(None, tx, cutoff)
    for cid, group in tx[tx.occurred_at <= cutoff].groupby("customer_id"):
        days = sorted((cutoff - group.occurred_at).dt.days)
        row = f.loc[cid]
        assert row.frequency == len(group)
        assert row.recency_days == days[0] and row.tenure_days == days[-1]
        assert row.monetary_total == pytest.approx(group.amount.sum())
        if len(days) > 1:
            assert row.ipt_mean_days == pytest.approx(np.diff(days).mean())
    assert set(f.index) == set(tx[tx.occurred_at <= cutoff].customer_id)
