"""The single-instance lock: never two cycles on one state file at once.

An exclusive, non-blocking `flock` on `<state file>.lock`. The kernel releases it when the
process dies, however it dies (kill -9 included), so a crashed run never leaves a stale lock.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from connector.crm.errors import LockedError

#: Exit code of `segsync run` / `daemon` when another process holds the lock (EX_TEMPFAIL).
EXIT_LOCKED = 75


class StateLock:
    def __init__(self, state_path: Path) -> None:
        self.path = Path(f"{state_path}.lock")
        self._fd: int | None = None

    def acquire(self) -> StateLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise LockedError(
                f"another segsync process (pid {holder}) is running on {self.path.with_suffix('')}; "
                "not starting a second cycle"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> StateLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
