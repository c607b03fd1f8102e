"""The files source and sink through the CLI: "segment an e-commerce CSV" without a CRM.

A CSV of transactions (CustomerID, amount, date, country) with a few bad rows goes through
`segsync run --dry-run` (writes nothing), `segsync run` (one row per customer in the
segments CSV: segment id and name, score, arm) and `segsync status` (the bad rows with
their reasons); a second run gives the same file and moves no arm.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from connector.cli import main as cli_main
from connector.sandbox.population import PopulationGenerator
from connector.sandbox.scenario import load_scenario
from connector.state import StateStore

CONFIG = """\
version: 1
state:
  path: state.sqlite
sources:
  files:
    transactions: data/transactions.csv
    attribute_columns: [country]
destinations:
  files:
    path: out/segments.csv
segmentation:
  method: kmeans
  k: 3
  sample_size: 1000
scoring:
  targets:
    - {name: buy_90d, kind: propensity, horizon_days: 90}
  models: [logistic]
experiments:
  holdout: {share: 0.1}
  items:
    - key: welcome
      arms:
        - {name: control, weight: 0.5, control: true}
        - {name: offer, weight: 0.5}
"""

# (CustomerID, amount, date, country, the reason segsync must give); None = taken from a real customer
BAD_ROWS = [
    (None, "-10.00", "2026-01-10", "US", "amount is negative (-10.0)"),
    (None, "12,50 EUR", "2026-01-11", "US", "amount is not a number ('12,50 EUR')"),
    (None, "20.00", "2026-13-45", "GB", "occurred_at is not a date ('2026-13-45')"),
    (None, "20.00", "yesterday", "GB", "occurred_at is not a date ('yesterday')"),
    ("", "15.00", "2026-01-12", "DE", "missing customer_id"),
]


@pytest.fixture
def shop(tmp_path: Path) -> tuple[Path, pd.DataFrame, dict[str, str]]:
    """(config path, the valid transactions, transaction id -> expected reason)."""
    pop = PopulationGenerator(load_scenario("default"), 600, history_days=540, end=pd.Timestamp("2026-03-01", tz="UTC"),
                              random_state=4).generate()
    country = pop.customers.set_index("customer_id")["country"].astype(str)
    tx = pop.transactions
    good = pd.DataFrame({
        "CustomerID": tx["customer_id"].astype(str),
        "amount": tx["amount"].map(lambda a: f"{a:.2f}"),
        "date": tx["occurred_at"].dt.strftime("%Y-%m-%d"),
        "country": tx["customer_id"].map(country),
    })
    owners = good["CustomerID"].drop_duplicates().iloc[:len(BAD_ROWS)].tolist()
    bad = pd.DataFrame(
        [(owner if cid is None else cid, amount, date, ctry) for (cid, amount, date, ctry, _), owner in zip(BAD_ROWS, owners, strict=True)],
        columns=good.columns,
    )
    rows = pd.concat([good, bad], ignore_index=True)
    (tmp_path / "data").mkdir()
    rows.to_csv(tmp_path / "data" / "transactions.csv", index=False)
    # the files source names rows by line number: header is line 1
    reasons = {f"row-{len(good) + i + 2}": r[-1] for i, r in enumerate(BAD_ROWS)}
    cfg = tmp_path / "segsync.yaml"
    cfg.write_text(CONFIG, encoding="utf-8")
    return cfg, good, reasons


def test_csv_in_segments_csv_out(shop: tuple[Path, pd.DataFrame, dict[str, str]], capsys: pytest.CaptureFixture[str]) -> None:
    cfg, good, reasons = shop
    out_csv = cfg.parent / "out" / "segments.csv"

    # a dry run computes the plan and writes nothing
    assert cli_main(["run", str(cfg), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert not out_csv.exists()
    assert f"files ({Path('out/segments.csv')}):" in printed
    assert f"updates        {good['CustomerID'].nunique()}" in printed
    assert "experiment welcome segment seg-0001" in printed

    assert cli_main(["run", str(cfg)]) == 0
    segments = pd.read_csv(out_csv, dtype={"customer_id": str})
    # one row per customer with at least one valid purchase, and nobody else
    assert segments["customer_id"].is_unique
    assert set(segments["customer_id"]) == set(good["CustomerID"])
    assert {"segment_id", "segment_name", "buy_90d", "buy_90d_reasons", "clv", "p_alive", "arm"} <= set(segments.columns)
    assert segments["buy_90d_reasons"].str.len().gt(0).all()
    assert segments["segment_id"].nunique() == 3
    assert (segments.groupby("segment_id")["segment_name"].nunique() == 1).all()
    assert segments["segment_name"].notna().all()
    assert segments["buy_90d"].between(0, 1).all()
    assert set(segments["arm"]) == {"control", "offer", "holdout"}
    assert 0.05 < (segments["arm"] == "holdout").mean() < 0.15
    # the arms in the file are the stored, sticky ones
    with StateStore(cfg.parent / "state.sqlite") as store:
        arms = store.experiments.arms("welcome").set_index("customer_id")["arm"]
        rejected = store.rejected.open()
    assert segments.set_index("customer_id")["arm"].sort_index().equals(arms.sort_index().rename("arm"))
    # every bad row quarantined with its reason, no good row rejected
    assert dict(zip(rejected["record_key"], rejected["reason"], strict=True)) == reasons
    assert set(rejected["source"]) == {"files"}

    capsys.readouterr()
    assert cli_main(["status", str(cfg)]) == 0
    status = capsys.readouterr().out
    assert f"open rejected rows: {len(reasons)}" in status
    for key, reason in reasons.items():
        assert f"features/files {key}: {reason}" in status

    # a second run on the same file: the same segments, scores and arms
    before, stamp = out_csv.read_bytes(), out_csv.stat()
    assert cli_main(["run", str(cfg)]) == 0
    again = pd.read_csv(out_csv, dtype={"customer_id": str})
    pd.testing.assert_frame_equal(again, segments)
    assert out_csv.read_bytes() == before
    # nothing changed, so nothing was written: the file is untouched and the stored model was reused
    assert (out_csv.stat().st_ino, out_csv.stat().st_mtime_ns) == (stamp.st_ino, stamp.st_mtime_ns)
    with StateStore(cfg.parent / "state.sqlite") as store:
        [last] = store.runs.last(1)
        [latest] = store.query("SELECT meta FROM models WHERE kind = 'segmentation' ORDER BY version DESC LIMIT 1")
    assert "files_rows_written" not in last.counts and '"reason": "reused model' in latest["meta"]
