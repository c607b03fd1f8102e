"""Bad input on Spark: the pandas engine's quarantine rules hold (same rows, same reasons)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segmentation.features import Plausible, clean_transactions

pytest.importorskip("pyspark")

PLAUSIBLE = Plausible(max_amount=100_000.0, latest=pd.Timestamp("2025-01-01", tz="UTC"),
                      earliest=pd.Timestamp("1990-01-01", tz="UTC"))
RAW = [  # transaction_id, customer_id, occurred_at, amount
    ("t1", "c1", "2024-03-01", "12.50"),
    ("t2", "c1", "2024-03-02T10:00:00Z", "7"),
    (None, "c2", "2024-03-01", "3"),
    ("t4", "  ", "2024-03-01", "3"),
    ("t5", None, "2024-03-01", "3"),
    ("t6", "c3", None, "3"),
    ("t7", "c3", "not a date", "3"),
    ("t8", "c3", "2024-03-01", None),
    ("t9", "c3", "2024-03-01", "twelve"),
    ("t10", "c3", "2024-03-01", "inf"),
    ("t11", "c3", "2024-03-01", "-5"),
    ("t12", "c3", "2024-03-01", "2e9"),
    ("t13", "c4", "2099-01-01", "3"),
    ("t14", "c4", "1850-06-01", "3"),
    ("t1", "c9", "2024-03-05", "1"),  # duplicate id of a good row: rejected, the first is kept
    ("t7", "c4", "2024-03-05", "4"),  # same id as a rejected row: it is the first good one, kept
    ("t15", "c5", "2024-03-03", "0"),
    ("t16", "ü", "2024-03-03", "1"),  # not ASCII, not blank: fine
]


def _compare(spark, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    from connector.engine.spark.quarantine import clean_transactions as spark_clean
    from connector.engine.spark.quarantine import rejection_counts

    clean, rejected = clean_transactions(frame, PLAUSIBLE)
    s_clean, s_rejected = spark_clean(spark.createDataFrame(frame), PLAUSIBLE)
    got = s_rejected.toPandas()
    key = lambda f: sorted(zip(f["transaction_id"].map(str), f["customer_id"].map(str), f["reason"], strict=True))  # noqa: E731
    assert key(got) == key(rejected)
    clean_got = s_clean.toPandas().sort_values(["transaction_id", "customer_id"]).reset_index(drop=True)
    clean_exp = clean.sort_values(["transaction_id", "customer_id"]).reset_index(drop=True)
    assert list(clean_got["transaction_id"]) == list(clean_exp["transaction_id"])
    np.testing.assert_array_equal(clean_got["amount"].to_numpy(), clean_exp["amount"].to_numpy())
    assert (pd.to_datetime(clean_got["occurred_at"], utc=True) == clean_exp["occurred_at"].dt.tz_convert("UTC")).all()
    counts = rejection_counts(s_rejected)  # an aggregate: no rejected row travels to the driver
    assert int(counts["count"].sum()) == len(rejected)
    return rejected, counts


def test_raw_text_rows_rejected_with_the_same_reasons(spark):
    frame = pd.DataFrame(RAW, columns=["transaction_id", "customer_id", "occurred_at", "amount"])
    rejected, counts = _compare(spark, frame)
    reasons = dict(zip(rejected["transaction_id"].map(str), rejected["reason"], strict=False))
    assert reasons["t9"] == "amount is not a number ('twelve')"
    assert reasons["t12"] == "amount is implausibly large (2e+09 > quarantine.max_amount 100000)"
    assert reasons["t13"] == "occurred_at is in the future (2099-01-01 is after 2025-01-01)"
    assert len(rejected) == 13
    assert dict(zip(counts["rule"], counts["count"], strict=True))["duplicate transaction_id"] == 1


def test_typed_columns_take_the_sql_path_and_agree(spark):
    rng = np.random.default_rng(1)
    n = 600
    frame = pd.DataFrame({
        "transaction_id": [f"t{i % 590}" for i in range(n)],  # 10 duplicates
        "customer_id": [f"c{i % 37}" if i % 97 else " " for i in range(n)],
        "occurred_at": pd.to_datetime("2023-01-01", utc=True) + pd.to_timedelta(rng.integers(0, 900, n), unit="D"),
        "amount": np.round(rng.lognormal(3, 1, n), 2),
        "source": "files",
    })
    frame.loc[5, "amount"] = -1.0
    frame.loc[6, "amount"] = np.inf
    frame.loc[7, "amount"] = np.nan
    frame.loc[8, "occurred_at"] = pd.NaT
    frame.loc[9, "amount"] = 5e6
    rejected, _ = _compare(spark, frame)
    assert {"amount is negative (-1.0)", "amount is not finite (inf)", "missing amount", "missing occurred_at",
            "duplicate transaction_id", "missing customer_id"} <= set(rejected["reason"])
    assert any(r.startswith("occurred_at is in the future") for r in rejected["reason"])


@pytest.mark.parametrize("typed", [False, True])
def test_judged_once_gives_the_same_rows_persisted_by_customer(spark, typed):
    """quarantine.judge: the rows of clean_transactions (clean: the columns the compute reads;
    rejected: the same rows and reasons), persisted and partitioned by customer_id, so the
    features aggregate them without a shuffle."""
    from connector.engine.spark.features import build_features
    from connector.engine.spark.quarantine import judge

    frame = pd.DataFrame(RAW, columns=["transaction_id", "customer_id", "occurred_at", "amount"])
    if typed:
        frame = frame[frame["occurred_at"].isin(["2024-03-01", "2024-03-03", "2024-03-05", "2099-01-01"])].copy()
        frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True)
        frame["amount"] = pd.to_numeric(frame["amount"], errors="coerce")
    clean, rejected = clean_transactions(frame, PLAUSIBLE)
    judged = judge(spark.createDataFrame(frame), PLAUSIBLE)
    try:
        assert judged.table.storageLevel.useDisk and not judged.table.storageLevel.useMemory
        # counted by the job that stored the rows: rejected per rule, clean rows, the latest clean purchase
        expected_counts = rejected["reason"].str.replace(r" \(.*\)$", "", regex=True).value_counts()
        assert dict(zip(judged.counts["rule"], judged.counts["count"], strict=True)) == expected_counts.to_dict()
        assert judged.clean_rows == len(clean) > 0
        assert judged.latest == clean["occurred_at"].max()
        got = judged.rejected.toPandas()
        key = lambda f: sorted(zip(f["transaction_id"].map(str), f["customer_id"].map(str), f["reason"], strict=True))  # noqa: E731
        assert key(got) == key(rejected) and len(got) > 0
        rows = judged.clean.toPandas()
        assert list(rows.columns) == ["customer_id", "occurred_at", "amount"]
        expected = sorted(zip(clean["customer_id"], clean["occurred_at"].dt.tz_convert("UTC"), clean["amount"], strict=True))
        assert sorted(zip(rows["customer_id"], pd.to_datetime(rows["occurred_at"], utc=True), rows["amount"],
                          strict=True)) == expected
        features = build_features(None, judged.clean, pd.Timestamp("2024-12-31", tz="UTC"))
        plan = features._jdf.queryExecution().executedPlan().toString()
        assert "Exchange" not in plan.split("InMemoryRelation")[0], plan
    finally:
        judged.release()
    assert not judged.table.storageLevel.useDisk


def test_many_duplicates_take_the_window_and_agree(spark, monkeypatch):
    """Above the ids the driver broadcasts, the window over transaction_id flags the same rows."""
    from connector.engine.spark import quarantine

    monkeypatch.setattr(quarantine, "_BROADCAST_DUPLICATES", 0)
    frame = pd.DataFrame(RAW, columns=["transaction_id", "customer_id", "occurred_at", "amount"])
    rejected, counts = _compare(spark, frame)
    assert len(rejected) == 13
    assert dict(zip(counts["rule"], counts["count"], strict=True))["duplicate transaction_id"] == 1
