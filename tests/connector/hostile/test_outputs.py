"""Issue 14, items 1, 8 and 9: no output over an input, no formula in a CSV cell, no temp file left.

Each case runs the real CLI on a small shop (see shop.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from connector.config import Config
from connector.config.paths import refuse_overwrite
from connector.crm.errors import ConfigurationError
from connector.crm.files import neutralise_formulas
from tests.connector.hostile.shop import config, run, transactions, write_shop


@pytest.mark.parametrize("target", ["data/tx.csv", "segsync.yaml", "state.sqlite", "state.sqlite-wal", "link-to-tx.csv"])
def test_an_output_over_an_input_the_config_or_the_state_is_refused(tmp_path: Path, target: str, capsys) -> None:
    cfg = write_shop(tmp_path, destinations={"files": {"path": target}})
    (tmp_path / "link-to-tx.csv").symlink_to(tmp_path / "data" / "tx.csv")
    before = {p: p.read_bytes() for p in (tmp_path / "data" / "tx.csv", cfg)}
    assert run("validate", str(cfg)) == 2
    err = capsys.readouterr().err
    assert "destinations.files.path:" in err and "segsync never writes over its own inputs" in err
    assert run("run", str(cfg)) == 2
    assert {p: p.read_bytes() for p in before} == before  # nothing replaced
    assert not (tmp_path / "state.sqlite").exists()


def test_a_hard_link_to_the_input_is_the_same_file(tmp_path: Path, capsys) -> None:
    cfg = write_shop(tmp_path, destinations={"files": {"path": "hard.csv"}})
    os.link(tmp_path / "data" / "tx.csv", tmp_path / "hard.csv")
    assert run("validate", str(cfg)) == 2
    assert "is the same file as sources.files.transactions" in capsys.readouterr().err


def test_state_over_the_input_is_refused(tmp_path: Path, capsys) -> None:
    cfg = write_shop(tmp_path, state={"path": "data/tx.csv"})
    assert run("run", str(cfg)) == 2
    assert "state.path:" in capsys.readouterr().err
    assert (tmp_path / "data" / "tx.csv").read_text().startswith("CustomerID,date,amount")


def test_the_push_checks_again_for_a_config_built_in_code(tmp_path: Path) -> None:
    data = config(sources={"files": {"transactions": str(tmp_path / "tx.csv")}})
    cfg = Config.model_validate(data).model_copy(update={"base_dir": tmp_path})
    with pytest.raises(ConfigurationError, match="same file as sources.files.transactions"):
        refuse_overwrite(cfg, tmp_path / "tx.csv", "destinations.files.path")


def test_cells_that_start_a_formula_are_neutralised(tmp_path: Path) -> None:
    rows = transactions()
    evil = ["=HYPERLINK(\"http://x\",\"y\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1"]
    for i, cid in enumerate(evil):
        rows.loc[rows["CustomerID"] == f"C{i:04d}", "CustomerID"] = cid
    cfg = write_shop(tmp_path, rows)
    assert run("run", str(cfg)) == 0
    out = pd.read_csv(tmp_path / "out" / "segments.csv", dtype=str, keep_default_na=False)
    ids = set(out["customer_id"])
    for cid in evil:  # the reader strips ids, so a leading tab or CR goes before the check
        assert cid.strip() not in ids
        assert "'" + cid.strip() in ids
    for col in out.columns:
        assert not out[col].str.startswith(("=", "+", "@", "\t", "\r")).any(), col
    assert pd.to_numeric(out["clv"]).notna().all()  # numbers stay numbers


def test_neutralise_formulas_follows_owasp_and_leaves_numbers_alone() -> None:
    table = pd.DataFrame({"customer_id": ["\t=1", "\r@x", "ok", "-5"], "clv": [-1.0, 2.0, 3.0, 4.0], "arm": [None, "+a", "b", "c"]})
    out = neutralise_formulas(table)
    assert out["customer_id"].tolist() == ["'\t=1", "'\r@x", "ok", "'-5"]
    assert out["arm"].isna().iloc[0] and out["arm"].iloc[1:].tolist() == ["'+a", "b", "c"]
    assert out["clv"].tolist() == [-1.0, 2.0, 3.0, 4.0]


def test_stale_temp_files_are_removed_and_a_header_only_file_says_nothing_was_segmented(tmp_path: Path, capsys) -> None:
    cfg = write_shop(tmp_path)
    assert run("run", str(cfg)) == 0
    out = tmp_path / "out" / "segments.csv"
    good = out.read_bytes()
    stale = tmp_path / "out" / ".segsync-abc123.csv"  # what a kill -9 during os.replace leaves
    stale.write_text("half a file")
    assert run("run", str(cfg)) == 0
    assert not stale.exists()
    assert sorted(p.name for p in out.parent.iterdir()) == ["segments.csv"]

    (tmp_path / "data" / "tx.csv").write_text("CustomerID,date,amount\n")
    capsys.readouterr()
    assert run("run", str(cfg)) == 0
    captured = capsys.readouterr()
    assert "nothing was segmented" in captured.out
    assert "nothing was segmented: no usable purchases (0 read, 0 quarantined)" in captured.err
    assert out.read_bytes() == good
