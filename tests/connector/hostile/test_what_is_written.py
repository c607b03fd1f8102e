"""Issue 14, items 2-7: what reaches a CRM comes from the configured experiments and the current
model definitions, one process per state file, and outlier rows cannot steer a run."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest

from connector.crm.errors import LockedError
from connector.state import StateLock, StateStore
from segmentation.features import Plausible, clean_transactions
from tests.connector.hostile.shop import config, run, transactions, write_config, write_shop

#: the score step's line when it scores with the stored champion instead of retraining
REUSED = re.compile(r"score buy_90d: champion \S+ \(version \d+, \d+ day\(s\) old\)")
EXP2 = {"key": "exp2", "arms": [{"name": "a", "weight": 0.5, "control": True}, {"name": "b", "weight": 0.5}]}


def _segments(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "out" / "segments.csv", dtype={"customer_id": str})


def test_a_retired_experiments_arm_is_never_written(tmp_path: Path) -> None:
    cfg = write_shop(tmp_path)
    assert run("run", str(cfg)) == 0
    assert set(_segments(tmp_path)["arm"]) == {"control", "offer"}
    write_config(tmp_path, config(experiments={"items": [EXP2]}))
    assert run("run", str(cfg)) == 0
    out = _segments(tmp_path).set_index("customer_id")["arm"].sort_index()
    with StateStore(tmp_path / "state.sqlite") as store:
        exp2 = store.experiments.arms("exp2").set_index("customer_id")["arm"].sort_index()
        kept = store.experiments.arms("exp1")
    assert set(out) == {"a", "b"}
    assert out.equals(exp2.rename("arm"))
    assert len(kept) == len(out)  # exp1's arms stay in the state (history; sticky if it returns)


def _score_metas(folder: Path) -> list[dict]:
    with StateStore(folder / "state.sqlite") as store:
        return [m for _, _, m in store.models.metas("score", "buy_90d")]


@pytest.mark.parametrize("change", [{"horizon_days": 60}, {"kind": "churn"}, "models"])
def test_a_changed_target_retrains_instead_of_reusing(tmp_path: Path, change, capsys) -> None:
    cfg = write_shop(tmp_path)
    assert run("run", str(cfg)) == 0
    data = config()
    if change == "models":
        data["scoring"]["models"] = ["gbm"]
    else:
        data["scoring"]["targets"][0].update(change)
    write_config(tmp_path, data)
    capsys.readouterr()
    assert run("run", str(cfg)) == 0
    err = capsys.readouterr().err
    assert not REUSED.search(err)
    assert "score buy_90d: its definition changed since model" in err
    first, second = _score_metas(tmp_path)
    assert first["definition"] != second["definition"]


def test_an_unchanged_target_is_reused_until_it_is_old_on_the_wall_clock(tmp_path: Path, capsys) -> None:
    cfg = write_shop(tmp_path)
    assert run("run", str(cfg)) == 0
    capsys.readouterr()
    assert run("run", str(cfg)) == 0
    assert REUSED.search(capsys.readouterr().err)
    assert len(_score_metas(tmp_path)) == 1
    # the same file 8 days later (retrain_every_days is 7): data days did not move, the wall clock did
    with StateStore(tmp_path / "state.sqlite") as store, store.transaction() as c:
        meta = json.loads(c.execute("SELECT meta FROM models WHERE kind = 'score'").fetchone()[0])
        meta["trained_at"] = (pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=8)).isoformat()
        c.execute("UPDATE models SET meta = ? WHERE kind = 'score'", (json.dumps(meta),))
    assert run("run", str(cfg)) == 0
    assert not REUSED.search(capsys.readouterr().err)
    assert len(_score_metas(tmp_path)) == 2


@pytest.mark.parametrize("change", ["weights", "arm", "holdout"])
def test_changed_arms_weights_or_holdout_are_warned_at_validate_and_plan(tmp_path: Path, change, capsys) -> None:
    cfg = write_shop(tmp_path)
    assert run("run", str(cfg)) == 0
    data = config()
    exp = data["experiments"]["items"][0]
    if change == "weights":
        exp["arms"][0]["weight"], exp["arms"][1]["weight"] = 0.2, 0.8
    elif change == "arm":
        exp["arms"] = [*exp["arms"][:1], {"name": "offer", "weight": 0.25}, {"name": "new", "weight": 0.25}]
    else:
        data["experiments"]["holdout"] = {"share": 0.2}
    write_config(tmp_path, data)
    for command in ("validate", "plan"):
        capsys.readouterr()
        assert run(command, str(cfg)) == 0
        err = capsys.readouterr().err
        what = "holdout" if change == "holdout" else "arms"
        assert f"experiment exp1: {what} changed since its first assignment" in err, command
        assert "keep the experiment as it is" in err and "start a new experiment: give it a new key" in err
    if change == "weights":
        assert "was arms control=0.5 (control), offer=0.5" in err


def test_an_unchanged_experiment_gives_no_warning(tmp_path: Path, capsys) -> None:
    cfg = write_shop(tmp_path)
    assert run("run", str(cfg)) == 0
    capsys.readouterr()
    assert run("validate", str(cfg)) == 0
    assert "changed since its first assignment" not in capsys.readouterr().err


def test_the_lock_is_on_the_real_file_through_a_symlink_or_a_hard_link(tmp_path: Path) -> None:
    real = tmp_path / "state.sqlite"
    StateStore(real).close()
    (tmp_path / "sym.sqlite").symlink_to(real)
    os.link(real, tmp_path / "hard.sqlite")
    with StateLock(real):
        for other in ("sym.sqlite", "hard.sqlite"):
            with pytest.raises(LockedError, match="another segsync process"):
                StateLock(tmp_path / other).acquire()
    with StateLock(tmp_path / "hard.sqlite"):  # released: any name may take it
        with pytest.raises(LockedError):
            StateLock(real).acquire()


def test_a_second_run_through_a_symlinked_config_folder_is_refused(tmp_path: Path, capsys) -> None:
    cfg = write_shop(tmp_path)
    (tmp_path / "alias").symlink_to(tmp_path)
    with StateLock(tmp_path / "state.sqlite"):
        assert run("run", str(tmp_path / "alias" / "segsync.yaml")) == 75
    assert "another segsync process" in capsys.readouterr().err
    with StateStore(tmp_path / "state.sqlite") as store:
        assert store.runs.last(5) == []  # nothing marked "resumed", nothing started
    assert cfg.exists()


def test_plausible_bounds_quarantine_future_early_and_huge_rows() -> None:
    tx = pd.DataFrame({
        "transaction_id": ["t1", "t2", "t3", "t4", "t5"],
        "customer_id": ["a", "a", "b", "b", "c"],
        "occurred_at": ["2026-01-05", "2099-01-01", "9999-12-31", "1899-05-01", "2026-01-06"],
        "amount": ["10", "10", "10", "10", "1e308"],
    })
    bounds = Plausible(max_amount=1e9, latest=pd.Timestamp("2026-12-06", tz="UTC"), earliest=pd.Timestamp("1970-01-01", tz="UTC"))
    clean, rejected = clean_transactions(tx, bounds)
    assert clean["transaction_id"].tolist() == ["t1"]
    assert dict(zip(rejected["transaction_id"], rejected["reason"], strict=True)) == {
        "t2": "occurred_at is in the future (2099-01-01 is after 2026-12-06)",
        "t3": "occurred_at is in the future (9999-12-31 is after 2026-12-06)",
        "t4": "occurred_at is implausibly early (1899-05-01 is before 1970-01-01)",
        "t5": "amount is implausibly large (1e+308 > quarantine.max_amount 1e+09)",
    }


def test_one_future_row_or_huge_amount_does_not_steer_the_run(tmp_path: Path, capsys) -> None:
    rows = transactions()
    outliers = pd.DataFrame({"CustomerID": ["C0001", "C0002", "C0003"], "date": ["2099-01-01", "9999-12-31", "2026-01-01"],
                             "amount": ["10.00", "10.00", "1e308"]})
    cfg = write_shop(tmp_path, pd.concat([rows, outliers], ignore_index=True))
    assert run("run", str(cfg)) == 0
    out = _segments(tmp_path)
    assert "buy_90d" in out.columns and out["buy_90d"].notna().all()
    assert out["clv"].between(0, 1e6).all() and (out["clv"] > 0).any()
    assert not out["buy_90d_reasons"].str.contains(r"e\+|-9223", regex=True).any()
    capsys.readouterr()
    assert run("status", str(cfg)) == 0
    status = capsys.readouterr().out
    n = len(rows)
    assert f"row-{n + 2}: occurred_at is in the future (2099-01-01" in status
    assert f"row-{n + 3}: occurred_at is in the future (9999-12-31" in status
    assert f"row-{n + 4}: amount is implausibly large (1e+308" in status
    with StateStore(tmp_path / "state.sqlite") as store:
        [run_row] = store.runs.last(1)
    assert run_row.status == "succeeded"


def test_the_amount_bound_is_configurable(tmp_path: Path, capsys) -> None:
    cfg = write_shop(tmp_path, quarantine={"max_amount": 50})
    assert run("run", str(cfg)) == 0
    capsys.readouterr()
    assert run("status", str(cfg)) == 0
    assert "amount is implausibly large" in capsys.readouterr().out
