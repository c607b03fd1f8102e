from __future__ import annotations

import json

import numpy as np
import pandas as pd

from segmentation.stability import SegmentRegistry, align, centroid_cost, match, overlap_cost

SCALE = pd.Series({"recency_days": 1.0, "monetary_total": 1.0})


def _clusters(rows: dict) -> pd.DataFrame:
    """{key: (name, size, recency median, monetary median)}"""
    return pd.DataFrame(
        [(n, s, r, m) for n, s, r, m in rows.values()],
        index=list(rows),
        columns=["name", "size", "recency_days", "monetary_total"],
    )


def test_overlap_cost_is_one_minus_jaccard():
    prev = pd.Series(["A", "A", "B", "B"], index=list("wxyz"))
    cur = pd.Series([0, 0, 0, 1], index=list("wxyz"))
    cost = overlap_cost(prev, cur, ["A", "B"], [0, 1])
    np.testing.assert_allclose(cost, [[1 - 2 / 3, 1.0], [1 - 1 / 4, 1 - 1 / 2]])


def test_match_is_hungarian_and_gated():
    cost = np.array([[0.1, 0.2], [0.15, 0.9]])
    # Greedy would take (0,0) then (1,1) at 0.9; the optimum is 0.2 + 0.15.
    assert match(cost, gate=0.5) == {1: 0, 0: 1}
    assert match(np.array([[0.8]]), gate=0.5) == {}
    assert match(np.empty((0, 2)), gate=0.5) == {}


def test_centroid_cost_is_rms_per_feature():
    cost = centroid_cost(np.array([[0.0, 0.0]]), np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(cost, [[np.sqrt(12.5), 0.0]])


def test_first_alignment_numbers_by_size_then_members_keep_ids():
    registry = SegmentRegistry()
    members = pd.Series([0, 1, 1, 2, 2, 2], index=list("abcdef"))
    clusters = _clusters(
        {0: ("Dormant", 1, 300.0, 5.0), 1: ("Loyal", 2, 5.0, 50.0), 2: ("New", 3, 2.0, 9.0)}
    )
    ids, method = align(registry, clusters, members, None, SCALE, "2024-01-01")
    assert (ids, method) == ({2: "seg-0001", 1: "seg-0002", 0: "seg-0003"}, "none")
    previous = members.map(ids)
    # Same customers, clusters renumbered by the algorithm: ids follow the members.
    renumbered = pd.Series([5, 7, 7, 6, 6, 6], index=list("abcdef"))
    clusters2 = _clusters({5: ("x", 1, 300.0, 5.0), 6: ("y", 3, 2.0, 9.0), 7: ("z", 2, 5.0, 50.0)})
    ids2, method2 = align(registry, clusters2, renumbered, previous, SCALE, "2024-02-01")
    assert (ids2, method2) == ({5: "seg-0003", 6: "seg-0001", 7: "seg-0002"}, "members")
    assert registry.entries["seg-0001"].name == "New"  # matched segments keep their names
    assert registry.next_number == 4


def test_vanished_segments_retire_and_ids_are_never_reused():
    registry = SegmentRegistry()
    members = pd.Series([0, 0, 1, 1], index=list("abcd"))
    clusters = _clusters({0: ("A", 2, 1.0, 1.0), 1: ("B", 2, 50.0, 50.0)})
    ids, _ = align(registry, clusters, members, None, SCALE, "t1")
    previous = members.map(ids)
    # b and d now form a new cluster with a and c: the "B" segment disappears.
    members2 = pd.Series([0, 0, 0, 0, 1, 1], index=list("abcdxy"))
    clusters2 = _clusters({0: ("A", 4, 1.0, 1.0), 1: ("A", 2, 9.0, 9.0)})
    ids2, _ = align(registry, clusters2, members2, previous, SCALE, "t2")
    assert ids2[0] == "seg-0001"
    assert ids2[1] == "seg-0003"  # new id, never seg-0002 again
    assert registry.entries["seg-0003"].name == "A 2"  # no clash with a kept name
    assert registry.entries["seg-0002"].status == "retired"
    assert registry.entries["seg-0002"].retired_at == "t2"


def test_centroid_matching_when_customers_are_new():
    registry = SegmentRegistry()
    clusters = _clusters({0: ("A", 2, 10.0, 100.0), 1: ("B", 2, 300.0, 5.0)})
    ids, _ = align(
        registry, clusters, pd.Series([0, 0, 1, 1], index=list("abcd")), None, SCALE, "t1"
    )
    previous = pd.Series(["seg-0001"] * 2 + ["seg-0002"] * 2, index=list("abcd"))
    fresh = pd.Series([0, 0, 1, 1, 2], index=list("vwxyz"))  # nobody seen before
    clusters2 = _clusters(
        {0: ("B'", 2, 290.0, 5.5), 1: ("A'", 2, 11.0, 95.0), 2: ("C", 1, 5000.0, 9000.0)}
    )
    ids2, method = align(registry, clusters2, fresh, previous, SCALE, "t2")
    assert method == "centroids"
    assert ids2 == {0: "seg-0002", 1: "seg-0001", 2: "seg-0003"}


def test_registry_round_trips_through_json():
    registry = SegmentRegistry()
    clusters = _clusters({0: ("A", 2, 10.0, 100.0)})
    align(registry, clusters, pd.Series([0, 0], index=list("ab")), None, SCALE, "t1")
    registry.retire("seg-0001", "t2")
    data = json.loads(json.dumps(registry.to_dict()))
    again = SegmentRegistry.from_dict(data)
    assert again == registry
    assert again.issue("B", "t3", 1, {}) == "seg-0002"
