"""The desired state's diff on Spark: only changed, never-sent or departed rows reach the driver."""

from __future__ import annotations

import pandas as pd
import pytest

pytest.importorskip("pyspark")


def test_only_changed_rows_and_departed_members_come_back(spark):
    from connector.engine.spark.changes import destination_changes
    from connector.engine.spark.desired import DestinationKeys

    keys = DestinationKeys("crm", ("segment_id",), "crm_id", None)
    desired = pd.DataFrame({
        "customer_id": ["a", "b", "c", "d", "e", "f"], "crm_id": ["1", "2", "3", "4", None, "6"],
        "_order": [5, 4, 3, 2, 1, 0],
        "_values_crm": ['{"segment_id": "s1"}', '{"segment_id": "s2"}', '{"segment_id": "s2"}',
                        '{"segment_id": "s3"}', None, None],
        "_lists_crm": ["L1", "L2", "L1\nL2", None, None, None]})
    sent = pd.DataFrame({"record_key": ["a", "b", "c", "f", "z"],
                         "fields": ['{"segment_id": "s1"}', '{"segment_id": "s1"}', '{"segment_id": "s2"}', None,
                                    '{"segment_id": "s9"}']})
    lists = pd.DataFrame({"record_key": ["a", "b", "c", "z"], "list_name": ["L1", "L2", "L1", "L9"]})
    found = destination_changes(spark.createDataFrame(desired), spark.createDataFrame(sent),
                                spark.createDataFrame(lists), keys, with_id=5)
    # b: value moved; c: joined a list; d: never sent; a and f (null == null) unchanged; e has no
    # record id there; z left every list: departed, not a row. In the desired state's order.
    assert list(found.rows["customer_id"]) == ["d", "c", "b"]
    assert list(found.rows.columns) == list(desired.columns)
    assert found.departed == ["z"]
    assert found.unchanged == 2
    same = destination_changes(spark.createDataFrame(desired[:3]), spark.createDataFrame(sent[:3].assign(
        fields=desired["_values_crm"][:3].to_numpy())), spark.createDataFrame(pd.DataFrame(
            {"record_key": ["a", "b", "c", "c"], "list_name": ["L1", "L2", "L2", "L1"]})), keys, with_id=3)
    assert same.rows.empty and same.departed == [] and same.unchanged == 3
