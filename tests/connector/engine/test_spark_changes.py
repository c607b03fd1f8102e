"""The desired state's diff on Spark: only changed or never-sent rows reach the driver."""

from __future__ import annotations

import pandas as pd
import pytest

pytest.importorskip("pyspark")


def test_only_changed_rows_come_back(spark):
    from connector.engine.spark.changes import changed_rows, collect_changes

    desired = pd.DataFrame({"customer_id": ["a", "b", "c", "d", "e"],
                            "segment_id": ["s1", "s2", "s2", "s3", None],
                            "buy_90d": [0.12, 0.50, 0.30, None, 0.40]})
    sent = pd.DataFrame({"customer_id": ["a", "b", "c", "e", "z"],
                         "segment_id": ["s1", "s1", "s2", None, "s9"],
                         "buy_90d": [0.12, 0.50, 0.31, 0.40, 0.0]})
    d, s = spark.createDataFrame(desired), spark.createDataFrame(sent)
    got = collect_changes(d, s, "customer_id", ["segment_id", "buy_90d"]).sort_values("customer_id")
    # b: segment moved; c: score moved; d: never sent; a and e (null == null) unchanged; z is not desired
    assert list(got["customer_id"]) == ["b", "c", "d"]
    assert list(got.columns) == ["customer_id", "segment_id", "buy_90d"]
    # the same desired state against itself: nothing to send, nothing collected
    assert changed_rows(d, d, "customer_id", ["segment_id", "buy_90d"]).count() == 0
    with pytest.raises(ValueError, match=r"ledger lacks column\(s\) \['arm'\]"):
        changed_rows(d.withColumn("arm", d["segment_id"]), s, "customer_id", ["arm"])
