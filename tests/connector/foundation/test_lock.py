"""Never two cycles at once: a second process on the same state file is refused with exit 75."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from connector.crm.errors import LockedError
from connector.state import EXIT_LOCKED, StateLock

HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from connector.state import StateLock
    with StateLock(Path(sys.argv[1])):
        print("locked", flush=True)
        sys.stdin.read()  # hold the lock until the test closes our stdin
    """
)


def write_config(tmp_path: Path) -> Path:
    cfg = tmp_path / "segsync.yaml"
    cfg.write_text("state:\n  path: state.sqlite\n")
    return cfg


def test_second_process_is_refused_then_admitted_after_release(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "state.sqlite")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        second = subprocess.run([sys.executable, "-m", "connector.cli", "run", str(cfg)], capture_output=True, text=True, timeout=120)
        assert second.returncode == EXIT_LOCKED
        assert f"another segsync process (pid {holder.pid}) is running on {tmp_path / 'state.sqlite'}" in second.stderr
        assert not (tmp_path / "state.sqlite").exists() or "run 1" not in second.stdout
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    third = subprocess.run([sys.executable, "-m", "connector.cli", "run", str(cfg)], capture_output=True, text=True, timeout=120)
    assert third.returncode == 0, third.stderr
    assert "run 1: succeeded" in third.stdout


def test_lock_released_by_a_killed_process(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "s.sqlite")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    with pytest.raises(LockedError):
        StateLock(tmp_path / "s.sqlite").acquire()
    holder.kill()
    holder.wait(timeout=30)
    lock = StateLock(tmp_path / "s.sqlite").acquire()
    lock.release()
