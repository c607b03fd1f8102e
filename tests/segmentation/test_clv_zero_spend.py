"""clv_scores on real data with free purchases ($0 rows, as in CDNOW) scores everyone."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from connector.sandbox.cdnow import cdnow_transactions
from segmentation.clv import clv_scores, summary_from_transactions

CDNOW = Path(__file__).resolve().parents[1] / "data" / "CDNOW_master.txt"


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return cdnow_transactions(CDNOW)


def test_free_repeat_purchases_do_not_break_the_spend_model(cdnow: pd.DataFrame) -> None:
    assert (cdnow["amount"] == 0).sum() == 80  # CDNOW's free purchases
    summary = summary_from_transactions(cdnow, pd.Timestamp("1998-07-01", tz="UTC"), freq="D")
    # repeat buyers whose repeat purchases were all free: Gamma-Gamma cannot take them (used to raise)
    assert ((summary["frequency"] > 0) & (summary["monetary_value"] == 0)).sum() > 0
    scores = clv_scores(cdnow, pd.Timestamp("1998-07-01", tz="UTC"), 365, 0.1).set_index("customer_id")
    assert len(scores) == 23_570
    assert scores[["clv", "p_alive", "expected_purchases"]].notna().all().all()
    assert (scores["clv"] >= 0).all() and scores["p_alive"].between(0, 1).all()
