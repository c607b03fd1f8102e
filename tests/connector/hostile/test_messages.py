"""Issue 14, "tracebacks instead of messages": each case is one line naming what is wrong, exit 2
(or 130 for Ctrl-C, 0 for a closed pipe), and never a traceback."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from connector.state import StateStore
from tests.connector.hostile.shop import config, run, write_config, write_shop

needs_non_root = pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")


def _cli(*argv: str, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "connector.cli", *argv], capture_output=True, text=True, timeout=120, **kw)


@pytest.mark.parametrize(("content", "message"), [
    (b"state:\n  path: caf\xe9.sqlite\n", "segsync.yaml:2: not UTF-8 (byte 0xe9); save the file as UTF-8"),
    (b"version: 1\nstate:\n  path: a\x00b\n", "segsync.yaml:3: contains a NUL byte; not a text file"),
], ids=["latin-1", "NUL"])
def test_a_config_that_is_not_utf8_text(tmp_path: Path, content: bytes, message: str, capsys) -> None:
    (tmp_path / "segsync.yaml").write_bytes(content)
    assert run("validate", str(tmp_path / "segsync.yaml")) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_fifo_or_a_device_as_config(tmp_path: Path, capsys) -> None:
    os.mkfifo(tmp_path / "fifo.yaml")
    assert run("validate", str(tmp_path / "fifo.yaml")) == 2
    assert "fifo.yaml: not a regular file" in capsys.readouterr().err
    assert run("validate", "/dev/zero") == 2
    assert "/dev/zero: not a regular file" in capsys.readouterr().err


def _unwritable(folder: Path) -> None:
    folder.mkdir()
    folder.chmod(0o500)


@needs_non_root
def test_a_state_folder_that_cannot_be_written(tmp_path: Path, capsys) -> None:
    _unwritable(tmp_path / "ro")
    cfg = write_shop(tmp_path, state={"path": "ro/state.sqlite"})
    assert run("run", str(cfg)) == 2
    err = capsys.readouterr().err
    assert "state.path: cannot create the lock file" in err and "Permission denied" in err


def test_a_state_folder_that_is_a_file(tmp_path: Path, capsys) -> None:
    """What root meets too: the folder cannot be created."""
    (tmp_path / "notadir").write_text("x")
    cfg = write_shop(tmp_path, state={"path": "notadir/state.sqlite"})
    assert run("run", str(cfg)) == 2
    err = capsys.readouterr().err
    assert "state.path: cannot create the lock file" in err and "the folder must be writable" in err
    assert "Traceback" not in err
    assert run("status", str(cfg)) == 0  # nothing there yet: status says so, no traceback


def test_a_state_folder_that_cannot_be_written_as_a_non_root_user(tmp_path: Path) -> None:
    """The same check where the test runs as root: SQLite's own read-only error is described as one."""
    path = tmp_path / "state.sqlite"
    StateStore(path).close()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        conn.execute("CREATE TABLE x (a)")
    except sqlite3.OperationalError as exc:
        from connector.state.store import describe_state_error

        text = describe_state_error(path, exc)
    finally:
        conn.close()
    assert f"state file {path} cannot be written (attempt to write a readonly database)" in text
    assert "do not move it aside" in text and "is damaged" not in text


def test_report_out_that_is_a_file(tmp_path: Path, capsys) -> None:
    cfg = write_shop(tmp_path)
    assert run("run", str(cfg)) == 0
    (tmp_path / "afile").write_text("x")
    capsys.readouterr()
    assert run("report", str(cfg), "--out", str(tmp_path / "afile")) == 2
    err = capsys.readouterr().err
    assert f"report --out {tmp_path / 'afile'}: cannot write there" in err and "Traceback" not in err


def test_a_state_file_corrupted_mid_file_is_named(tmp_path: Path, capsys) -> None:
    cfg = write_shop(tmp_path)
    assert run("run", str(cfg)) == 0
    state = tmp_path / "state.sqlite"
    with StateStore(state) as store:
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(state.read_bytes())
    page = 4096
    for offset in range(2 * page, len(data), page):  # keep the header and the schema page, damage the rest
        data[offset: offset + 100] = b"\xff" * 100
    state.write_bytes(bytes(data))
    capsys.readouterr()
    code = run("run", str(cfg))
    err = capsys.readouterr().err
    assert code == 2
    assert f"state file {state} is damaged (database disk image is malformed)" in err
    assert "Traceback" not in err


def test_ctrl_c_during_run_is_recorded_and_exits_130(tmp_path: Path, monkeypatch, capsys) -> None:
    cfg = write_shop(tmp_path)
    import connector.steps.model as model_step

    def interrupted(ctx):
        raise KeyboardInterrupt

    monkeypatch.setattr(model_step, "score", interrupted)
    from connector.steps import STEP_FUNCTIONS

    monkeypatch.setitem(STEP_FUNCTIONS, "score", interrupted)
    assert run("run", str(cfg)) == 130
    assert "interrupted (Ctrl-C)" in capsys.readouterr().err
    with StateStore(tmp_path / "state.sqlite") as store:
        [last] = store.runs.last(1)
    assert last.status == "interrupted" and last.error == "interrupted (Ctrl-C)"


def test_status_into_a_closed_pipe(tmp_path: Path) -> None:
    cfg = write_shop(tmp_path)
    assert _cli("run", str(cfg)).returncode == 0
    with StateStore(tmp_path / "state.sqlite") as store, store.transaction() as c:
        c.executemany("INSERT INTO runs (started_at, status, counts) VALUES ('2026-01-01T00:00:00', 'succeeded', ?)",
                      [(f'{{"customers": {i}}}',) for i in range(20_000)])  # far more than a pipe buffer holds
    proc = subprocess.run(f"{sys.executable} -m connector.cli status {cfg} -n 20000 | head -1", shell=True, capture_output=True,
                          text=True, timeout=120)
    assert proc.stdout.startswith("  run")
    assert "BrokenPipeError" not in proc.stderr and "Traceback" not in proc.stderr


def test_an_empty_csv_is_named(tmp_path: Path, capsys) -> None:
    cfg = write_shop(tmp_path)
    (tmp_path / "data" / "tx.csv").write_bytes(b"")
    assert run("run", str(cfg)) == 2
    err = capsys.readouterr().err
    assert f"sources.files.transactions: {tmp_path / 'data' / 'tx.csv'} is empty (not even a header row)" in err
    assert "Traceback" not in err and "EmptyDataError" not in err


def test_input_errors_found_inside_a_cycle_exit_2_with_one_line(tmp_path: Path, capsys) -> None:
    data = config()
    data["sources"]["files"]["amount_column"] = "price"
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "tx.csv").write_text("CustomerID,date,amount\nA,2026-01-01,5\n")
    cfg = write_config(tmp_path, data)
    assert run("run", str(cfg)) == 2
    err = capsys.readouterr().err
    assert "column(s) price not found; the file has CustomerID, date, amount" in err
    assert "Traceback" not in err
