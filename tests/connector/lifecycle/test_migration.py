"""A state file from before the versioned model format opens with today's code: its pickled
models are read through the allowlisting unpickler and re-saved in the envelope, with a log
line each; nothing crashes and the run reuses what it can."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pandas as pd

from connector.cli import main as cli_main
from connector.state import StateStore
from connector.state.serialization import read_header

FIXTURE = Path(__file__).resolve().parents[2] / "data" / "state_pickled_main"


def test_a_state_file_with_pickled_models_is_migrated(tmp_path: Path, caplog) -> None:
    for name in ("segsync.yaml", "transactions.csv", "state.sqlite"):
        shutil.copy(FIXTURE / name, tmp_path / name)
    with StateStore(tmp_path / "state.sqlite") as store:
        before = {(r["kind"], r["name"]): bytes(r["data"][:2]) for r in store.query("SELECT kind, name, data FROM models")}
    assert set(before.values()) == {b"\x80\x05"}  # bare pickles
    caplog.set_level(logging.INFO)
    assert cli_main(["run", str(tmp_path / "segsync.yaml")]) == 0
    for kind, name in (("segmentation", "default"), ("score", "buy_90d")):
        assert f"migrated stored {kind} model {name!r} version 1 to the versioned format" in caplog.text
    assert "reused" in caplog.text or "champion" in caplog.text
    with StateStore(tmp_path / "state.sqlite") as store:
        rows = store.query("SELECT kind, name, version, data FROM models WHERE kind IN ('segmentation', 'score')")
        assert len(rows) >= 2 and all(read_header(r["data"]) is not None for r in rows)
        old_insights = store.models.get("artifact", "insights", 1)  # read on demand, migrated then
        assert old_insights is not None and read_header(store.query(
            "SELECT data FROM models WHERE kind = 'artifact' AND version = 1")[0]["data"]) is not None
    out = pd.read_csv(tmp_path / "out.csv")
    assert out["buy_90d"].between(0, 1).all() and out["segment_id"].notna().all()
