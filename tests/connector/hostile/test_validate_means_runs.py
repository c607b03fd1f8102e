"""Issue 14, "runs that hang or crash on values validate accepted": bounded settings,
cross-field checks, tiny data, customers with only quarantined rows, exact duplicates."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.connector.hostile.shop import config, run, write_config, write_shop


def _seg(**kw):
    return {"segmentation": {"method": "kmeans", "sample_size": 100, **kw}}


def _exp(**kw):
    arms = [{"name": "control", "weight": 0.5, "control": True}, {"name": "offer", "weight": 0.5}]
    return {"experiments": {"items": [{"key": "exp1", "arms": arms, **kw}]}}


INVALID = [
    ("k_max huge (hang)", _seg(k="auto", k_max=10**20), "segmentation.k_max: input should be less than or equal to 50"),
    ("clv horizon huge (hang)", {"scoring": {"clv": {"horizon_days": 10**9}}},
     "scoring.clv.horizon_days: input should be less than or equal to 3650"),
    ("k_min > k_max", _seg(k="auto", k_min=6, k_max=3), "segmentation: k_min (6) is larger than k_max (3)"),
    ("unknown feature", _seg(features=["recency_days", "age"]), "segmentation: unknown feature(s) age; known: recency_days"),
    ("empty features", _seg(features=[]), "segmentation: features is empty: name at least one of recency_days"),
    ("negative channel cost", _seg(channel_costs={"email": -1}),
     "segmentation.channel_costs.email: input should be greater than or equal to 0"),
    ("non-ISO start", _exp(start="next monday"), "experiments.items[0]: start must be an ISO date (got 'next monday')"),
    ("end before start", _exp(start="2026-05-01", end="2026-04-01"), "experiments.items[0]: end 2026-04-01 is before start 2026-05-01"),
    ("random_state >= 2**32", _seg(random_state=2**32), "segmentation.random_state: input should be less than or equal to 4294967295"),
    ("scoring random_state < 0", {"scoring": {"random_state": -1}}, "scoring.random_state: input should be greater than or equal to 0"),
    ("cuped days huge", _exp(cuped_days=10**9), "experiments.items[0].cuped_days: input should be less than or equal to 730"),
    ("retrain every huge", {"scoring": {"retrain_every_days": 10**9}}, "scoring.retrain_every_days: input should be less than or equal to 3650"),
]


@pytest.mark.parametrize(("case", "sections", "message"), INVALID, ids=[c[0] for c in INVALID])
def test_validate_refuses_what_run_would_crash_or_hang_on(tmp_path: Path, case, sections, message, capsys) -> None:
    data = config()
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    (tmp_path / "data").mkdir()
    cfg = write_config(tmp_path, data)
    assert run("validate", str(cfg)) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err


def test_an_experiment_naming_a_missing_segment_says_so(tmp_path: Path, capsys) -> None:
    cfg = write_shop(tmp_path, **_exp(segments=["Whales that do not exist"]))
    assert run("run", str(cfg)) == 0
    err = capsys.readouterr().err
    assert "experiment exp1: segment(s) Whales that do not exist do not exist in this run, nobody there is assigned" in err


@pytest.mark.parametrize("rows", [
    [("A", "2026-01-01", "10"), ("B", "2026-01-05", "20")],  # two customers
    [(f"C{i}", "2026-01-01", "10") for i in range(10)],  # ten identical customers
], ids=["two customers", "ten identical"])
def test_tiny_data_falls_back_to_rfm_with_a_message(tmp_path: Path, rows, capsys) -> None:
    frame = pd.DataFrame(rows, columns=["CustomerID", "date", "amount"])
    cfg = write_shop(tmp_path, frame, segmentation={"method": "kmeans", "k": "auto", "sample_size": 100})
    assert run("run", str(cfg)) == 0
    err = capsys.readouterr().err
    assert "too few for kmeans with k >= 2; fell back to RFM segments" in err
    out = pd.read_csv(tmp_path / "out" / "segments.csv", dtype={"customer_id": str})
    assert sorted(out["customer_id"]) == sorted({r[0] for r in rows})
    assert out["segment_name"].notna().all()


def test_customers_with_only_quarantined_rows_are_not_segmented(tmp_path: Path, capsys) -> None:
    from tests.connector.hostile.shop import transactions

    bad = pd.DataFrame({"CustomerID": ["ZZ1", "ZZ1", "ZZ2"], "date": ["yesterday", "2026-01-01", "2026-01-02"],
                        "amount": ["5", "-3", "abc"]})
    cfg = write_shop(tmp_path, pd.concat([transactions(), bad], ignore_index=True))
    assert run("run", str(cfg)) == 0
    assert "2 customer(s) whose every purchase was quarantined are left out" in capsys.readouterr().err
    out = pd.read_csv(tmp_path / "out" / "segments.csv", dtype={"customer_id": str})
    assert not {"ZZ1", "ZZ2"} & set(out["customer_id"])


def test_exact_duplicate_rows_without_a_transaction_id_are_counted_and_warned(tmp_path: Path, capsys) -> None:
    from tests.connector.hostile.shop import transactions

    rows = transactions()
    cfg = write_shop(tmp_path, pd.concat([rows, rows.iloc[:7]], ignore_index=True))
    assert run("run", str(cfg)) == 0
    assert "7 row(s) repeat an earlier row exactly (customer, date, amount)" in capsys.readouterr().err
