"""The engine on real data: CDNOW, 23,570 customers (tests/data/CDNOW_master.txt)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from connector.sandbox.cdnow import cdnow_transactions
from segmentation.engine import SegmentationParams, segment
from segmentation.features import build_features, clean_transactions

DATA = Path(__file__).resolve().parents[1] / "data" / "CDNOW_master.txt"
END = pd.Timestamp("1998-06-30", tz="UTC")
PARAMS = SegmentationParams(k_min=4, k_max=8, sample_size=8000)


@pytest.fixture(scope="module")
def cdnow_features() -> pd.DataFrame:
    clean, rejected = clean_transactions(cdnow_transactions(DATA))
    assert rejected.empty  # the 80 $0 rows are valid purchases, not rejects
    return build_features(None, clean, END)


def test_cdnow_segments_every_customer_with_readable_profiles(cdnow_features):
    assert len(cdnow_features) == 23_570
    assert cdnow_features["frequency"].sum() == 69_659
    result = segment(cdnow_features, PARAMS, None, END)
    assert len(result.segments) == 23_570 and result.segments["segment_id"].notna().all()
    profiles = result.profiles.set_index("segment_name")
    assert profiles["size"].sum() == 23_570 and profiles.index.is_unique
    assert 4 <= result.metrics["k"] <= 8
    # The segment holding most revenue is the recent, frequent one, named as such.
    top = profiles["revenue_share"].idxmax()
    assert "High-Value" in top
    assert profiles.loc[top, "median_frequency"] >= 4
    assert profiles.loc[top, "median_recency_days"] < cdnow_features["recency_days"].median()
    again = segment(cdnow_features, PARAMS, None, END)
    pd.testing.assert_frame_equal(again.segments, result.segments)


def test_cdnow_five_percent_perturbed_keeps_ids(cdnow_features):
    first = segment(cdnow_features, PARAMS, None, END)
    rng = np.random.default_rng(11)
    moved = cdnow_features.copy()
    rows = rng.choice(len(moved), size=len(moved) // 20, replace=False)
    moved.iloc[rows] = cdnow_features.iloc[rng.permutation(rows)].to_numpy()
    second = segment(
        moved, replace(PARAMS, retrain_every_days=1), first.state, END + pd.Timedelta(days=1)
    )
    assert second.retrained and second.drift["match_method"] == "members"
    # CDNOW has weak cluster structure (silhouettes of k = 4..8 within 0.01 of each other):
    # the warm start and the preference for the previous k keep every segment.
    assert set(second.segments["segment_id"]) == set(first.segments["segment_id"])
    assert second.drift["ari"] > 0.85
    migration = second.drift["migration"]
    assert (np.diag(migration.loc[migration.index, migration.index]) > 0.9).all()
