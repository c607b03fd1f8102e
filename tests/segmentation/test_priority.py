from __future__ import annotations

import pandas as pd
import pytest

from segmentation.priority import priority_matrix


def _profiles(**extra) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "segment_id": ["seg-0001", "seg-0002", "seg-0003", "seg-0004"],
            "segment_name": [
                "High-Value Loyalists",
                "Dormant",
                "New Customers",
                "At-Risk Big Spenders",
            ],
            "size": [100, 1000, 400, 20],
            "mean_monetary_total": [500.0, 10.0, 20.0, 300.0],
            **extra,
        }
    )


def test_value_cost_quadrant_and_action():
    out = priority_matrix(_profiles(), {"email": 0.01, "sms": 0.04}).set_index("segment_id")
    assert out.loc["seg-0001", "value"] == 100 * 500.0
    assert out.loc["seg-0002", "cost"] == pytest.approx(1000 * 0.05)
    assert out.loc["seg-0002", "cost_sms"] == pytest.approx(40.0)
    assert out.loc["seg-0001", "quadrant"] == "invest"
    assert out.loc["seg-0004", "quadrant"] == "nurture"  # small, valuable per head
    assert out.loc["seg-0002", "quadrant"] == "harvest"  # large, modest per head
    assert out.loc["seg-0003", "quadrant"] == "deprioritise"
    assert out.loc["seg-0004", "action"].endswith("(win-back offer)")
    assert out.loc["seg-0001", "action"].startswith("prioritise")
    assert out.index.tolist() == ["seg-0001", "seg-0002", "seg-0003", "seg-0004"]  # by value


def test_clv_replaces_historical_spend_when_present():
    out = priority_matrix(_profiles(mean_clv=[50.0, None, 5.0, 1.0]), {"email": 0.01})
    values = out.set_index("segment_id")["expected_value"].to_dict()
    assert values == {"seg-0001": 50.0, "seg-0002": 10.0, "seg-0003": 5.0, "seg-0004": 1.0}


def test_free_channels_and_bad_costs():
    out = priority_matrix(_profiles(), {})
    assert (out["cost"] == 0).all()
    with pytest.raises(ValueError, match="sms"):
        priority_matrix(_profiles(), {"sms": -1.0})
    with pytest.raises(ValueError, match="size"):
        priority_matrix(_profiles().drop(columns="size"), {"email": 0.01})
