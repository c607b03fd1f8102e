"""Servers the tests start die with the test process, however it ends.

A fixture's finaliser stops its server when pytest ends normally; neither a finaliser nor an
atexit hook runs when pytest is killed (SIGKILL, the OOM killer, a CI timeout, SIGTERM with
Python's default handler), and a PostgreSQL cluster (`pg_ctl` daemonises it) or a Spark JVM
then lives on with its temporary folder. The reaper covers that case.

It is one small child process per test process (started on the first `watch`), in a session of
its own so a Ctrl-C sent to the terminal's process group does not reach it, reading a pipe that
only the test process holds. The pipe reaches end of file when the test process is gone, whatever
ended it; the reaper then sends each process still registered its stop signal, SIGKILL after
`GRACE` seconds, and removes the registered folders. A pid is registered with its start time
(/proc/<pid>/stat), so a pid the kernel gave to another process since is never signalled. At a
normal exit the atexit hook closes the pipe and waits for the reaper: by then the finalisers
have stopped everything, so it has nothing left to do.

Standard library only, and runnable as a script (`python -I tests/reaper.py`): that script is
the reaper. Linux only (/proc); elsewhere `watch` does nothing.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import IO

#: Seconds a process has to stop on its signal before the reaper sends SIGKILL.
GRACE = 10.0

_lock = threading.Lock()
_reaper: subprocess.Popen[str] | None = None


def start_time(pid: int) -> int | None:
    """The start time of `pid` in clock ticks since boot, None when it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": the comm may hold spaces
    return None if fields[0] in ("Z", "X") else int(fields[19])


def watch(pid: int | None = None, *, stop: signal.Signals = signal.SIGTERM, folder: Path | None = None) -> None:
    """Stop `pid` with `stop` (then SIGKILL) and remove `folder` once the test process is gone."""
    lines = []
    if pid is not None:
        started = start_time(pid)
        if started is None:
            return
        lines.append(f"pid {pid} {started} {int(stop)}\n")
    if folder is not None:
        lines.append(f"folder {Path(folder).resolve()}\n")
    pipe = _pipe()
    if pipe is None:
        return
    try:
        with _lock:
            pipe.writelines(lines)
            pipe.flush()
    except OSError as exc:  # the reaper was killed: the tests still run, unguarded
        warnings.warn(f"test reaper gone ({exc}): {lines} will not be cleaned up if pytest is killed", stacklevel=2)


def _pipe() -> IO[str] | None:
    global _reaper
    if not Path("/proc/self/stat").exists():
        return None
    with _lock:
        if _reaper is None:
            _reaper = subprocess.Popen([sys.executable, "-I", "-S", __file__], stdin=subprocess.PIPE, text=True,
                                       start_new_session=True)
            atexit.register(_close)
        return _reaper.stdin


def _close() -> None:
    """At a normal exit: end of file for the reaper, and wait until it has checked."""
    if _reaper is not None and _reaper.stdin is not None:
        _reaper.stdin.close()
        _reaper.wait(timeout=GRACE + 30)


# ---------------------------------------------------------------------- the reaper process


def reap(lines: IO[str], grace: float = GRACE) -> None:
    """Read registrations until end of file, then stop the processes and remove the folders."""
    processes: list[tuple[int, int, int]] = []
    folders: list[str] = []
    for line in lines:
        kind, _, rest = line.rstrip("\n").partition(" ")
        if kind == "pid":
            pid, started, stop = (int(v) for v in rest.split())
            processes.append((pid, started, stop))
        elif kind == "folder":
            folders.append(rest)
    alive = _wait([(pid, started) for pid, started, stop in processes if _signal(pid, started, stop)], grace)
    _wait([(pid, started) for pid, started in alive if _signal(pid, started, signal.SIGKILL)], grace)
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def _wait(alive: list[tuple[int, int]], seconds: float) -> list[tuple[int, int]]:
    """Poll until the processes are gone or `seconds` passed; those still running."""
    deadline = time.monotonic() + seconds
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [(pid, started) for pid, started in alive if start_time(pid) == started]
    return alive


def _signal(pid: int, started: int, stop: int) -> bool:
    """Send `stop` to `pid` if it is still the process registered; whether it was."""
    if start_time(pid) != started:
        return False
    try:
        os.kill(pid, stop)
    except ProcessLookupError:
        return False
    return True


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    reap(sys.stdin)
