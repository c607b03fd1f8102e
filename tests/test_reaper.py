"""The reaper (tests/reaper.py): a server a killed test process started does not outlive it.

A middle process plays pytest: it starts a server, registers it, reports it, and is killed with
SIGKILL (no finaliser, no atexit). The reaper inherits the middle process's stdout, so end of
file on that pipe means the reaper has finished: the server must be gone and its folder removed.
"""

from __future__ import annotations

import io
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.connector.sql.postgres import binaries
from tests.reaper import reap, start_time

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="the reaper reads /proc (Linux)")

SERVER = """
import subprocess, sys, tempfile
from pathlib import Path
from tests.reaper import watch
server = subprocess.Popen([sys.executable, "-c", "import signal; signal.pause()"], stdout=subprocess.DEVNULL)
folder = Path(tempfile.mkdtemp(prefix="segsync-reaper-test-"))
watch(server.pid, folder=folder)
print(server.pid, folder, flush=True)
sys.stdin.read()
"""

POSTGRES = """
import sys
from tests.connector.sql.postgres import PostgresServer, binaries
server = PostgresServer(binaries()).start()
server.create_database("kept")
print(server.pid, server.root, flush=True)
sys.stdin.read()
"""


def kill_middle(code: str) -> tuple[int, Path]:
    """Run `code` as the test process, SIGKILL it once it reported (pid, folder); return those
    after the reaper finished."""
    middle = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert middle.stdout is not None
    pid, folder = middle.stdout.readline().split()
    assert start_time(int(pid)) is not None and Path(folder).is_dir()
    middle.send_signal(signal.SIGKILL)
    assert middle.wait() == -signal.SIGKILL
    ready, _, _ = select.select([middle.stdout], [], [], 120)
    assert ready and middle.stdout.read() == "", "the reaper did not finish within 120 s of the kill"
    middle.stdin.close()  # type: ignore[union-attr]
    return int(pid), Path(folder)


def test_a_server_dies_with_the_killed_test_process() -> None:
    pid, folder = kill_middle(SERVER)
    assert start_time(pid) is None
    assert not folder.exists()


@pytest.mark.skipif(binaries() is None and os.environ.get("CI") != "true", reason="PostgreSQL binaries not installed")
def test_the_postgres_fixture_dies_with_the_killed_test_process() -> None:
    pid, root = kill_middle(POSTGRES)
    assert start_time(pid) is None
    assert not root.exists()
    assert not [p for p in Path("/proc").glob("[0-9]*/cmdline") if str(root).encode() in _read(p)]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def test_a_process_that_ignores_its_stop_signal_is_killed(tmp_path: Path) -> None:
    stubborn = subprocess.Popen([sys.executable, "-c", "import signal, sys; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                                 "print(flush=True); signal.pause()"], stdout=subprocess.PIPE)
    assert stubborn.stdout is not None and stubborn.stdout.readline() == b"\n"  # the handler is in place
    folder = tmp_path / "server"
    folder.mkdir()
    reap(io.StringIO(f"pid {stubborn.pid} {start_time(stubborn.pid)} {int(signal.SIGTERM)}\nfolder {folder}\n"),
         grace=0.2)
    assert stubborn.wait() == -signal.SIGKILL
    assert not folder.exists()


def test_a_reused_pid_is_never_signalled() -> None:
    """Registered with another start time (the registered process ended and the kernel reused
    its pid): left alone."""
    other = subprocess.Popen([sys.executable, "-c", "import signal; signal.pause()"])
    try:
        reap(io.StringIO(f"pid {other.pid} {start_time(other.pid) - 1} {int(signal.SIGTERM)}\n"), grace=0.2)  # type: ignore[operator]
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()
